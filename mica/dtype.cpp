#include "mica/dtype.h"

#include <limits>
#include <stdexcept>

namespace mica {

namespace {
using V = Dtype::Val;
// Row a, column b: MLX's promotion table (checked against mlx 0.32).
constexpr V b_ = V::bool_, u8 = V::uint8, u16 = V::uint16, u32 = V::uint32, u64 = V::uint64,
            i8 = V::int8, i16 = V::int16, i32 = V::int32, i64 = V::int64, f16 = V::float16,
            f32 = V::float32, f64 = V::float64, bf = V::bfloat16, c64 = V::complex64;
constexpr V table[14][14] = {
    {b_, u8, u16, u32, u64, i8, i16, i32, i64, f16, f32, f64, bf, c64},
    {u8, u8, u16, u32, u64, i16, i16, i32, i64, f16, f32, f64, bf, c64},
    {u16, u16, u16, u32, u64, i32, i32, i32, i64, f16, f32, f64, bf, c64},
    {u32, u32, u32, u32, u64, i64, i64, i64, i64, f16, f32, f64, bf, c64},
    {u64, u64, u64, u64, u64, f32, f32, f32, f32, f16, f32, f64, bf, c64},
    {i8, i16, i32, i64, f32, i8, i16, i32, i64, f16, f32, f64, bf, c64},
    {i16, i16, i32, i64, f32, i16, i16, i32, i64, f16, f32, f64, bf, c64},
    {i32, i32, i32, i64, f32, i32, i32, i32, i64, f16, f32, f64, bf, c64},
    {i64, i64, i64, i64, f32, i64, i64, i64, i64, f16, f32, f64, bf, c64},
    {f16, f16, f16, f16, f16, f16, f16, f16, f16, f16, f32, f64, f32, c64},
    {f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f64, f32, c64},
    {f64, f64, f64, f64, f64, f64, f64, f64, f64, f64, f64, f64, f64, c64},
    {bf, bf, bf, bf, bf, bf, bf, bf, bf, f32, f32, f64, bf, c64},
    {c64, c64, c64, c64, c64, c64, c64, c64, c64, c64, c64, c64, c64, c64},
};
Dtype from_val(V v) { return all_dtypes[static_cast<int>(v)]; }

Category category_of(const Dtype& d) {
  switch (kind(d)) {
    case Dtype::Kind::b: return Category::generic;
    case Dtype::Kind::u: return Category::unsignedinteger;
    case Dtype::Kind::i: return Category::signedinteger;
    case Dtype::Kind::c: return Category::complexfloating;
    default: return Category::floating;
  }
}
Category parent(Category c) {
  switch (c) {
    case Category::complexfloating:
    case Category::floating: return Category::inexact;
    case Category::signedinteger:
    case Category::unsignedinteger: return Category::integer;
    case Category::inexact:
    case Category::integer: return Category::number;
    default: return Category::generic;
  }
}
}  // namespace

Dtype promote_types(const Dtype& a, const Dtype& b) {
  return from_val(table[static_cast<int>(a.val)][static_cast<int>(b.val)]);
}

Dtype::Kind kind(const Dtype& d) {
  switch (d.val) {
    case V::bool_: return Dtype::Kind::b;
    case V::uint8: case V::uint16: case V::uint32: case V::uint64: return Dtype::Kind::u;
    case V::int8: case V::int16: case V::int32: case V::int64: return Dtype::Kind::i;
    case V::float16: case V::float32: case V::float64: return Dtype::Kind::f;
    case V::bfloat16: return Dtype::Kind::V;
    case V::complex64: return Dtype::Kind::c;
  }
  return Dtype::Kind::V;
}

bool is_floating(const Dtype& d) { auto k = kind(d); return k == Dtype::Kind::f || k == Dtype::Kind::V; }
bool is_inexact(const Dtype& d) { return is_floating(d) || d == complex64; }
bool is_integral(const Dtype& d) { return !is_inexact(d); }

bool issubdtype(const Dtype& a, const Dtype& b) { return a == b; }
bool issubdtype(const Category& a, const Dtype&) { (void)a; return false; }
bool issubdtype(const Category& a, const Category& b) {
  if (a == b) return true;
  // bool sits directly under generic, like NumPy's bool_.
  for (Category c = a; c != Category::generic;) {
    c = parent(c);
    if (c == b) return true;
  }
  return false;
}
bool issubdtype(const Dtype& a, const Category& b) {
  Category c = category_of(a);
  if (a == bool_) return b == Category::generic;
  return issubdtype(c, b);
}

std::string dtype_to_string(const Dtype& d) {
  static const char* names[] = {"bool", "uint8", "uint16", "uint32", "uint64", "int8", "int16",
                                "int32", "int64", "float16", "float32", "float64", "bfloat16",
                                "complex64"};
  return names[static_cast<int>(d.val)];
}
std::ostream& operator<<(std::ostream& os, const Dtype& d) { return os << dtype_to_string(d); }
std::ostream& operator<<(std::ostream& os, const Dtype::Val& d) { return os << from_val(d); }

finfo::finfo(Dtype d) : dtype(d) {
  switch (d.val) {
    case V::float16: max = 65504.0; eps = 0.0009765625; break;
    case V::bfloat16: max = 3.3895313892515355e38; eps = 0.0078125; break;
    case V::float32:
    case V::complex64:
      max = std::numeric_limits<float>::max(); eps = std::numeric_limits<float>::epsilon();
      if (d == complex64) dtype = float32;
      break;
    case V::float64: max = std::numeric_limits<double>::max(); eps = std::numeric_limits<double>::epsilon(); break;
    default:
      throw std::invalid_argument("[finfo] expected a floating dtype, got " + dtype_to_string(d) + ".");
  }
  min = -max;
}

iinfo::iinfo(Dtype d) : dtype(d) {
  switch (d.val) {
    case V::uint8: min = 0; max = UINT8_MAX; break;
    case V::uint16: min = 0; max = UINT16_MAX; break;
    case V::uint32: min = 0; max = UINT32_MAX; break;
    case V::uint64: min = 0; max = UINT64_MAX; break;
    case V::int8: min = INT8_MIN; max = INT8_MAX; break;
    case V::int16: min = INT16_MIN; max = INT16_MAX; break;
    case V::int32: min = INT32_MIN; max = INT32_MAX; break;
    case V::int64: min = INT64_MIN; max = INT64_MAX; break;
    default:
      throw std::invalid_argument("[iinfo] expected an integer dtype, got " + dtype_to_string(d) + ".");
  }
}

}  // namespace mica
