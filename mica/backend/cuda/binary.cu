// CUDA kernels of the binary family (backend/cpu/binary.cpp's twin): one elementwise kernel per
// op and dtype, computed in compute_t<T> (float for the half types). Inputs contiguous in one
// layout (or single values) are walked flat with 16-byte vectors and the output keeps that
// layout (or takes over an input's buffer); others are broadcast through zero strides into a
// row-major output. A single element whose host copy is current reaches the kernel by value.
#include <array>
#include <cstring>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "mica/backend/cuda/device/elementwise.cuh"
#include "mica/backend/cuda/device/reduce_ops.cuh"
#include "mica/backend/cuda/device/types.cuh"
#include "mica/backend/cuda/utils.h"
#include "mica/backend/views.h"
#include "mica/primitives/binary.h"

namespace mica {

namespace {

using cu::complex64;
using cu::compute_t;

[[noreturn]] void bad_type(const char* op, Dtype d) {
  throw std::runtime_error(std::string("[") + op + "] kernel got unsupported dtype " + dtype_to_string(d) + ".");
}

// The dtypes each op's kernel takes (the op layer converts or rejects the others).
template <typename T>
inline constexpr bool kFloat = cu::is_float_v<T>;
template <typename T>
inline constexpr bool kInt = std::is_integral_v<T> && !std::is_same_v<T, bool>;
template <typename T>
inline constexpr bool kNum = !std::is_same_v<T, bool>;
template <typename T>
inline constexpr bool kReal = kNum<T> && !cu::is_complex_v<T>;

// Integer arithmetic wrapping modulo 2^bits (no signed overflow, no promotion to int).
template <typename T>
using Wide = std::conditional_t<(sizeof(T) < 4), uint32_t, std::make_unsigned_t<T>>;
template <typename T>
__device__ __forceinline__ T wrap_add(T x, T y) { return static_cast<T>(Wide<T>(x) + Wide<T>(y)); }
template <typename T>
__device__ __forceinline__ T wrap_sub(T x, T y) { return static_cast<T>(Wide<T>(x) - Wide<T>(y)); }
template <typename T>
__device__ __forceinline__ T wrap_mul(T x, T y) { return static_cast<T>(Wide<T>(x) * Wide<T>(y)); }

template <typename T>
__device__ __forceinline__ bool is_negative(T v) {
  if constexpr (std::is_signed_v<T>) return v < 0;
  else return false;
}
using cu::is_nan;

// Integer division floors (Python's //) and x / 0 is 0; the remainder takes the divisor's sign.
template <typename T>
__device__ __forceinline__ T floor_div(T x, T y) {
  if (y == 0) return 0;
  T q = static_cast<T>(x / y);
  if constexpr (std::is_signed_v<T>) {
    if ((x % y != 0) && ((x < 0) != (y < 0))) --q;
  }
  return q;
}
template <typename T>
__device__ __forceinline__ T floor_rem(T x, T y) {
  if constexpr (std::is_integral_v<T>) {
    if (y == 0) return 0;
    T r = static_cast<T>(x % y);
    if constexpr (std::is_signed_v<T>) {
      if (r != 0 && ((r < 0) != (y < 0))) r = static_cast<T>(r + y);
    }
    return r;
  } else {
    T r;
    if constexpr (std::is_same_v<T, float>) r = ::fmodf(x, y);
    else r = ::fmod(x, y);
    if (r != 0 && ((r < 0) != (y < 0))) r += y;
    return r;
  }
}

// Ordering on complex values compares real parts, then imaginary parts (as the CPU).
template <typename T>
__device__ __forceinline__ bool lt(const T& x, const T& y) {
  if constexpr (cu::is_complex_v<T>) return x.real() < y.real() || (x.real() == y.real() && x.imag() < y.imag());
  else return x < y;
}

// Two results of one op (divmod).
template <typename T, int K>
struct Res {
  T v[K];
};

// Functors: ok<T>() says which input dtypes the kernel takes, Out<T> the output element type,
// operator() maps two compute_t<T> values.
struct Same {
  template <typename T>
  using Out = T;
};
struct ToBool {
  template <typename T>
  using Out = bool;
};
#define MICA_OK(PRED) \
  template <typename T> \
  static constexpr bool ok() { return PRED; }
// A functor computing EXPR from x and y.
#define MICA_SIMPLE_OP(STRUCT, BASE, PRED, EXPR)                   \
  struct STRUCT : BASE {                                           \
    MICA_OK(PRED)                                                  \
    template <typename C>                                          \
    __device__ auto operator()(C x, C y) const { return EXPR; }    \
  };

struct AddOp : Same {
  MICA_OK(true)
  template <typename C>
  __device__ C operator()(C x, C y) const {
    if constexpr (std::is_same_v<C, bool>) return x || y;
    else if constexpr (std::is_integral_v<C>) return wrap_add(x, y);
    else return x + y;
  }
};
struct SubtractOp : Same {
  MICA_OK(kNum<T>)
  template <typename C>
  __device__ C operator()(C x, C y) const {
    if constexpr (std::is_integral_v<C>) return wrap_sub(x, y);
    else return x - y;
  }
};
struct MultiplyOp : Same {
  MICA_OK(true)
  template <typename C>
  __device__ C operator()(C x, C y) const {
    if constexpr (std::is_same_v<C, bool>) return x && y;
    else if constexpr (std::is_integral_v<C>) return wrap_mul(x, y);
    else return x * y;
  }
};
struct DivideOp : Same {
  MICA_OK(kNum<T>)
  template <typename C>
  __device__ C operator()(C x, C y) const {
    if constexpr (std::is_integral_v<C>) return floor_div(x, y);
    else return x / y;
  }
};
MICA_SIMPLE_OP(RemainderOp, Same, kReal<T>, floor_rem(x, y))
// Integer powers by squaring; negative exponents give 0 except for bases of +-1.
struct PowerOp : Same {
  MICA_OK(kNum<T>)
  template <typename C>
  __device__ C operator()(C x, C y) const {
    if constexpr (std::is_integral_v<C>) {
      if constexpr (std::is_signed_v<C>) {
        if (y < 0) return x == 1 ? C(1) : (x == C(-1) ? ((y & 1) ? C(-1) : C(1)) : C(0));
      }
      C r = 1, b = x;
      for (C e = y; e > 0; e = static_cast<C>(e >> 1)) {
        if (e & 1) r = wrap_mul(r, b);
        b = wrap_mul(b, b);
      }
      return r;
    } else if constexpr (cu::is_complex_v<C>) {
      return cuda::std::pow(x, y);
    } else if constexpr (std::is_same_v<C, float>) {
      return ::powf(x, y);
    } else {
      return ::pow(x, y);
    }
  }
};
// Floating maximum/minimum propagate NaN.
struct MaximumOp : Same {
  MICA_OK(true)
  template <typename C>
  __device__ C operator()(C x, C y) const {
    if constexpr (std::is_floating_point_v<C>) {
      if (is_nan(x) || is_nan(y)) return C(NAN);
    }
    return lt(x, y) ? y : x;
  }
};
struct MinimumOp : Same {
  MICA_OK(true)
  template <typename C>
  __device__ C operator()(C x, C y) const {
    if constexpr (std::is_floating_point_v<C>) {
      if (is_nan(x) || is_nan(y)) return C(NAN);
    }
    return lt(y, x) ? y : x;
  }
};
struct ArcTan2Op : Same {
  MICA_OK(kFloat<T>)
  template <typename C>
  __device__ C operator()(C x, C y) const {
    if constexpr (std::is_same_v<C, float>) return ::atan2f(x, y);
    else return ::atan2(x, y);
  }
};
struct LogAddExpOp : Same {
  MICA_OK(kFloat<T>)
  template <typename C>
  __device__ C operator()(C x, C y) const {
    if (is_nan(x) || is_nan(y)) return C(NAN);
    C m = x > y ? x : y;
    if (m == C(INFINITY) || m == C(-INFINITY)) return m;
    if constexpr (std::is_same_v<C, float>) return m + ::log1pf(::expf(-::fabsf(x - y)));
    else return m + ::log1p(::exp(-::fabs(x - y)));
  }
};
// equal(a, b) and, with `nan`, NaNs equal to each other (floating types).
struct EqualOp : ToBool {
  bool nan = false;
  MICA_OK(true)
  template <typename C>
  __device__ bool operator()(C x, C y) const { return x == y || (nan && is_nan(x) && is_nan(y)); }
};
MICA_SIMPLE_OP(NotEqualOp, ToBool, true, x != y)
// greater(a, b) runs as less(b, a), greater_equal(a, b) as less_equal(b, a).
MICA_SIMPLE_OP(LessOp, ToBool, true, lt(x, y))
struct LessEqualOp : ToBool {
  MICA_OK(true)
  template <typename C>
  __device__ bool operator()(C x, C y) const {
    if constexpr (cu::is_complex_v<C>) return !lt(y, x);
    else return x <= y;
  }
};
MICA_SIMPLE_OP(LogicalAndOp, Same, (std::is_same_v<T, bool>), x && y)
MICA_SIMPLE_OP(LogicalOrOp, Same, (std::is_same_v<T, bool>), x || y)
MICA_SIMPLE_OP(BitAndOp, Same, std::is_integral_v<T>, static_cast<C>(x & y))
MICA_SIMPLE_OP(BitOrOp, Same, std::is_integral_v<T>, static_cast<C>(x | y))
MICA_SIMPLE_OP(BitXorOp, Same, std::is_integral_v<T>, static_cast<C>(x ^ y))
// Shifts by the bit width or more (or by a negative amount) give 0, or -1 for a right shift of
// a negative value, as the CPU (and NumPy).
struct LeftShiftOp : Same {
  MICA_OK(kInt<T>)
  template <typename C>
  __device__ C operator()(C x, C y) const {
    if (is_negative(y) || static_cast<uint64_t>(y) >= sizeof(C) * 8) return C(0);
    return static_cast<C>(x << y);
  }
};
struct RightShiftOp : Same {
  MICA_OK(kInt<T>)
  template <typename C>
  __device__ C operator()(C x, C y) const {
    if (is_negative(y) || static_cast<uint64_t>(y) >= sizeof(C) * 8) return static_cast<C>(is_negative(x) ? -1 : 0);
    return static_cast<C>(x >> y);
  }
};
// divmod: floor quotient and remainder.
struct DivModOp : Same {
  MICA_OK(kReal<T>)
  template <typename C>
  __device__ Res<C, 2> operator()(C x, C y) const {
    if constexpr (std::is_integral_v<C>) {
      return {{floor_div(x, y), floor_rem(x, y)}};
    } else if constexpr (std::is_same_v<C, float>) {
      return {{::floorf(x / y), floor_rem(x, y)}};
    } else {
      return {{::floor(x / y), floor_rem(x, y)}};
    }
  }
};
#undef MICA_SIMPLE_OP
#undef MICA_OK

// One input of a kernel: p null means every element is v (a host scalar passed by value);
// `one` means p holds a single element used for every element.
template <typename T>
struct In {
  const T* p;
  T v;
  bool one;
};
template <typename T>
__device__ __forceinline__ T at(const In<T>& a, int64_t i) {
  return a.p ? a.p[a.one ? 0 : i] : a.v;
}

// The K output pointers of a kernel.
template <typename O, int K>
struct Outs {
  O* p[K];
};

// Elements per 16-byte vector of the wider of T and O.
template <typename T, typename O>
inline constexpr int kWidth = 16 / (sizeof(T) > sizeof(O) ? sizeof(T) : sizeof(O));

template <typename O, int K, typename Op, typename T>
__device__ __forceinline__ Res<O, K> apply(const Op& op, T x, T y) {
  using C = compute_t<T>;
  auto r = op(cu::cast<C>(x), cu::cast<C>(y));
  Res<O, K> o;
  if constexpr (K == 1) {
    o.v[0] = cu::cast<O>(r);
  } else {
#pragma unroll
    for (int j = 0; j < K; ++j) o.v[j] = cu::cast<O>(r.v[j]);
  }
  return o;
}

// a, b: n elements each in the outputs' flat order, or one value; out: K arrays of n elements
// (each may alias a or b); vec: every pointer read or written W-wide is 16-byte aligned.
template <typename Op, typename T, typename O, int K>
__global__ void binary_flat(In<T> a, In<T> b, Outs<O, K> out, int64_t n, bool vec, Op op) {
  constexpr int W = kWidth<T, O>;
  const int64_t first = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  int64_t done = 0;
  if (vec) {
    const bool sa = !a.p || a.one, sb = !b.p || b.one;
    const T va = at(a, 0), vb = at(b, 0);
    const int64_t nv = n / W;
    for (int64_t v = first; v < nv; v += step) {
      cu::Vec<T, W> x, y;
      if (sa) {
#pragma unroll
        for (int k = 0; k < W; ++k) x.v[k] = va;
      } else {
        x = reinterpret_cast<const cu::Vec<T, W>*>(a.p)[v];
      }
      if (sb) {
#pragma unroll
        for (int k = 0; k < W; ++k) y.v[k] = vb;
      } else {
        y = reinterpret_cast<const cu::Vec<T, W>*>(b.p)[v];
      }
      cu::Vec<O, W> r[K];
#pragma unroll
      for (int k = 0; k < W; ++k) {
        Res<O, K> e = apply<O, K>(op, x.v[k], y.v[k]);
#pragma unroll
        for (int j = 0; j < K; ++j) r[j].v[k] = e.v[j];
      }
#pragma unroll
      for (int j = 0; j < K; ++j) reinterpret_cast<cu::Vec<O, W>*>(out.p[j])[v] = r[j];
    }
    done = nv * W;
  }
  for (int64_t i = done + first; i < n; i += step) {
    Res<O, K> e = apply<O, K>(op, at(a, i), at(b, i));
#pragma unroll
    for (int j = 0; j < K; ++j) out.p[j][i] = e.v[j];
  }
}

// a, b: broadcast to the output shape through l.strides[0], l.strides[1] (p null: a value);
// out: K row-major arrays of n = prod(l.shape) elements.
template <typename Op, typename T, typename O, int K>
__global__ void binary_strided(In<T> a, In<T> b, Outs<O, K> out, int64_t n, cu::Layout<2> l, Op op) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    int64_t off[2];
    cu::offsets(l, i, off);
    Res<O, K> e = apply<O, K>(op, a.p ? a.p[off[0]] : a.v, b.p ? b.p[off[1]] : b.v);
#pragma unroll
    for (int j = 0; j < K; ++j) out.p[j][i] = e.v[j];
  }
}

