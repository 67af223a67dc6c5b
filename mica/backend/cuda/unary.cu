// CUDA kernels of the unary family (backend/cpu/unary.cpp's twin): one elementwise kernel per op
// and dtype, computed in compute_t<T> (float for the half types). A contiguous input is walked
// flat with 16-byte vectors and the output keeps its layout (or takes over its buffer); any
// other input is walked through its collapsed strides into a row-major output.
#include <cstring>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "mica/backend/cuda/copy.h"
#include "mica/backend/cuda/device/elementwise.cuh"
#include "mica/backend/cuda/device/types.cuh"
#include "mica/backend/cuda/utils.h"
#include "mica/primitives/unary.h"

namespace mica {

namespace {

using cu::complex64;
using cu::compute_t;

[[noreturn]] void bad_type(const char* op, Dtype d) {
  throw std::runtime_error(std::string("[") + op + "] kernel got unsupported dtype " + dtype_to_string(d) +
                           " (the op should have rejected it).");
}

// The dtypes each op's kernel takes (the op layer promotes or rejects the others).
template <typename T>
inline constexpr bool kFloat = cu::is_float_v<T>;
template <typename T>
inline constexpr bool kFloatC = cu::is_float_v<T> || cu::is_complex_v<T>;
template <typename T>
inline constexpr bool kSignedNum = std::is_signed_v<T> || cu::is_float_v<T> || cu::is_complex_v<T>;
template <typename T>
inline constexpr bool kNum = !std::is_same_v<T, bool>;
template <typename T>
inline constexpr bool kAny = true;

// Float and double overloads of the CUDA math functions (m_exp(float) is expf).
#define MICA_MATH(NAME)                                                       \
  __device__ __forceinline__ float m_##NAME(float x) { return ::NAME##f(x); } \
  __device__ __forceinline__ double m_##NAME(double x) { return ::NAME(x); }
MICA_MATH(exp) MICA_MATH(expm1) MICA_MATH(log) MICA_MATH(log2) MICA_MATH(log10) MICA_MATH(log1p)
MICA_MATH(sqrt) MICA_MATH(sin) MICA_MATH(cos) MICA_MATH(tan) MICA_MATH(asin) MICA_MATH(acos)
MICA_MATH(atan) MICA_MATH(sinh) MICA_MATH(cosh) MICA_MATH(tanh) MICA_MATH(asinh) MICA_MATH(acosh)
MICA_MATH(atanh) MICA_MATH(erf) MICA_MATH(floor) MICA_MATH(ceil) MICA_MATH(rint)
#undef MICA_MATH

// x * y wrapping modulo 2^bits (no signed overflow, no promotion to int).
template <typename T>
__device__ __forceinline__ T wrap_mul(T x, T y) {
  using U = std::conditional_t<(sizeof(T) < 4), uint32_t, std::make_unsigned_t<T>>;
  return static_cast<T>(static_cast<U>(x) * static_cast<U>(y));
}

// Functors: `ok<T>` says which input dtypes the kernel takes, Out<T> the output element type,
// operator() maps one compute_t<T> value.
struct Same {
  template <typename T>
  using Out = T;
};

struct AbsOp {
  template <typename T>
  static constexpr bool ok() { return kSignedNum<T>; }
  template <typename T>
  using Out = std::conditional_t<cu::is_complex_v<T>, float, T>;
  template <typename C>
  __device__ auto operator()(C x) const {
    if constexpr (cu::is_complex_v<C>) return cuda::std::abs(x);
    else return static_cast<C>(x < C(0) ? -x : x);
  }
};
struct NegativeOp : Same {
  template <typename T>
  static constexpr bool ok() { return kNum<T>; }
  template <typename C>
  __device__ C operator()(C x) const { return static_cast<C>(-x); }
};
struct SignOp : Same {
  template <typename T>
  static constexpr bool ok() { return kNum<T>; }
  template <typename C>
  __device__ C operator()(C x) const {
    if constexpr (cu::is_complex_v<C>) {
      float m = cuda::std::abs(x);
      return m == 0 ? C(0) : x / m;
    } else if constexpr (std::is_unsigned_v<C>) {
      return x != 0;
    } else {
      return static_cast<C>((C(0) < x) - (x < C(0)));
    }
  }
};
struct SquareOp : Same {
  template <typename T>
  static constexpr bool ok() { return kAny<T>; }
  template <typename C>
  __device__ C operator()(C x) const {
    if constexpr (std::is_same_v<C, bool>) return x;
    else if constexpr (std::is_integral_v<C>) return wrap_mul(x, x);
    else return x * x;
  }
};

// Floating ops that take complex too: m_NAME on reals, cuda::std::NAME on complex.
#define MICA_FLOAT_OP(STRUCT, NAME)                                        \
  struct STRUCT : Same {                                                   \
    template <typename T>                                                  \
    static constexpr bool ok() { return kFloatC<T>; }                      \
    template <typename C>                                                  \
    __device__ C operator()(C x) const {                                   \
      if constexpr (cu::is_complex_v<C>) return cuda::std::NAME(x);        \
      else return m_##NAME(x);                                             \
    }                                                                      \
  };
MICA_FLOAT_OP(SqrtOp, sqrt)
MICA_FLOAT_OP(ExpOp, exp)
MICA_FLOAT_OP(LogOp, log)
MICA_FLOAT_OP(Log10Op, log10)
MICA_FLOAT_OP(SinOp, sin)
MICA_FLOAT_OP(CosOp, cos)
MICA_FLOAT_OP(TanOp, tan)
MICA_FLOAT_OP(ArcSinOp, asin)
MICA_FLOAT_OP(ArcCosOp, acos)
MICA_FLOAT_OP(ArcTanOp, atan)
MICA_FLOAT_OP(SinhOp, sinh)
MICA_FLOAT_OP(CoshOp, cosh)
MICA_FLOAT_OP(TanhOp, tanh)
MICA_FLOAT_OP(ArcSinhOp, asinh)
MICA_FLOAT_OP(ArcCoshOp, acosh)
MICA_FLOAT_OP(ArcTanhOp, atanh)
#undef MICA_FLOAT_OP

// Real-only floating ops.
#define MICA_REAL_OP(STRUCT, NAME)                                         \
  struct STRUCT : Same {                                                   \
    template <typename T>                                                  \
    static constexpr bool ok() { return kFloat<T>; }                       \
    template <typename C>                                                  \
    __device__ C operator()(C x) const { return m_##NAME(x); }             \
  };
MICA_REAL_OP(Expm1Op, expm1)
MICA_REAL_OP(Log1pOp, log1p)
MICA_REAL_OP(ErfOp, erf)
MICA_REAL_OP(FloorOp, floor)
MICA_REAL_OP(CeilOp, ceil)
#undef MICA_REAL_OP

// erfinv in double, then rounded, as the CPU computes it: random::normal (erfinv of uniform
// bits) then gives the same floats on both devices.
struct ErfInvOp : Same {
  template <typename T>
  static constexpr bool ok() { return kFloat<T>; }
  template <typename C>
  __device__ C operator()(C x) const { return static_cast<C>(::erfinv(static_cast<double>(x))); }
};

struct Log2Op : Same {
  template <typename T>
  static constexpr bool ok() { return kFloatC<T>; }
  template <typename C>
  __device__ C operator()(C x) const {
    if constexpr (cu::is_complex_v<C>) return cuda::std::log(x) / 0.693147180559945309f;
    else return m_log2(x);
  }
};
struct RsqrtOp : Same {
  template <typename T>
  static constexpr bool ok() { return kFloatC<T>; }
  template <typename C>
  __device__ C operator()(C x) const {
    if constexpr (cu::is_complex_v<C>) return C(1) / cuda::std::sqrt(x);
    else return C(1) / m_sqrt(x);
  }
};
struct SigmoidOp : Same {
  template <typename T>
  static constexpr bool ok() { return kFloat<T>; }
  template <typename C>
  __device__ C operator()(C x) const { return C(1) / (C(1) + m_exp(-x)); }
};
// Half to even (rint in the default rounding mode), as the CPU's nearbyint.
struct RoundOp : Same {
  template <typename T>
  static constexpr bool ok() { return kFloatC<T>; }
  template <typename C>
  __device__ C operator()(C x) const {
    if constexpr (cu::is_complex_v<C>) return C(::rintf(x.real()), ::rintf(x.imag()));
    else return m_rint(x);
  }
};
struct RealOp {
  template <typename T>
  static constexpr bool ok() { return cu::is_complex_v<T>; }
  template <typename T>
  using Out = float;
  __device__ float operator()(complex64 x) const { return x.real(); }
};
struct ImagOp {
  template <typename T>
  static constexpr bool ok() { return cu::is_complex_v<T>; }
  template <typename T>
  using Out = float;
  __device__ float operator()(complex64 x) const { return x.imag(); }
};
struct ConjugateOp : Same {
  template <typename T>
  static constexpr bool ok() { return cu::is_complex_v<T>; }
  __device__ complex64 operator()(complex64 x) const { return cuda::std::conj(x); }
};
struct LogicalNotOp {
  template <typename T>
  static constexpr bool ok() { return kAny<T>; }
  template <typename T>
  using Out = bool;
  template <typename C>
  __device__ bool operator()(C x) const { return !cu::cast<bool>(x); }
};
struct BitwiseInvertOp : Same {
  template <typename T>
  static constexpr bool ok() { return std::is_integral_v<T>; }
  template <typename C>
  __device__ C operator()(C x) const {
    if constexpr (std::is_same_v<C, bool>) return !x;
    else return static_cast<C>(~x);
  }
};
// astype: the conversion is the final cast to the output type.
struct IdentityOp {
  template <typename C>
  __device__ C operator()(C x) const { return x; }
};

// Elements per 16-byte vector of the wider of I and O.
template <typename I, typename O>
inline constexpr int kWidth = 16 / (sizeof(I) > sizeof(O) ? sizeof(I) : sizeof(O));

template <typename O, typename Op, typename I>
__device__ __forceinline__ O apply(const Op& op, I x) {
  return cu::cast<O>(op(cu::cast<compute_t<I>>(x)));
}

// in, out: n elements each, in one flat order (the input's contiguous layout; out may alias in);
// vec: both 16-byte aligned, so W-wide vectors then a scalar tail.
template <typename Op, typename I, typename O>
__global__ void unary_flat(const I* in, O* out, int64_t n, bool vec, Op op) {
  constexpr int W = kWidth<I, O>;
  const int64_t first = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  int64_t done = 0;
  if (vec) {
    const int64_t nv = n / W;
    for (int64_t v = first; v < nv; v += step) {
      cu::Vec<I, W> a = reinterpret_cast<const cu::Vec<I, W>*>(in)[v];
      cu::Vec<O, W> r;
#pragma unroll
      for (int k = 0; k < W; ++k) r.v[k] = apply<O>(op, a.v[k]);
      reinterpret_cast<cu::Vec<O, W>*>(out)[v] = r;
    }
    done = nv * W;
  }
  for (int64_t i = done + first; i < n; i += step) out[i] = apply<O>(op, in[i]);
}

// in: shape and strides l (collapsed); out: n = prod(l.shape) elements, row-major.
template <typename Op, typename I, typename O>
__global__ void unary_strided(const I* in, O* out, int64_t n, cu::Layout<1> l, Op op) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    int64_t off[1];
    cu::offsets(l, i, off);
    out[i] = apply<O>(op, in[off[0]]);
  }
}


// out = op(in): in's layout when contiguous (or its buffer, donated), else row-major.
template <typename I, typename O, bool Strided = true, typename Op>
void launch(const char* name, const array& in, array& out, const Stream& s, const Op& op) {
  if (out.itemsize() != sizeof(O)) throw std::logic_error(std::string("[") + name + "] output dtype mismatch.");
  cu::prepare(in, s);
  cudaStream_t cs = cu::stream(s);
  if (in.flags().contiguous) {
    if (sizeof(I) == sizeof(O) && cu::donatable(in, s)) out.copy_shared_buffer(in);
    else cu::alloc_output(out, s, in.data_size(), in.strides(), in.flags());
    const int64_t n = static_cast<int64_t>(in.data_size());
    if (n == 0) return;
    constexpr int W = kWidth<I, O>;
    const I* pi = cu::ptr<const I>(in);
    O* po = cu::ptr<O>(out);
    const bool vec = W > 1 && cu::aligned<I, W>(pi) && cu::aligned<O, W>(po);
    unary_flat<<<cu::grid_for(n, vec ? W : 1), cu::kBlock, 0, cs>>>(pi, po, n, vec, op);
  } else if constexpr (Strided) {
    cu::alloc_output(out, s);
    const int64_t n = static_cast<int64_t>(out.size());
    if (n == 0) return;
    auto l = cu::make_layout<1>(in.shape(), {in.strides()}, name);
    unary_strided<<<cu::grid_for(n), cu::kBlock, 0, cs>>>(cu::ptr<const I>(in), cu::ptr<O>(out), n, l, op);
  } else {
    throw std::logic_error(std::string("[") + name + "] expected a contiguous input.");
  }
  cu::check_launch(name);
}

// Dispatches on the input dtype to the kernel of Op, or throws for a dtype Op does not take.
template <typename Op>
void unary(const char* name, const array& in, array& out, const Stream& s, const Op& op = {}) {
  cu::dispatch(in.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (Op::template ok<T>()) launch<T, typename Op::template Out<T>>(name, in, out, s, op);
    else bad_type(name, in.dtype());
  });
}

}  // namespace

