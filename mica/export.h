// Exporting functions to files and importing them back (MLX's export_function, import_function
// and exporter). Exporting traces the function on placeholders of the example inputs' shapes
// and dtypes, as compile does, and writes the graph: each node's primitive (its registry name and
// parameters), its output shapes and dtypes, and the constants (arrays the function captured,
// and whatever depends on no input, computed once) as raw data. An imported function replays the
// graph of the trace its inputs match; its results are ordinary lazy arrays, so grad, vjp, jvp,
// vmap and compile work on it.
//
// - Inputs: positional arrays (Args), named arrays (Kwargs), or both. A trace matches inputs of
//   the same count, names, dtypes and shapes; with `shapeless`, of the same numbers of dimensions
//   (every node must then infer its output shape from its inputs', as shapeless compile).
// - Random ops without an explicit key draw their key from the global sequence once, while the
//   function is exported: the key is a constant of the file, so the imported function gives the
//   same numbers on every call (pass a key as an input for fresh numbers).
// - Compiled functions called by the function are exported as their graph (fused nodes are
//   written as their steps). custom_function/checkpoint nodes and distributed collectives cannot
//   be exported (their rules are C++ functions; a collective's group lives in one process).
// - The file is mica's own: a versioned header with a checksum, then the constants and traces. It
//   is written to "<path>.tmp.<pid>.<random>" and renamed over `path`, so a failed export leaves
//   any earlier file unchanged. A damaged, truncated or other-version file throws
//   "[import_function] expected …, got …". A file describes a computation to run: import only
//   files from sources you trust, as with any program.
// - Nodes run on the default stream of the device they were exported on, or of the CPU when that
//   device is absent where the file is imported.
#pragma once
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "mica/array.h"

namespace mica {

/** Positional inputs of an exported function. */
using Args = std::vector<array>;
/** Named inputs of an exported function (sorted by name). */
using Kwargs = std::map<std::string, array>;

class FunctionExporter;
class ImportedFunction;
namespace detail {
/** An exporter of `fun` taking positional (form 0), named (1) or both kinds of inputs (2). */
FunctionExporter make_exporter(const std::string& path, std::function<std::vector<array>(const Args&, const Kwargs&)> fun,
                               bool shapeless, int form);
struct ExporterState;
struct ImportedState;
/** import_function over bytes in memory (`name` names them in errors); the fuzz target's entry. */
ImportedFunction import_function_bytes(const uint8_t* data, size_t size, const std::string& name);
/** The checksum an export file's trailer holds over its preceding `size` bytes. */
uint64_t export_checksum(const uint8_t* data, size_t size);
}  // namespace detail

/** Writes several traces of one function (one per set of input shapes) to one file: each call
 *  traces the function on inputs like the given ones and rewrites the file with every trace so
 *  far; close() ends it (later calls throw). Inputs whose signature an earlier trace already
 *  covers add nothing. Made by exporter(). */
class FunctionExporter {
 public:
  FunctionExporter(FunctionExporter&&) noexcept;
  FunctionExporter& operator=(FunctionExporter&&) noexcept;
  FunctionExporter(const FunctionExporter&) = delete;
  FunctionExporter& operator=(const FunctionExporter&) = delete;
  ~FunctionExporter();

  /** Adds a trace for these positional inputs. */
  void operator()(std::initializer_list<array> args);
  void operator()(const Args& args);
  /** Adds a trace for these named inputs. */
  void operator()(const Kwargs& kwargs);
  /** Adds a trace for these positional and named inputs. */
  void operator()(const Args& args, const Kwargs& kwargs);
  /** Finishes the file; further traces throw. Called by the destructor. */
  void close();

 private:
  friend FunctionExporter detail::make_exporter(const std::string&,
                                                std::function<std::vector<array>(const Args&, const Kwargs&)>, bool, int);
  explicit FunctionExporter(std::unique_ptr<detail::ExporterState> s);
  std::unique_ptr<detail::ExporterState> state_;
};

/** A function read back by import_function: call it with inputs matching one of its traces
 *  (it throws otherwise); it returns the function's outputs, always as a vector. Copies share
 *  the loaded graph. */
class ImportedFunction {
 public:
  std::vector<array> operator()(std::initializer_list<array> args) const;
  std::vector<array> operator()(const Args& args) const;
  std::vector<array> operator()(const Kwargs& kwargs) const;
  std::vector<array> operator()(const Args& args, const Kwargs& kwargs) const;
  /** Number of traces in the file. */
  int num_traces() const;
  /** Whether the file was exported shapeless. */
  bool shapeless() const;

 private:
  friend ImportedFunction import_function(const std::string&);
  friend ImportedFunction detail::import_function_bytes(const uint8_t*, size_t, const std::string&);
  explicit ImportedFunction(std::shared_ptr<const detail::ImportedState> s) : state_(std::move(s)) {}
  std::shared_ptr<const detail::ImportedState> state_;
};

/** An exporter writing traces of `fun` to `path` (see FunctionExporter). */
FunctionExporter exporter(const std::string& path, const std::function<std::vector<array>(const Args&)>& fun,
                          bool shapeless = false);
FunctionExporter exporter(const std::string& path, const std::function<std::vector<array>(const Kwargs&)>& fun,
                          bool shapeless = false);
FunctionExporter exporter(const std::string& path,
                          const std::function<std::vector<array>(const Args&, const Kwargs&)>& fun,
                          bool shapeless = false);

/** Exports `fun` traced on inputs like `args` (their shapes and dtypes; the values do not
 *  matter) to `path`. */
void export_function(const std::string& path, const std::function<std::vector<array>(const Args&)>& fun,
                     const Args& args, bool shapeless = false);
/** Exports `fun` of named inputs traced on inputs like `kwargs`. */
void export_function(const std::string& path, const std::function<std::vector<array>(const Kwargs&)>& fun,
                     const Kwargs& kwargs, bool shapeless = false);
/** Exports `fun` of positional and named inputs. */
void export_function(const std::string& path,
                     const std::function<std::vector<array>(const Args&, const Kwargs&)>& fun, const Args& args,
                     const Kwargs& kwargs, bool shapeless = false);

/** Reads a function exported by export_function or exporter. */
ImportedFunction import_function(const std::string& path);

}  // namespace mica
