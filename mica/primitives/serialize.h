// The saved form of a primitive's parameters (export_function's files): each primitive's save
// writes its parameters through a ParamWriter; the loader registered under its name reads them
// back through a ParamReader and makes an equal primitive. Both sit side by side in
// primitives/serialize.cpp, one pair per class, so the two orders cannot drift apart.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <typeindex>
#include <vector>

#include "mica/primitives/primitive.h"

namespace mica {

/** Appends little-endian parameters to a byte string. */
class ParamWriter {
 public:
  void u8(uint8_t v) { buf_.push_back(static_cast<char>(v)); }
  void boolean(bool v) { u8(v ? 1 : 0); }
  void u32(uint32_t v) { raw(&v, 4); }
  void i32(int32_t v) { raw(&v, 4); }
  void u64(uint64_t v) { raw(&v, 8); }
  void i64(int64_t v) { raw(&v, 8); }
  void f32(float v) { raw(&v, 4); }
  void f64(double v) { raw(&v, 8); }
  void dtype(Dtype d) { u8(static_cast<uint8_t>(d.val)); }
  void str(const std::string& s) {
    u64(s.size());
    buf_.append(s);
  }
  /** A length-prefixed list of int32 (axes, shapes). */
  void ints(const std::vector<int32_t>& v) {
    u64(v.size());
    for (auto x : v) i32(x);
  }
  void i64s(const std::vector<int64_t>& v) {
    u64(v.size());
    for (auto x : v) i64(x);
  }
  /** An enumerator (stored as one byte). */
  template <class E>
  void enumerator(E e) {
    u8(static_cast<uint8_t>(e));
  }
  void raw(const void* p, size_t n) { buf_.append(static_cast<const char*>(p), n); }
  const std::string& bytes() const { return buf_; }

 private:
  std::string buf_;
};

/** Reads what a ParamWriter wrote, checking every read against the bytes left and every value
 *  against its range; a failure throws std::runtime_error "[import_function] expected …, got …"
 *  naming the primitive. */
class ParamReader {
 public:
  ParamReader(const uint8_t* data, size_t size, std::string what) : p_(data), n_(size), what_(std::move(what)) {}
  uint8_t u8();
  bool boolean();
  uint32_t u32();
  int32_t i32();
  uint64_t u64();
  int64_t i64();
  float f32();
  double f64();
  Dtype dtype();
  std::string str();
  std::vector<int32_t> ints();
  std::vector<int64_t> i64s();
  /** An enumerator in [0, count). */
  template <class E>
  E enumerator(int count) {
    uint8_t v = u8();
    if (v >= count) bad("an enumerator below " + std::to_string(count), std::to_string(v));
    return static_cast<E>(v);
  }
  /** Throws unless every byte was read. */
  void finish() const;
  [[noreturn]] void bad(const std::string& expected, const std::string& got) const;

 private:
  const uint8_t* take(size_t n);
  const uint8_t* p_;
  size_t n_, pos_ = 0;
  std::string what_;
};

/** Makes a primitive on stream `s` from its saved parameters. */
using PrimitiveLoader = std::shared_ptr<Primitive> (*)(ParamReader& r, Stream s);

namespace detail {
/** The loader registered for `name` and the class it makes; loader null when there is none. */
struct LoaderEntry {
  PrimitiveLoader loader = nullptr;
  std::type_index type = typeid(void);
};
LoaderEntry primitive_loader(const std::string& name);
/** Registers the loader of a primitive class outside mica's registry (a user's primitive that
 *  defines save), under the name its name() returns. */
void register_primitive_loader(const std::string& name, std::type_index type, PrimitiveLoader loader);
/** Names of the registry's primitives that have no saved form, with the reason (the coverage
 *  test checks that every other registered primitive has a loader). */
const std::vector<std::pair<std::string, std::string>>& unsaved_primitives();
}  // namespace detail

}  // namespace mica
