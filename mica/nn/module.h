// nn::Module: an insertion-ordered state of arrays, sub-modules, lists and dicts, and the tree
// operations on it (parameters, update, freeze, ...), as MLX's mlx.nn.Module. The exact
// behaviour is specified in shared/spec/module.md §3-§11.
//
// Writing a layer: derive from Module and declare the parameters and sub-modules as typed members
// (mica/nn/member.h), which store them in the state and read them back on every use:
//
//   struct MLP : nn::Module {
//     nn::Child<nn::Linear> fc1, fc2;
//     MLP(int in, int hidden, int out) : fc1(this, "fc1", in, hidden), fc2(this, "fc2", hidden, out) {}
//     array operator()(const array& x) override { return fc2(maximum(fc1(x), array(0.0f))); }
//   };
//
// The string forms (set, param, call) do the same for keys chosen at run time. Never keep an
// array or a module pointer in a plain C++ member: update(), update_modules() and
// value_and_grad() replace what the state holds, and a member copy would go stale (silently
// zero gradients). Scalar configuration (dims, eps, flags) does belong in members.
#pragma once
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mica/array.h"
#include "mica/dtype.h"
#include "mica/tree.h"

namespace mica::nn {

class Module;

namespace detail {
/** Wherever `model` still holds an array of `written` (a tree it was updated with), puts back
 *  the array at the same position of `originals` (same structure as `written`). */
void restore_parameters(Module& model, const Tree& written, const Tree& originals);
}  // namespace detail

/** Options of Module::freeze / Module::unfreeze. */
struct FreezeOptions {
  bool recurse = true;                 // every module in the walk, or only this one
  std::vector<std::string> keys = {};  // local names; empty means every parameter (freeze) or all (unfreeze)
  bool strict = false;                 // with keys: each must name a member (KeyError otherwise)
};

class Module {
 public:
  /** Selects (owner, local key, value) entries during a traversal. */
  using Filter = std::function<bool(const Module& owner, const std::string& key, const Tree& value)>;
  /** Maps a leaf during a traversal. */
  using MapFn = std::function<Tree(const Tree&)>;

  /** An empty module in training mode with nothing frozen. */
  Module() = default;
  /** Releases the state (sub-modules shared elsewhere live on). */
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  /** The class name (default: the C++ class name without namespaces; the base gives "Module"). */
  virtual std::string name() const;
  /** The text between the parentheses of repr() ("" by default). */
  virtual std::string extra_repr() const { return ""; }
  /** Runs the module on one array; the base throws std::invalid_argument. */
  virtual array operator()(const array& x);

  // -- State -----------------------------------------------------------------------------
  /** The raw state, a live read-only view in insertion order. */
  const Tree::Dict& state() const { return state_; }
  /** True if the state has `key`. */
  bool contains(std::string_view key) const { return state_.contains(key); }
  /** The state entry `key`; throws KeyError `<Name> has no member "<k>".` */
  const Tree& operator[](std::string_view key) const;
  /** The array under `key`; throws KeyError if missing, std::invalid_argument if not an array. */
  array param(std::string_view key) const;
  /** The sub-module under `key` as M; throws KeyError if missing, std::invalid_argument if it is
   *  not an M. */
  template <class M = Module>
  std::shared_ptr<M> child(std::string_view key) const {
    const Tree& t = (*this)[key];
    std::shared_ptr<M> m = t.is_module() ? std::dynamic_pointer_cast<M>(t.module_ptr()) : nullptr;
    if (!m) wrong_type(key);
    return m;
  }
  /** Calls the sub-module under `key` on x. */
  array call(std::string_view key, const array& x) const;
  /** Sets `key` (an existing key keeps its position); setting none removes the key. */
  void set(const std::string& key, Tree value);
  /** Removes `key`; throws KeyError if missing. */
  void erase(std::string_view key);

