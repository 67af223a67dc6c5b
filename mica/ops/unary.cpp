#include "mica/ops/unary.h"

#include <cmath>
#include <limits>
#include <numbers>

#include "mica/ops/binary.h"
#include "mica/ops/creation.h"
#include "mica/ops/utils.h"
#include "mica/primitives/unary.h"

namespace mica {

namespace {
template <typename P, typename... Args>
array make_unary(const array& a, Dtype out, StreamOrDevice s, Args... args) {
  auto st = to_stream(s);
  return array(a.shape(), out, std::make_shared<P>(st, args...), {a});
}
// Ops that compute in floating point: ints and bool become float32.
template <typename P, typename... Args>
array float_unary(const char* name, const array& a, StreamOrDevice s, bool complex_ok, Args... args) {
  if (!complex_ok && a.dtype() == complex64) {
    detail::fail(name, "expected a real input, got complex64.");
  }
  Dtype out = detail::to_float_type(a.dtype());
  return make_unary<P>(a.dtype() == out ? a : astype(a, out, s), out, s, args...);
}
void reject_complex(const char* name, const array& a) {
  if (a.dtype() == complex64) detail::fail(name, "expected a real input, got complex64.");
}
}  // namespace

array abs(const array& a, StreamOrDevice s) {
  if (a.dtype() == bool_ || issubdtype(a.dtype(), unsignedinteger)) return a;
  return make_unary<Abs>(a, a.dtype() == complex64 ? float32 : a.dtype(), s);
}
array negative(const array& a, StreamOrDevice s) {
  if (a.dtype() == bool_) detail::fail("negative", "expected a numeric input, got bool (use logical_not).");
  return make_unary<Negative>(a, a.dtype(), s);
}
array operator-(const array& a) { return negative(a); }
array sign(const array& a, StreamOrDevice s) {
  if (a.dtype() == bool_) return a;
  return make_unary<Sign>(a, a.dtype(), s);
}
array square(const array& a, StreamOrDevice s) { return make_unary<Square>(a, a.dtype(), s); }
array sqrt(const array& a, StreamOrDevice s) { return float_unary<Sqrt>("sqrt", a, s, true, false); }
array rsqrt(const array& a, StreamOrDevice s) { return float_unary<Sqrt>("rsqrt", a, s, true, true); }
array reciprocal(const array& a, StreamOrDevice s) {
  Dtype d = detail::to_float_type(a.dtype());
  return divide(array(1.0f, d), a, s);
}
array exp(const array& a, StreamOrDevice s) { return float_unary<Exp>("exp", a, s, true); }
array expm1(const array& a, StreamOrDevice s) { return float_unary<Expm1>("expm1", a, s, false); }
array log(const array& a, StreamOrDevice s) { return float_unary<Log>("log", a, s, true, Log::e); }
array log2(const array& a, StreamOrDevice s) { return float_unary<Log>("log2", a, s, true, Log::two); }
array log10(const array& a, StreamOrDevice s) { return float_unary<Log>("log10", a, s, true, Log::ten); }
array log1p(const array& a, StreamOrDevice s) { return float_unary<Log1p>("log1p", a, s, false); }
array sin(const array& a, StreamOrDevice s) { return float_unary<Sin>("sin", a, s, true); }
array cos(const array& a, StreamOrDevice s) { return float_unary<Cos>("cos", a, s, true); }
array tan(const array& a, StreamOrDevice s) { return float_unary<Tan>("tan", a, s, true); }
array arcsin(const array& a, StreamOrDevice s) { return float_unary<ArcSin>("arcsin", a, s, true); }
array arccos(const array& a, StreamOrDevice s) { return float_unary<ArcCos>("arccos", a, s, true); }
array arctan(const array& a, StreamOrDevice s) { return float_unary<ArcTan>("arctan", a, s, true); }
array sinh(const array& a, StreamOrDevice s) { return float_unary<Sinh>("sinh", a, s, true); }
array cosh(const array& a, StreamOrDevice s) { return float_unary<Cosh>("cosh", a, s, true); }
array tanh(const array& a, StreamOrDevice s) { return float_unary<Tanh>("tanh", a, s, true); }
array arcsinh(const array& a, StreamOrDevice s) { return float_unary<ArcSinh>("arcsinh", a, s, true); }
array arccosh(const array& a, StreamOrDevice s) { return float_unary<ArcCosh>("arccosh", a, s, true); }
array arctanh(const array& a, StreamOrDevice s) { return float_unary<ArcTanh>("arctanh", a, s, true); }
array sigmoid(const array& a, StreamOrDevice s) { return float_unary<Sigmoid>("sigmoid", a, s, false); }
array erf(const array& a, StreamOrDevice s) { return float_unary<Erf>("erf", a, s, false); }
array erfinv(const array& a, StreamOrDevice s) { return float_unary<ErfInv>("erfinv", a, s, false); }

array floor(const array& a, StreamOrDevice s) {
  reject_complex("floor", a);
  if (!is_floating(a.dtype())) return a;
  return make_unary<Floor>(a, a.dtype(), s);
}
array ceil(const array& a, StreamOrDevice s) {
  reject_complex("ceil", a);
  if (!is_floating(a.dtype())) return a;
  return make_unary<Ceil>(a, a.dtype(), s);
}
array round(const array& a, StreamOrDevice s) {
  if (!is_inexact(a.dtype())) return a;
  return make_unary<Round>(a, a.dtype(), s);
}
array round(const array& a, int decimals, StreamOrDevice s) {
  if (decimals == 0 || !is_inexact(a.dtype())) return round(a, s);
  auto scale = array(std::pow(10.0, decimals), a.dtype() == complex64 ? float32 : a.dtype());
  return divide(round(multiply(a, scale, s), s), scale, s);
}
array trunc(const array& a, StreamOrDevice s) {
  reject_complex("trunc", a);
  if (!is_floating(a.dtype())) return a;
  return where(less(a, array(0.0f, a.dtype()), s), ceil(a, s), floor(a, s), s);
}
array degrees(const array& a, StreamOrDevice s) {
  Dtype d = detail::to_float_type(a.dtype());
  return multiply(astype(a, d, s), array(180.0 / std::numbers::pi, d == complex64 ? float32 : d), s);
}
array radians(const array& a, StreamOrDevice s) {
  Dtype d = detail::to_float_type(a.dtype());
  return multiply(astype(a, d, s), array(std::numbers::pi / 180.0, d == complex64 ? float32 : d), s);
}
array real(const array& a, StreamOrDevice s) {
  if (a.dtype() != complex64) return a;
  return make_unary<Real>(a, float32, s);
}
array imag(const array& a, StreamOrDevice s) {
  if (a.dtype() != complex64) return zeros_like(a, s);
  return make_unary<Imag>(a, float32, s);
}
array conjugate(const array& a, StreamOrDevice s) {
  if (a.dtype() != complex64) return a;
  return make_unary<Conjugate>(a, complex64, s);
}
array conj(const array& a, StreamOrDevice s) { return conjugate(a, s); }

array isnan(const array& a, StreamOrDevice s) {
  if (!is_inexact(a.dtype())) return full(a.shape(), array(false), bool_, s);
  return not_equal(a, a, s);
}
array isinf(const array& a, StreamOrDevice s) {
  if (!is_inexact(a.dtype())) return full(a.shape(), array(false), bool_, s);
  return logical_or(isposinf(a, s), isneginf(a, s), s);
}
array isposinf(const array& a, StreamOrDevice s) {
  if (!is_floating(a.dtype())) return full(a.shape(), array(false), bool_, s);
  return equal(a, array(std::numeric_limits<float>::infinity(), a.dtype()), s);
}
array isneginf(const array& a, StreamOrDevice s) {
  if (!is_floating(a.dtype())) return full(a.shape(), array(false), bool_, s);
  return equal(a, array(-std::numeric_limits<float>::infinity(), a.dtype()), s);
}
array isfinite(const array& a, StreamOrDevice s) {
  return logical_not(logical_or(isinf(a, s), isnan(a, s), s), s);
}
array logical_not(const array& a, StreamOrDevice s) { return make_unary<LogicalNot>(a, bool_, s); }
array bitwise_invert(const array& a, StreamOrDevice s) {
  if (is_inexact(a.dtype())) {
    detail::fail("bitwise_invert", "expected an integer or bool input, got " + dtype_to_string(a.dtype()) + ".");
  }
  return make_unary<BitwiseInvert>(a, a.dtype(), s);
}
array operator~(const array& a) { return bitwise_invert(a); }

array nan_to_num(const array& a, float nan, const std::optional<float> posinf, const std::optional<float> neginf,
                 StreamOrDevice s) {
  if (!is_floating(a.dtype())) return a;
  finfo info(a.dtype());
  auto d = a.dtype();
  auto out = where(isnan(a, s), array(nan, d), a, s);
  out = where(isposinf(a, s), array(posinf.value_or(static_cast<float>(info.max)), d), out, s);
  return where(isneginf(a, s), array(neginf.value_or(static_cast<float>(info.min)), d), out, s);
}

array stop_gradient(const array& a, StreamOrDevice s) { return make_unary<StopGradient>(a, a.dtype(), s); }

array astype(array a, Dtype dtype, StreamOrDevice s) {
  if (a.dtype() == dtype) return a;
  return make_unary<AsType>(a, dtype, s, dtype);
}

}  // namespace mica
