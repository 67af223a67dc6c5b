// CPU kernels of the unary family. x: any layout; out: same layout when x is contiguous.
#include "mica/backend/cpu/unary.h"

#include <cmath>
#include <complex>
#include <stdexcept>

#include "mica/backend/cpu/copy.h"
#include "mica/backend/cpu/simd/math.h"
#include "mica/primitives/unary.h"
#include "mica/types/cast.h"
#include "mica/types/wrapping.h"

namespace mica {

namespace {
using cpu::unary_apply;

[[noreturn]] void bad_type(const char* op, Dtype d) {
  throw std::runtime_error(std::string("[") + op + "] kernel got unsupported dtype " + dtype_to_string(d) +
                           " (the op should have rejected it).");
}

// Applies `op` computing in T (float for half types), output dtype = input dtype.
// Floating types only, plus complex when `Complex`.
template <bool Complex, typename Op>
void float_unary(const char* name, const array& in, array& out, Op op) {
  switch (in.dtype().val) {
    case Dtype::Val::float32: return unary_apply<float, float>(in, out, [&](float x) { return op(x); });
    case Dtype::Val::float64: return unary_apply<double, double>(in, out, [&](double x) { return op(x); });
    case Dtype::Val::float16:
      return unary_apply<float16_t, float16_t>(in, out, [&](float16_t x) { return float16_t(op(static_cast<float>(x))); });
    case Dtype::Val::bfloat16:
      return unary_apply<bfloat16_t, bfloat16_t>(in, out, [&](bfloat16_t x) { return bfloat16_t(op(static_cast<float>(x))); });
    case Dtype::Val::complex64:
      if constexpr (Complex) return unary_apply<complex64_t, complex64_t>(in, out, [&](complex64_t x) { return op(x); });
      [[fallthrough]];
    default: bad_type(name, in.dtype());
  }
}

// Applies `op` to any numeric type, output dtype = input dtype (halves computed in float).
template <typename Op>
void any_unary(const char* name, const array& in, array& out, Op op) {
  dispatch_dtype(in.dtype(), [&](auto t) {
    using T = typename decltype(t)::type;
    if constexpr (is_half_v<T>) {
      unary_apply<T, T>(in, out, [&](T x) { return T(op(static_cast<float>(x))); });
    } else {
      unary_apply<T, T>(in, out, [&](T x) { return static_cast<T>(op(x)); });
    }
  });
}

// Float32 fast paths use the vectorizable approximations; other types use libm.
struct ExpFn {
  float operator()(float x) const { return cpu::simd::exp_f32(x); }
  template <typename T>
  T operator()(T x) const { return std::exp(x); }
};
struct SigmoidFn {
  float operator()(float x) const { return cpu::simd::sigmoid_f32(x); }
  double operator()(double x) const { return 1.0 / (1.0 + std::exp(-x)); }
};
struct TanhFn {
  float operator()(float x) const { return cpu::simd::tanh_f32(x); }
  template <typename T>
  T operator()(T x) const { return std::tanh(x); }
};

// erfinv by Giles' single-precision approximation, refined by two Newton steps in double.
double erfinv_double(double y) {
  if (y <= -1.0) return y == -1.0 ? -INFINITY : NAN;
  if (y >= 1.0) return y == 1.0 ? INFINITY : NAN;
  double w = -std::log((1.0 - y) * (1.0 + y)), x;
  if (w < 5.0) {
    w -= 2.5;
    double p = 2.81022636e-08;
    p = 3.43273939e-07 + p * w; p = -3.5233877e-06 + p * w; p = -4.39150654e-06 + p * w;
    p = 0.00021858087 + p * w; p = -0.00125372503 + p * w; p = -0.00417768164 + p * w;
    p = 0.246640727 + p * w; p = 1.50140941 + p * w;
    x = p * y;
  } else {
    w = std::sqrt(w) - 3.0;
    double p = -0.000200214257;
    p = 0.000100950558 + p * w; p = 0.00134934322 + p * w; p = -0.00367342844 + p * w;
    p = 0.00573950773 + p * w; p = -0.0076224613 + p * w; p = 0.00943887047 + p * w;
    p = 1.00167406 + p * w; p = 2.83297682 + p * w;
    x = p * y;
  }
  for (int i = 0; i < 2; ++i) {
    double err = std::erf(x) - y;
    x -= err / (2.0 / std::sqrt(M_PI) * std::exp(-x * x));
  }
  return x;
}

template <typename T>
T sign_of(T x) {
  if constexpr (is_complex_v<T>) {
    float m = std::abs(x);
    return m == 0 ? T(0) : x / m;
  } else if constexpr (std::is_unsigned_v<T>) {
    return x != 0;
  } else {
    return static_cast<T>((T(0) < x) - (x < T(0)));
  }
}
}  // namespace

void Abs::eval_cpu(const std::vector<array>& in, array& out) {
  if (in[0].dtype() == complex64) {
    unary_apply<complex64_t, float>(in[0], out, [](complex64_t x) { return std::abs(x); });
    return;
  }
  any_unary("abs", in[0], out, [](auto x) {
    using T = decltype(x);
    if constexpr (std::is_unsigned_v<T> || is_complex_v<T>) return x;  // handled by the op / above
    else return x < 0 ? wrapping_neg(x) : x;
  });
}
void Negative::eval_cpu(const std::vector<array>& in, array& out) {
  any_unary("negative", in[0], out, [](auto x) {
    if constexpr (std::is_same_v<decltype(x), bool>) return x;
    else return static_cast<decltype(x)>(wrapping_neg(x));
  });
}
void Sign::eval_cpu(const std::vector<array>& in, array& out) {
  any_unary("sign", in[0], out, [](auto x) { return sign_of(x); });
}
void Square::eval_cpu(const std::vector<array>& in, array& out) {
  any_unary("square", in[0], out, [](auto x) {
    if constexpr (std::is_same_v<decltype(x), bool>) return x;
    else return static_cast<decltype(x)>(wrapping_mul(x, x));
  });
}
void Sqrt::eval_cpu(const std::vector<array>& in, array& out) {
  if (recip_) {
    float_unary<true>("rsqrt", in[0], out, [](auto x) { return decltype(x)(1) / std::sqrt(x); });
  } else {
    float_unary<true>("sqrt", in[0], out, [](auto x) { return std::sqrt(x); });
  }
}
void Exp::eval_cpu(const std::vector<array>& in, array& out) { float_unary<true>("exp", in[0], out, ExpFn{}); }
void Expm1::eval_cpu(const std::vector<array>& in, array& out) {
  float_unary<false>("expm1", in[0], out, [](auto x) { return std::expm1(x); });
}
void Log::eval_cpu(const std::vector<array>& in, array& out) {
  switch (base_) {
    case e: return float_unary<true>("log", in[0], out, [](auto x) { return std::log(x); });
    case two:
      return float_unary<true>("log2", in[0], out, [](auto x) {
        if constexpr (is_complex_v<decltype(x)>) return std::log(x) / 0.693147180559945309f;
        else return std::log2(x);
      });
    case ten: return float_unary<true>("log10", in[0], out, [](auto x) { return std::log10(x); });
  }
}
void Log1p::eval_cpu(const std::vector<array>& in, array& out) {
  float_unary<false>("log1p", in[0], out, [](auto x) { return std::log1p(x); });
}
void Sin::eval_cpu(const std::vector<array>& in, array& out) { float_unary<true>("sin", in[0], out, [](auto x) { return std::sin(x); }); }
void Cos::eval_cpu(const std::vector<array>& in, array& out) { float_unary<true>("cos", in[0], out, [](auto x) { return std::cos(x); }); }
void Tan::eval_cpu(const std::vector<array>& in, array& out) { float_unary<true>("tan", in[0], out, [](auto x) { return std::tan(x); }); }
void ArcSin::eval_cpu(const std::vector<array>& in, array& out) { float_unary<true>("arcsin", in[0], out, [](auto x) { return std::asin(x); }); }
void ArcCos::eval_cpu(const std::vector<array>& in, array& out) { float_unary<true>("arccos", in[0], out, [](auto x) { return std::acos(x); }); }
void ArcTan::eval_cpu(const std::vector<array>& in, array& out) { float_unary<true>("arctan", in[0], out, [](auto x) { return std::atan(x); }); }
void Sinh::eval_cpu(const std::vector<array>& in, array& out) { float_unary<true>("sinh", in[0], out, [](auto x) { return std::sinh(x); }); }
void Cosh::eval_cpu(const std::vector<array>& in, array& out) { float_unary<true>("cosh", in[0], out, [](auto x) { return std::cosh(x); }); }
void Tanh::eval_cpu(const std::vector<array>& in, array& out) { float_unary<true>("tanh", in[0], out, TanhFn{}); }
void ArcSinh::eval_cpu(const std::vector<array>& in, array& out) { float_unary<true>("arcsinh", in[0], out, [](auto x) { return std::asinh(x); }); }
void ArcCosh::eval_cpu(const std::vector<array>& in, array& out) { float_unary<true>("arccosh", in[0], out, [](auto x) { return std::acosh(x); }); }
void ArcTanh::eval_cpu(const std::vector<array>& in, array& out) { float_unary<true>("arctanh", in[0], out, [](auto x) { return std::atanh(x); }); }
void Sigmoid::eval_cpu(const std::vector<array>& in, array& out) { float_unary<false>("sigmoid", in[0], out, SigmoidFn{}); }
void Erf::eval_cpu(const std::vector<array>& in, array& out) { float_unary<false>("erf", in[0], out, [](auto x) { return std::erf(x); }); }
void ErfInv::eval_cpu(const std::vector<array>& in, array& out) {
  float_unary<false>("erfinv", in[0], out, [](auto x) { return static_cast<decltype(x)>(erfinv_double(x)); });
}
void Floor::eval_cpu(const std::vector<array>& in, array& out) { float_unary<false>("floor", in[0], out, [](auto x) { return std::floor(x); }); }
void Ceil::eval_cpu(const std::vector<array>& in, array& out) { float_unary<false>("ceil", in[0], out, [](auto x) { return std::ceil(x); }); }
void Round::eval_cpu(const std::vector<array>& in, array& out) {
  float_unary<true>("round", in[0], out, [](auto x) {
    if constexpr (is_complex_v<decltype(x)>) return complex64_t(std::nearbyint(x.real()), std::nearbyint(x.imag()));
    else return std::nearbyint(x);
  });
}
void Real::eval_cpu(const std::vector<array>& in, array& out) {
  unary_apply<complex64_t, float>(in[0], out, [](complex64_t x) { return x.real(); });
}
void Imag::eval_cpu(const std::vector<array>& in, array& out) {
  unary_apply<complex64_t, float>(in[0], out, [](complex64_t x) { return x.imag(); });
}
void Conjugate::eval_cpu(const std::vector<array>& in, array& out) {
  unary_apply<complex64_t, complex64_t>(in[0], out, [](complex64_t x) { return std::conj(x); });
}
void LogicalNot::eval_cpu(const std::vector<array>& in, array& out) {
  dispatch_dtype(in[0].dtype(), [&](auto t) {
    using T = typename decltype(t)::type;
    unary_apply<T, bool>(in[0], out, [](T x) { return !cast_to<bool>(x); });
  });
}
void BitwiseInvert::eval_cpu(const std::vector<array>& in, array& out) {
  dispatch_dtype(in[0].dtype(), [&](auto t) {
    using T = typename decltype(t)::type;
    if constexpr (std::is_same_v<T, bool>) unary_apply<T, T>(in[0], out, [](T x) { return !x; });
    else if constexpr (std::is_integral_v<T>) unary_apply<T, T>(in[0], out, [](T x) { return static_cast<T>(~x); });
    else bad_type("bitwise_invert", in[0].dtype());
  });
}
void AsType::eval_cpu(const std::vector<array>& in, array& out) {
  dispatch_dtype(in[0].dtype(), [&](auto it) {
    using I = typename decltype(it)::type;
    dispatch_dtype(out.dtype(), [&](auto ot) {
      using O = typename decltype(ot)::type;
      unary_apply<I, O>(in[0], out, [](I x) { return cast_to<O>(x); });
    });
  });
}
void StopGradient::eval_cpu(const std::vector<array>& in, array& out) { out.copy_shared_buffer(in[0]); }

}  // namespace mica