// c, x, y: n elements each in out's flat order, or one value; out: n elements.
template <typename T>
__global__ void select_flat(In<bool> c, In<T> x, In<T> y, T* out, int64_t n) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    out[i] = at(c, i) ? at(x, i) : at(y, i);
  }
}

// c, x, y: broadcast to out's shape through l.strides[0..2] (p null: a value); out: row-major.
template <typename T>
__global__ void select_strided(In<bool> c, In<T> x, In<T> y, T* out, int64_t n, cu::Layout<3> l) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    int64_t off[3];
    cu::offsets(l, i, off);
    bool ci = c.p ? c.p[off[0]] : c.v;
    out[i] = ci ? (x.p ? x.p[off[1]] : x.v) : (y.p ? y.p[off[2]] : y.v);
  }
}

// ---- host side ----

// An input for a kernel: a host scalar by value, else its GPU data (prepared on s).
template <typename T>
In<T> operand(const array& a, const Stream& s) {
  In<T> o{};
  if (cu::is_host_scalar(a)) {
    std::memcpy(static_cast<void*>(&o.v), a.data<void>(), sizeof(T));
  } else {
    cu::prepare(a, s);
    o.p = cu::ptr<const T>(a);
    o.one = a.data_size() == 1;
  }
  return o;
}

