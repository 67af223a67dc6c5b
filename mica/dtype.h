// Data types, MLX's promotion rules and type categories.
#pragma once
#include <cstdint>
#include <ostream>
#include <string>

#include "mica/types/half_types.h"

namespace mica {

/** A data type: its value tag and its size in bytes. */
struct Dtype {
  enum class Val : uint8_t {
    bool_, uint8, uint16, uint32, uint64, int8, int16, int32, int64,
    float16, float32, float64, bfloat16, complex64,
  };
  /** NumPy-style kind letter; bfloat16 is 'V' as in MLX. */
  enum class Kind { b, u, i, f, c, V };
  static constexpr int num_types = 14;

  Val val;
  uint8_t size;
  constexpr Dtype(Val v, uint8_t s) : val(v), size(s) {}
  constexpr operator Val() const { return val; }
  constexpr bool operator==(const Dtype& o) const { return val == o.val; }
  constexpr bool operator!=(const Dtype& o) const { return val != o.val; }
};

inline constexpr Dtype bool_{Dtype::Val::bool_, 1};
inline constexpr Dtype uint8{Dtype::Val::uint8, 1};
inline constexpr Dtype uint16{Dtype::Val::uint16, 2};
inline constexpr Dtype uint32{Dtype::Val::uint32, 4};
inline constexpr Dtype uint64{Dtype::Val::uint64, 8};
inline constexpr Dtype int8{Dtype::Val::int8, 1};
inline constexpr Dtype int16{Dtype::Val::int16, 2};
inline constexpr Dtype int32{Dtype::Val::int32, 4};
inline constexpr Dtype int64{Dtype::Val::int64, 8};
inline constexpr Dtype float16{Dtype::Val::float16, 2};
inline constexpr Dtype float32{Dtype::Val::float32, 4};
inline constexpr Dtype float64{Dtype::Val::float64, 8};
inline constexpr Dtype bfloat16{Dtype::Val::bfloat16, 2};
inline constexpr Dtype complex64{Dtype::Val::complex64, 8};

/** All dtypes in tag order. */
inline constexpr Dtype all_dtypes[] = {bool_, uint8, uint16, uint32, uint64, int8, int16,
                                       int32, int64, float16, float32, float64, bfloat16,
                                       complex64};

/** Abstract categories for issubdtype, as MLX's hierarchy. */
enum class Category {
  complexfloating, floating, inexact, signedinteger, unsignedinteger, integer, number, generic,
};
inline constexpr Category complexfloating = Category::complexfloating;
inline constexpr Category floating = Category::floating;
inline constexpr Category inexact = Category::inexact;
inline constexpr Category signedinteger = Category::signedinteger;
inline constexpr Category unsignedinteger = Category::unsignedinteger;
inline constexpr Category integer = Category::integer;
inline constexpr Category number = Category::number;
inline constexpr Category generic = Category::generic;

/** The smallest dtype both a and b convert to without loss, as MLX's table. */
Dtype promote_types(const Dtype& a, const Dtype& b);
/** The kind letter of a dtype. */
Dtype::Kind kind(const Dtype& d);
/** True if a is b or lies under category b. */
bool issubdtype(const Dtype& a, const Dtype& b);
bool issubdtype(const Dtype& a, const Category& b);
bool issubdtype(const Category& a, const Dtype& b);
bool issubdtype(const Category& a, const Category& b);
/** Size of a dtype in bytes. */
inline constexpr uint8_t size_of(const Dtype& d) { return d.size; }
/** True for float16/32/64, bfloat16 and complex64. */
bool is_inexact(const Dtype& d);
bool is_floating(const Dtype& d);
bool is_integral(const Dtype& d);  // integers and bool
/** The name MLX prints ("float32", "bool", ...). */
std::string dtype_to_string(const Dtype& d);
std::ostream& operator<<(std::ostream& os, const Dtype& d);
std::ostream& operator<<(std::ostream& os, const Dtype::Val& d);

/** Limits of a floating dtype: min (lowest), max, eps. */
struct finfo {
  explicit finfo(Dtype dtype);
  Dtype dtype;
  double min;
  double max;
  double eps;
};
/** Limits of an integer dtype. */
struct iinfo {
  explicit iinfo(Dtype dtype);
  Dtype dtype;
  int64_t min;
  uint64_t max;
};

template <typename T>
struct TypeToDtype;
#define MICA_TYPE_TO_DTYPE(T, D) \
  template <>                    \
  struct TypeToDtype<T> {        \
    operator Dtype() const { return D; } \
  };
MICA_TYPE_TO_DTYPE(bool, bool_)
MICA_TYPE_TO_DTYPE(uint8_t, uint8)
MICA_TYPE_TO_DTYPE(uint16_t, uint16)
MICA_TYPE_TO_DTYPE(uint32_t, uint32)
MICA_TYPE_TO_DTYPE(uint64_t, uint64)
MICA_TYPE_TO_DTYPE(int8_t, int8)
MICA_TYPE_TO_DTYPE(int16_t, int16)
MICA_TYPE_TO_DTYPE(int32_t, int32)
MICA_TYPE_TO_DTYPE(int64_t, int64)
MICA_TYPE_TO_DTYPE(float16_t, float16)
MICA_TYPE_TO_DTYPE(float, float32)
MICA_TYPE_TO_DTYPE(double, float64)
MICA_TYPE_TO_DTYPE(bfloat16_t, bfloat16)
MICA_TYPE_TO_DTYPE(complex64_t, complex64)
#undef MICA_TYPE_TO_DTYPE
// long / unsigned long long may be distinct from (u)int64_t on some platforms.
template <typename T>
  requires(std::is_integral_v<T> && !std::is_same_v<T, bool>)
struct TypeToDtype<T> {
  operator Dtype() const {
    return std::is_signed_v<T> ? (sizeof(T) == 8 ? int64 : sizeof(T) == 4 ? int32 : sizeof(T) == 2 ? int16 : int8)
                               : (sizeof(T) == 8 ? uint64 : sizeof(T) == 4 ? uint32 : sizeof(T) == 2 ? uint16 : uint8);
  }
};

}  // namespace mica