#define MICA_UNARY_GPU(NAME, FN, OP) \
  void NAME::eval_gpu(const std::vector<array>& in, array& out) { unary<OP>(FN, in[0], out, stream()); }
MICA_UNARY_GPU(Abs, "abs", AbsOp)
MICA_UNARY_GPU(Negative, "negative", NegativeOp)
MICA_UNARY_GPU(Sign, "sign", SignOp)
MICA_UNARY_GPU(Square, "square", SquareOp)
MICA_UNARY_GPU(Exp, "exp", ExpOp)
MICA_UNARY_GPU(Expm1, "expm1", Expm1Op)
MICA_UNARY_GPU(Log1p, "log1p", Log1pOp)
MICA_UNARY_GPU(Sin, "sin", SinOp)
MICA_UNARY_GPU(Cos, "cos", CosOp)
MICA_UNARY_GPU(Tan, "tan", TanOp)
MICA_UNARY_GPU(ArcSin, "arcsin", ArcSinOp)
MICA_UNARY_GPU(ArcCos, "arccos", ArcCosOp)
MICA_UNARY_GPU(ArcTan, "arctan", ArcTanOp)
MICA_UNARY_GPU(Sinh, "sinh", SinhOp)
MICA_UNARY_GPU(Cosh, "cosh", CoshOp)
MICA_UNARY_GPU(Tanh, "tanh", TanhOp)
MICA_UNARY_GPU(ArcSinh, "arcsinh", ArcSinhOp)
MICA_UNARY_GPU(ArcCosh, "arccosh", ArcCoshOp)
MICA_UNARY_GPU(ArcTanh, "arctanh", ArcTanhOp)
MICA_UNARY_GPU(Sigmoid, "sigmoid", SigmoidOp)
MICA_UNARY_GPU(Erf, "erf", ErfOp)
MICA_UNARY_GPU(ErfInv, "erfinv", ErfInvOp)
MICA_UNARY_GPU(Floor, "floor", FloorOp)
MICA_UNARY_GPU(Ceil, "ceil", CeilOp)
MICA_UNARY_GPU(Round, "round", RoundOp)
MICA_UNARY_GPU(Real, "real", RealOp)
MICA_UNARY_GPU(Imag, "imag", ImagOp)
MICA_UNARY_GPU(Conjugate, "conjugate", ConjugateOp)
MICA_UNARY_GPU(LogicalNot, "logical_not", LogicalNotOp)
MICA_UNARY_GPU(BitwiseInvert, "bitwise_invert", BitwiseInvertOp)
#undef MICA_UNARY_GPU

