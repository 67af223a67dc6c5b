// Elementwise unary ops. Integer and bool inputs of the transcendental ops are promoted to
// float32, as in MLX.
#pragma once
#include <optional>

#include "mica/array.h"

namespace mica {

/** Absolute value (complex -> float32 magnitude). */
array abs(const array& a, StreamOrDevice s = {});
/** -a; bool is rejected. */
array negative(const array& a, StreamOrDevice s = {});
array operator-(const array& a);
/** -1, 0 or 1 by the sign of a (a/|a| for complex). */
array sign(const array& a, StreamOrDevice s = {});
/** a * a. */
array square(const array& a, StreamOrDevice s = {});
/** Square root. */
array sqrt(const array& a, StreamOrDevice s = {});
/** 1 / sqrt(a). */
array rsqrt(const array& a, StreamOrDevice s = {});
/** 1 / a. */
array reciprocal(const array& a, StreamOrDevice s = {});
array exp(const array& a, StreamOrDevice s = {});
/** exp(a) - 1, accurate near 0. */
array expm1(const array& a, StreamOrDevice s = {});
array log(const array& a, StreamOrDevice s = {});
array log2(const array& a, StreamOrDevice s = {});
array log10(const array& a, StreamOrDevice s = {});
/** log(1 + a), accurate near 0. */
array log1p(const array& a, StreamOrDevice s = {});
array sin(const array& a, StreamOrDevice s = {});
array cos(const array& a, StreamOrDevice s = {});
array tan(const array& a, StreamOrDevice s = {});
array arcsin(const array& a, StreamOrDevice s = {});
array arccos(const array& a, StreamOrDevice s = {});
array arctan(const array& a, StreamOrDevice s = {});
array sinh(const array& a, StreamOrDevice s = {});
array cosh(const array& a, StreamOrDevice s = {});
array tanh(const array& a, StreamOrDevice s = {});
array arcsinh(const array& a, StreamOrDevice s = {});
array arccosh(const array& a, StreamOrDevice s = {});
array arctanh(const array& a, StreamOrDevice s = {});
/** 1 / (1 + exp(-a)). */
array sigmoid(const array& a, StreamOrDevice s = {});
array erf(const array& a, StreamOrDevice s = {});
/** Inverse of erf on (-1, 1). */
array erfinv(const array& a, StreamOrDevice s = {});
array floor(const array& a, StreamOrDevice s = {});
array ceil(const array& a, StreamOrDevice s = {});
/** Rounds half to even at `decimals` decimal places. */
array round(const array& a, int decimals, StreamOrDevice s = {});
array round(const array& a, StreamOrDevice s = {});
/** Rounds toward zero. */
array trunc(const array& a, StreamOrDevice s = {});
/** Radians to degrees. */
array degrees(const array& a, StreamOrDevice s = {});
/** Degrees to radians. */
array radians(const array& a, StreamOrDevice s = {});
/** Real part (identity for real types). */
array real(const array& a, StreamOrDevice s = {});
/** Imaginary part (zeros for real types). */
array imag(const array& a, StreamOrDevice s = {});
/** Complex conjugate (identity for real types). */
array conjugate(const array& a, StreamOrDevice s = {});
array conj(const array& a, StreamOrDevice s = {});
array isnan(const array& a, StreamOrDevice s = {});
array isinf(const array& a, StreamOrDevice s = {});
array isposinf(const array& a, StreamOrDevice s = {});
array isneginf(const array& a, StreamOrDevice s = {});
array isfinite(const array& a, StreamOrDevice s = {});
/** Elementwise not, giving bool. */
array logical_not(const array& a, StreamOrDevice s = {});
/** Bitwise not of an integer (or bool) array. */
array bitwise_invert(const array& a, StreamOrDevice s = {});
array operator~(const array& a);
/** Replaces NaN with `nan`, +inf with `posinf` and -inf with `neginf` (default: dtype's max/min). */
array nan_to_num(const array& a, float nan = 0.0f, const std::optional<float> posinf = std::nullopt,
                 const std::optional<float> neginf = std::nullopt, StreamOrDevice s = {});
/** Identity whose gradient is zero. */
array stop_gradient(const array& a, StreamOrDevice s = {});
/** Converts to `dtype` (a no-op node when it already has it). */
array astype(array a, Dtype dtype, StreamOrDevice s = {});

}  // namespace mica
