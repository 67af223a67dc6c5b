// CPU kernels of the binary family. a, b: any layout, broadcast to out's shape; out: the layout
// binary_apply chooses (an input's contiguous layout, as MLX's, else row-major), or a's/b's
// buffer when donated.
#include "mica/backend/cpu/binary.h"

#include <cmath>
#include <stdexcept>

#include "mica/primitives/binary.h"
#include "mica/types/cast.h"
#include "mica/types/wrapping.h"

namespace mica {

namespace cpu {
Strides broadcast_strides(const array& a, const Shape& out_shape) {
  Strides st(out_shape.size(), 0);
  size_t off = out_shape.size() - a.ndim();
  for (size_t d = 0; d < a.ndim(); ++d) st[off + d] = a.shape()[d] == 1 ? 0 : a.strides()[d];
  return st;
}
}  // namespace cpu

namespace {
using cpu::binary_apply;
using cpu::lt;
using cpu::MaxFn;
using cpu::MinFn;

[[noreturn]] void bad_type(const char* op, Dtype d) {
  throw std::runtime_error(std::string("[") + op + "] kernel got unsupported dtype " + dtype_to_string(d) + ".");
}

// Computes in T (float for half types); the output has the inputs' dtype.
template <typename Op>
void same_type(const char* name, const std::vector<array>& in, array& out, Op op) {
  dispatch_dtype(in[0].dtype(), [&](auto t) {
    using T = typename decltype(t)::type;
    if constexpr (is_half_v<T>) {
      binary_apply<T, T, T>(in[0], in[1], out, [&](T x, T y) { return T(op(static_cast<float>(x), static_cast<float>(y))); });
    } else if constexpr (std::is_invocable_v<Op, T, T>) {
      binary_apply<T, T, T>(in[0], in[1], out, [&](T x, T y) { return static_cast<T>(op(x, y)); });
    } else {
      bad_type(name, in[0].dtype());
    }
  });
}

// Comparisons: inputs of one dtype, bool output.
template <typename Op>
void compare(const std::vector<array>& in, array& out, Op op) {
  dispatch_dtype(in[0].dtype(), [&](auto t) {
    using T = typename decltype(t)::type;
    if constexpr (is_half_v<T>) {
      binary_apply<T, T, bool>(in[0], in[1], out, [&](T x, T y) { return op(static_cast<float>(x), static_cast<float>(y)); });
    } else {
      binary_apply<T, T, bool>(in[0], in[1], out, [&](T x, T y) { return op(x, y); });
    }
  });
}

template <typename T>
constexpr bool is_negative(T v) {
  if constexpr (std::is_signed_v<T>) return v < 0;
  else return false;
}

// Arithmetic that excludes bool (the op layer never sends bool here, but templates see it).
template <typename T>
constexpr bool is_num = !std::is_same_v<T, bool>;

struct AddFn {
  template <typename T> requires is_num<T> T operator()(T x, T y) const { return wrapping_add(x, y); }
  bool operator()(bool x, bool y) const { return x || y; }
};
struct SubFn {
  template <typename T> requires is_num<T> T operator()(T x, T y) const { return wrapping_sub(x, y); }
};
struct MulFn {
  template <typename T> requires is_num<T> T operator()(T x, T y) const { return wrapping_mul(x, y); }
  bool operator()(bool x, bool y) const { return x && y; }
};
// Integer division floors, as Python's //; float division is true division.
struct DivFn {
  template <typename T> requires is_num<T> T operator()(T x, T y) const {
    if constexpr (std::is_integral_v<T>) {
      if (y == 0) return 0;
      if constexpr (std::is_signed_v<T>) {
        if (y == T(-1)) return wrapping_neg(x);  // the lowest value / -1 traps in hardware
      }
      T q = x / y;
      if constexpr (std::is_signed_v<T>) {
        if ((x % y != 0) && ((x < 0) != (y < 0))) --q;
      }
      return q;
    } else {
      return x / y;
    }
  }
};
struct FloorDivFn {
  template <typename T> requires(is_num<T> && !is_complex_v<T>) T operator()(T x, T y) const {
    if constexpr (std::is_integral_v<T>) return DivFn{}(x, y);
    else return std::floor(x / y);
  }
};
struct RemFn {
  template <typename T> requires(is_num<T> && !is_complex_v<T>) T operator()(T x, T y) const {
    if constexpr (std::is_integral_v<T>) {
      if (y == 0) return 0;
      if constexpr (std::is_signed_v<T>) {
        if (y == T(-1)) return 0;
      }
      T r = x % y;
      if constexpr (std::is_signed_v<T>) {
        if (r != 0 && ((r < 0) != (y < 0))) r += y;
      }
      return r;
    } else {
      T r = std::fmod(x, y);
      if (r != 0 && ((r < 0) != (y < 0))) r += y;
      return r;
    }
  }
};
struct PowFn {
  template <typename T> requires is_num<T> T operator()(T x, T y) const {
    if constexpr (std::is_integral_v<T>) {
      // Integer power by squaring; negative exponents give 0 except for bases of +-1.
      if (y < 0) return x == 1 ? 1 : (x == T(-1) ? ((y & 1) ? T(-1) : T(1)) : 0);
      T r = 1, b = x;
      for (auto e = y; e > 0; e >>= 1) {
        if (e & 1) r = wrapping_mul(r, b);
        b = wrapping_mul(b, b);
      }
      return r;
    } else {
      return std::pow(x, y);
    }
  }
};
struct Atan2Fn {
  template <typename T> requires std::is_floating_point_v<T> T operator()(T x, T y) const { return std::atan2(x, y); }
};
struct LogAddExpFn {
  template <typename T> requires std::is_floating_point_v<T> T operator()(T x, T y) const {
    if (std::isnan(x) || std::isnan(y)) return NAN;
    T m = x > y ? x : y;
    if (std::isinf(m)) return m;
    return m + std::log1p(std::exp(-std::fabs(x - y)));
  }
};
}  // namespace

void Add::eval_cpu(const std::vector<array>& in, array& out) { same_type("add", in, out, AddFn{}); }
void Subtract::eval_cpu(const std::vector<array>& in, array& out) { same_type("subtract", in, out, SubFn{}); }
void Multiply::eval_cpu(const std::vector<array>& in, array& out) { same_type("multiply", in, out, MulFn{}); }
void Divide::eval_cpu(const std::vector<array>& in, array& out) { same_type("divide", in, out, DivFn{}); }
void Remainder::eval_cpu(const std::vector<array>& in, array& out) { same_type("remainder", in, out, RemFn{}); }
void Power::eval_cpu(const std::vector<array>& in, array& out) { same_type("power", in, out, PowFn{}); }
void Maximum::eval_cpu(const std::vector<array>& in, array& out) { same_type("maximum", in, out, MaxFn{}); }
void Minimum::eval_cpu(const std::vector<array>& in, array& out) { same_type("minimum", in, out, MinFn{}); }
void ArcTan2::eval_cpu(const std::vector<array>& in, array& out) { same_type("arctan2", in, out, Atan2Fn{}); }
void LogAddExp::eval_cpu(const std::vector<array>& in, array& out) { same_type("logaddexp", in, out, LogAddExpFn{}); }

void Equal::eval_cpu(const std::vector<array>& in, array& out) {
  if (equal_nan_) {
    compare(in, out, [](auto x, auto y) {
      if constexpr (std::is_floating_point_v<decltype(x)>) return x == y || (std::isnan(x) && std::isnan(y));
      else return x == y;
    });
  } else {
    compare(in, out, [](auto x, auto y) { return x == y; });
  }
}
void NotEqual::eval_cpu(const std::vector<array>& in, array& out) { compare(in, out, [](auto x, auto y) { return x != y; }); }
void Greater::eval_cpu(const std::vector<array>& in, array& out) { compare(in, out, [](auto x, auto y) { return lt(y, x); }); }
void GreaterEqual::eval_cpu(const std::vector<array>& in, array& out) {
  compare(in, out, [](auto x, auto y) {
    if constexpr (is_complex_v<decltype(x)>) return !lt(x, y);
    else return x >= y;
  });
}
void Less::eval_cpu(const std::vector<array>& in, array& out) { compare(in, out, [](auto x, auto y) { return lt(x, y); }); }
void LessEqual::eval_cpu(const std::vector<array>& in, array& out) {
  compare(in, out, [](auto x, auto y) {
    if constexpr (is_complex_v<decltype(x)>) return !lt(y, x);
    else return x <= y;
  });
}
void LogicalAnd::eval_cpu(const std::vector<array>& in, array& out) {
  binary_apply<bool, bool, bool>(in[0], in[1], out, [](bool x, bool y) { return x && y; });
}
void LogicalOr::eval_cpu(const std::vector<array>& in, array& out) {
  binary_apply<bool, bool, bool>(in[0], in[1], out, [](bool x, bool y) { return x || y; });
}
void BitwiseBinary::eval_cpu(const std::vector<array>& in, array& out) {
  dispatch_dtype(in[0].dtype(), [&](auto t) {
    using T = typename decltype(t)::type;
    if constexpr (std::is_integral_v<T>) {
      switch (op_) {
        case And: return binary_apply<T, T, T>(in[0], in[1], out, [](T x, T y) { return static_cast<T>(x & y); });
        case Or: return binary_apply<T, T, T>(in[0], in[1], out, [](T x, T y) { return static_cast<T>(x | y); });
        case Xor: return binary_apply<T, T, T>(in[0], in[1], out, [](T x, T y) { return static_cast<T>(x ^ y); });
        case LeftShift:
          return binary_apply<T, T, T>(in[0], in[1], out, [](T x, T y) {
            // Shifts by the bit width or more give 0, as NumPy (C++ leaves them undefined).
            return (is_negative(y) || static_cast<uint64_t>(y) >= sizeof(T) * 8) ? T(0) : static_cast<T>(x << y);
          });
        case RightShift:
          return binary_apply<T, T, T>(in[0], in[1], out, [](T x, T y) {
            if (is_negative(y) || static_cast<uint64_t>(y) >= sizeof(T) * 8) return static_cast<T>(is_negative(x) ? -1 : 0);
            return static_cast<T>(x >> y);
          });
      }
    } else {
      bad_type("bitwise", in[0].dtype());
    }
  });
}

void DivMod::eval_cpu(const std::vector<array>& in, std::vector<array>& outs) {
  same_type("divmod", in, outs[0], FloorDivFn{});
  same_type("divmod", in, outs[1], RemFn{});
}

void Select::eval_cpu(const std::vector<array>& in, array& out) {
  // cond, x, y broadcast to out: row-major output.
  out.set_data(allocator::malloc(out.nbytes()));
  const Shape& shape = out.shape();
  auto c = cpu::collapse_dims<4>(shape, {cpu::broadcast_strides(in[0], shape), cpu::broadcast_strides(in[1], shape),
                                         cpu::broadcast_strides(in[2], shape), out.strides()});
  const bool* pc = in[0].data<bool>();
  dispatch_dtype(out.dtype(), [&](auto t) {
    using T = typename decltype(t)::type;
    const T* px = in[1].data<T>();
    const T* py = in[2].data<T>();
    T* po = out.data<T>();
    int64_t inner = c.shape.back();
    cpu::parallel_for(cpu::num_rows(c), std::max<int64_t>(1, cpu::kElementwiseGrain / std::max<int64_t>(inner, 1)),
                      [&](int64_t s, int64_t e) {
                        cpu::for_each_row(c, s, e, [&](const std::array<int64_t, 4>& off, int64_t m,
                                                       const std::array<int64_t, 4>& st) {
                          for (int64_t i = 0; i < m; ++i) {
                            po[off[3] + i * st[3]] = pc[off[0] + i * st[0]] ? px[off[1] + i * st[1]] : py[off[2] + i * st[2]];
                          }
                        });
                      });
  });
}

}  // namespace mica