// Strides of `a` seen with the output's shape (0 along broadcast dims).
Strides broadcast_strides(const array& a, const Shape& shape) {
  Strides st(shape.size(), 0);
  size_t off = shape.size() - a.ndim();
  for (size_t d = 0; d < a.ndim(); ++d) st[off + d] = a.shape()[d] == 1 ? 0 : a.strides()[d];
  return st;
}


bool full(const array& a, const Shape& shape) { return a.flags().contiguous && a.shape() == shape; }

// Gives out the flat layout `lay`, taking over the buffer of an input in that layout when it
// is donatable and has out's element size (each input donates once).
void alloc_flat(array& out, const array& lay, std::array<const array*, 2>& donors, const Stream& s) {
  for (auto& d : donors) {
    if (d && d->itemsize() == out.itemsize() && d->data_size() == lay.data_size() && full(*d, out.shape()) &&
        d->strides() == lay.strides() && cu::donatable(*d, s)) {
      out.copy_shared_buffer(*d);
      d = nullptr;
      return;
    }
  }
  cu::alloc_output(out, s, lay.data_size(), lay.strides(), lay.flags());
}

// outs[j] = op(a, b)[j], broadcast to outs' shape.
template <typename T, typename O, int K, typename Op>
void launch(const char* name, const array& a, const array& b, const std::array<array*, K>& outs, const Stream& s,
            const Op& op) {
  for (auto* o : outs) {
    if (o->itemsize() != sizeof(O)) throw std::logic_error(std::string("[") + name + "] output dtype mismatch.");
  }
  const Shape& shape = outs[0]->shape();
  In<T> ia = operand<T>(a, s), ib = operand<T>(b, s);
  cudaStream_t cs = cu::stream(s);
  Outs<O, K> po;
  if (const array* lay = views::flat_layout({&a, &b}, shape)) {
    std::array<const array*, 2> donors{ia.p ? &a : nullptr, ib.p ? &b : nullptr};
    for (int j = 0; j < K; ++j) {
      alloc_flat(*outs[j], *lay, donors, s);
      po.p[j] = cu::ptr<O>(*outs[j]);
    }
    const int64_t n = static_cast<int64_t>(lay->data_size());
    if (n == 0) return;
    constexpr int W = kWidth<T, O>;
    bool vec = W > 1 && (ia.one || !ia.p || cu::aligned<T, W>(ia.p)) && (ib.one || !ib.p || cu::aligned<T, W>(ib.p));
    for (int j = 0; j < K; ++j) vec = vec && cu::aligned<O, W>(po.p[j]);
    binary_flat<<<cu::grid_for(n, vec ? W : 1), cu::kBlock, 0, cs>>>(ia, ib, po, n, vec, op);
  } else {
    for (int j = 0; j < K; ++j) {
      cu::alloc_output(*outs[j], s);
      po.p[j] = cu::ptr<O>(*outs[j]);
    }
    const int64_t n = static_cast<int64_t>(outs[0]->size());
    if (n == 0) return;
    auto l = cu::make_layout<2>(shape, {broadcast_strides(a, shape), broadcast_strides(b, shape)}, name);
    binary_strided<<<cu::grid_for(n), cu::kBlock, 0, cs>>>(ia, ib, po, n, l, op);
  }
  cu::check_launch(name);
}