  // -- Traversal ---------------------------------------------------------------------------
  /** A fresh dict of the entries `filter` accepts, unwrapped recursively (spec §4 P1-P2). */
  Tree filter_and_map(const Filter& filter, const MapFn& map = {}, const Filter& is_leaf = {}) const;
  /** Arrays, lists, dicts and modules whose key does not start with '_'. */
  static bool valid_parameter_filter(const Module& owner, const std::string& key, const Tree& value);
  /** valid_parameter_filter, and the key is not frozen in its owner. */
  static bool trainable_parameter_filter(const Module& owner, const std::string& key, const Tree& value);
  /** Lists, dicts and modules. */
  static bool valid_child_filter(const Module& owner, const std::string& key, const Tree& value);
  /** Every parameter (frozen ones included). */
  Tree parameters() const;
  /** compile's captured state (mica/compile.h): every array of the state, frozen and `_` entries
   *  included, and the same tree written back with update. */
  friend Tree compile_state_get(Module& m) {
    return m.filter_and_map([](const Module&, const std::string&, const Tree&) { return true; });
  }
  friend void compile_state_set(Module& m, const Tree& t) { m.update(t, true); }
  /** What a traced step depends on besides the arrays: training flags and trainable keys. */
  friend std::string compile_state_signature(Module& m);
  /** The parameters that are not frozen. */
  Tree trainable_parameters() const;
  /** The top-level containers and modules, with modules as leaves. */
  Tree children() const;
  /** The descendant modules that hold no module themselves, as leaves of the container tree. */
  Tree leaf_modules() const;

  // -- Walking modules -----------------------------------------------------------------------
  /** Calls fn(path, module) on this module and every descendant, pre-order depth-first with
   *  siblings in reverse flatten order. */
  Module& apply_to_modules(const std::function<void(const std::string& path, Module& m)>& fn);
  /** This module and every descendant, in apply_to_modules order (non-owning). */
  std::vector<Module*> modules() const;
  /** (path, module) pairs in apply_to_modules order; self has path "". */
  std::vector<std::pair<std::string, Module*>> named_modules() const;
  /** Sets training mode on every module (calls set_training_mode). */
  Module& train(bool mode = true);
  /** train(false). */
  Module& eval() { return train(false); }
  /** True in training mode. */
  bool training() const { return training_; }

  // -- Writing -------------------------------------------------------------------------------
  /** Writes the arrays of `params` into the state in place (spec §6); strict mode validates
   *  everything before writing anything. */
  Module& update(const Tree& params, bool strict = true);
  /** Replaces sub-modules with the modules of `modules` (spec §7). */
  Module& update_modules(const Tree& modules, bool strict = true);
  /** Marks parameters as frozen (excluded from trainable_parameters). */
  Module& freeze(const FreezeOptions& options = {});
  /** Removes frozen marks. */
  Module& unfreeze(const FreezeOptions& options = {});
  /** update(filter_and_map(filter, map on arrays)): maps every selected array. */
  Module& apply(const std::function<array(const array&)>& map, const Filter& filter = valid_parameter_filter);
  /** Casts the arrays whose dtype satisfies `predicate` (default: floating types; empty: all). */
  Module& set_dtype(Dtype dtype, const std::function<bool(Dtype)>& predicate = is_floating);

  // -- Weights I/O ---------------------------------------------------------------------------
  /** Saves parameters() as .safetensors or .npz (chosen by the extension). */
  void save_weights(const std::string& path) const;
  /** Loads a .safetensors or .npz file into the parameters (see the vector overload). */
  Module& load_weights(const std::string& path, bool strict = true);
  /** Loads (path, array) pairs: strict checks extra, missing and misshapen keys (dtype is not
   *  checked) before anything is written; non-strict loads what fits. */
  Module& load_weights(const std::vector<std::pair<std::string, array>>& weights, bool strict = true);

  // -- Printing ------------------------------------------------------------------------------
  /** `Name(extra_repr` then each child as `(path): repr`, indented, then `)`. */
  std::string repr() const;

 protected:
  /** This module's own freeze step: no keys freeze its own array paths, else the keys verbatim. */
  virtual void freeze_self(const std::vector<std::string>& keys);
  /** This module's own unfreeze step: no keys clear the frozen set, else remove the keys. */
  virtual void unfreeze_self(const std::vector<std::string>& keys);
  /** Sets this module's training flag (override to do more). */
  virtual void set_training_mode(bool mode) { training_ = mode; }
  /** The frozen local keys of this module. */
  const std::vector<std::string>& frozen_keys() const { return frozen_; }

 private:
  friend struct ModuleAccess;
  friend void detail::restore_parameters(Module&, const Tree&, const Tree&);
  [[noreturn]] void wrong_type(std::string_view key) const;
  void freeze_walk(const FreezeOptions& options, bool freeze);
  bool has_local_key(const std::string& key) const;

  Tree::Dict state_;
  std::vector<std::string> frozen_;
  bool training_ = true;
};

/** Prints m.repr(). */
std::ostream& operator<<(std::ostream& os, const Module& m);

}  // namespace mica::nn