void Sqrt::eval_gpu(const std::vector<array>& in, array& out) {
  if (recip_) unary<RsqrtOp>("rsqrt", in[0], out, stream());
  else unary<SqrtOp>("sqrt", in[0], out, stream());
}

void Log::eval_gpu(const std::vector<array>& in, array& out) {
  switch (base_) {
    case e: return unary<LogOp>("log", in[0], out, stream());
    case two: return unary<Log2Op>("log2", in[0], out, stream());
    case ten: return unary<Log10Op>("log10", in[0], out, stream());
  }
}

void AsType::eval_gpu(const std::vector<array>& inputs, array& out) {
  const array& in = inputs[0];
  const Stream& s = stream();
  // One element still on the host (astype of a scalar): converted there, so that it reaches
  // the next kernel by value instead of through a copy to the GPU.
  if (in.size() == 1 && cu::is_host_scalar(in)) return eval_cpu(inputs, out);
  if (!in.flags().contiguous) {
    cu::prepare(in, s);
    return cu::copy_to_row_contiguous(in, out, s);
  }
  cu::dispatch(in.dtype(), [&](auto it) {
    using I = typename decltype(it)::type;
    cu::dispatch(out.dtype(), [&](auto ot) {
      using O = typename decltype(ot)::type;
      launch<I, O, false>("astype", in, out, s, IdentityOp{});
    });
  });
}

void StopGradient::eval_gpu(const std::vector<array>& in, array& out) { out.copy_shared_buffer(in[0]); }

}  // namespace mica