// Dispatches on the input dtype to the kernel of Op, or throws for a dtype Op does not take.
template <typename Op, int K = 1>
void binary(const char* name, const array& a, const array& b, const std::array<array*, K>& outs, const Stream& s,
            const Op& op = {}) {
  cu::dispatch(a.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (Op::template ok<T>()) launch<T, typename Op::template Out<T>, K>(name, a, b, outs, s, op);
    else bad_type(name, a.dtype());
  });
}

}  // namespace

#define MICA_BINARY_GPU(NAME, FN, OP)                                  \
  void NAME::eval_gpu(const std::vector<array>& in, array& out) {      \
    binary<OP>(FN, in[0], in[1], {&out}, stream());                    \
  }
MICA_BINARY_GPU(Add, "add", AddOp)
MICA_BINARY_GPU(Subtract, "subtract", SubtractOp)
MICA_BINARY_GPU(Multiply, "multiply", MultiplyOp)
MICA_BINARY_GPU(Divide, "divide", DivideOp)
MICA_BINARY_GPU(Remainder, "remainder", RemainderOp)
MICA_BINARY_GPU(Power, "power", PowerOp)
MICA_BINARY_GPU(Maximum, "maximum", MaximumOp)
MICA_BINARY_GPU(Minimum, "minimum", MinimumOp)
MICA_BINARY_GPU(ArcTan2, "arctan2", ArcTan2Op)
MICA_BINARY_GPU(LogAddExp, "logaddexp", LogAddExpOp)
MICA_BINARY_GPU(NotEqual, "not_equal", NotEqualOp)
MICA_BINARY_GPU(Less, "less", LessOp)
MICA_BINARY_GPU(LessEqual, "less_equal", LessEqualOp)
MICA_BINARY_GPU(LogicalAnd, "logical_and", LogicalAndOp)
MICA_BINARY_GPU(LogicalOr, "logical_or", LogicalOrOp)
#undef MICA_BINARY_GPU

void Greater::eval_gpu(const std::vector<array>& in, array& out) {
  binary<LessOp>("greater", in[1], in[0], {&out}, stream());
}
void GreaterEqual::eval_gpu(const std::vector<array>& in, array& out) {
  binary<LessEqualOp>("greater_equal", in[1], in[0], {&out}, stream());
}
void Equal::eval_gpu(const std::vector<array>& in, array& out) {
  EqualOp op;
  op.nan = equal_nan_;
  binary("equal", in[0], in[1], {&out}, stream(), op);
}

void BitwiseBinary::eval_gpu(const std::vector<array>& in, array& out) {
  switch (op_) {
    case And: return binary<BitAndOp>("bitwise_and", in[0], in[1], {&out}, stream());
    case Or: return binary<BitOrOp>("bitwise_or", in[0], in[1], {&out}, stream());
    case Xor: return binary<BitXorOp>("bitwise_xor", in[0], in[1], {&out}, stream());
    case LeftShift: return binary<LeftShiftOp>("left_shift", in[0], in[1], {&out}, stream());
    case RightShift: return binary<RightShiftOp>("right_shift", in[0], in[1], {&out}, stream());
  }
}

void DivMod::eval_gpu(const std::vector<array>& in, std::vector<array>& outs) {
  binary<DivModOp, 2>("divmod", in[0], in[1], {&outs[0], &outs[1]}, stream());
}

void Select::eval_gpu(const std::vector<array>& in, array& out) {
  const Stream& s = stream();
  const Shape& shape = out.shape();
  cudaStream_t cs = cu::stream(s);
  In<bool> ic = operand<bool>(in[0], s);
  cu::dispatch(out.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    In<T> ix = operand<T>(in[1], s), iy = operand<T>(in[2], s);
    if (const array* lay = views::flat_layout({&in[0], &in[1], &in[2]}, shape)) {
      std::array<const array*, 2> donors{ix.p ? &in[1] : nullptr, iy.p ? &in[2] : nullptr};
      alloc_flat(out, *lay, donors, s);
      const int64_t n = static_cast<int64_t>(lay->data_size());
      if (n == 0) return;
      select_flat<<<cu::grid_for(n), cu::kBlock, 0, cs>>>(ic, ix, iy, cu::ptr<T>(out), n);
    } else {
      cu::alloc_output(out, s);
      const int64_t n = static_cast<int64_t>(out.size());
      if (n == 0) return;
      auto l = cu::make_layout<3>(
          shape, {broadcast_strides(in[0], shape), broadcast_strides(in[1], shape), broadcast_strides(in[2], shape)},
          "where");
      select_strided<<<cu::grid_for(n), cu::kBlock, 0, cs>>>(ic, ix, iy, cu::ptr<T>(out), n, l);
    }
    cu::check_launch("where");
  });
}

}  // namespace mica
