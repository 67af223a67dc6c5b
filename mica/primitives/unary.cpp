// Transform rules of the elementwise unary primitives. Each rule is the chain rule with the
// derivative written in ops; vmap applies the same op to the batched input (same batch axis).
#include "mica/primitives/unary.h"

#include <cmath>
#include <numbers>

#include "mica/ops.h"

namespace mica {

namespace {
// The vjp of a holomorphic f takes the cotangent times conj(f'(x)), as in MLX; abs, whose
// output is real, takes sign(x) as it is (MLX's too).
array vjp_factor(const array& deriv, bool holomorphic) {
  return holomorphic && deriv.dtype() == complex64 ? conjugate(deriv) : deriv;
}
}  // namespace

// DERIV is f'(x) in terms of `x` (the input) and `out` (f(x)); OP builds the primitive; HOLO:
// whether f is holomorphic (its complex vjp conjugates DERIV).
#define MICA_UNARY_RULES_H(NAME, OP, DERIV, HOLO)                                                       \
  std::vector<array> NAME::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,  \
                               const std::vector<int>&, const std::vector<array>& outputs) {             \
    [[maybe_unused]] const array& x = primals[0];                                                        \
    [[maybe_unused]] const array& out = outputs[0];                                                      \
    return {multiply(cotangents[0], vjp_factor(DERIV, HOLO))};                                          \
  }                                                                                                      \
  std::vector<array> NAME::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,     \
                               const std::vector<int>&) {                                                \
    [[maybe_unused]] const array& x = primals[0];                                                        \
    [[maybe_unused]] array out = OP(x);                                                                  \
    return {multiply(tangents[0], DERIV)};                                                               \
  }                                                                                                      \
  std::pair<std::vector<array>, std::vector<int>> NAME::vmap(const std::vector<array>& inputs,          \
                                                             const std::vector<int>& axes) {             \
    return {{OP(inputs[0])}, {axes[0]}};                                                                 \
  }

#define MICA_UNARY_RULES(NAME, OP, DERIV) MICA_UNARY_RULES_H(NAME, OP, DERIV, true)

MICA_UNARY_RULES_H(Abs, abs, sign(x), false)
MICA_UNARY_RULES(ArcCos, arccos, -rsqrt(1.0 - square(x)))
MICA_UNARY_RULES(ArcCosh, arccosh, rsqrt(square(x) - 1.0))
MICA_UNARY_RULES(ArcSin, arcsin, rsqrt(1.0 - square(x)))
MICA_UNARY_RULES(ArcSinh, arcsinh, rsqrt(square(x) + 1.0))
MICA_UNARY_RULES(ArcTan, arctan, reciprocal(square(x) + 1.0))
MICA_UNARY_RULES(ArcTanh, arctanh, reciprocal(1.0 - square(x)))
MICA_UNARY_RULES(Cos, cos, -sin(x))
MICA_UNARY_RULES(Cosh, cosh, sinh(x))
MICA_UNARY_RULES(Erf, erf, (2.0 / std::sqrt(std::numbers::pi)) * exp(-square(x)))
MICA_UNARY_RULES(ErfInv, erfinv, (std::sqrt(std::numbers::pi) / 2.0) * exp(square(out)))
MICA_UNARY_RULES(Exp, exp, out)
MICA_UNARY_RULES(Expm1, expm1, out + 1.0)
MICA_UNARY_RULES(Log1p, log1p, reciprocal(x + 1.0))
MICA_UNARY_RULES(Negative, negative, detail::full_like_view(x, array(-1)))
MICA_UNARY_RULES(Sigmoid, sigmoid, out * (1.0 - out))
MICA_UNARY_RULES(Sin, sin, cos(x))
MICA_UNARY_RULES(Sinh, sinh, cosh(x))
MICA_UNARY_RULES(Square, square, 2.0 * x)
MICA_UNARY_RULES(Tan, tan, square(out) + 1.0)
MICA_UNARY_RULES(Tanh, tanh, 1.0 - square(out))
#undef MICA_UNARY_RULES
#undef MICA_UNARY_RULES_H

// Piecewise-constant (or non-numeric) outputs: the derivative is zero wherever it exists.
#define MICA_ZERO_GRAD_RULES(NAME, OP)                                                                  \
  std::vector<array> NAME::vjp(const std::vector<array>& primals, const std::vector<array>&,            \
                               const std::vector<int>&, const std::vector<array>&) {                     \
    return {detail::zeros_like_view(primals[0])};                                                                     \
  }                                                                                                      \
  std::vector<array> NAME::jvp(const std::vector<array>& primals, const std::vector<array>&,            \
                               const std::vector<int>&) {                                                \
    return {detail::zeros_like_view(OP(primals[0]))};                                                                 \
  }                                                                                                      \
  std::pair<std::vector<array>, std::vector<int>> NAME::vmap(const std::vector<array>& inputs,          \
                                                             const std::vector<int>& axes) {             \
    return {{OP(inputs[0])}, {axes[0]}};                                                                 \
  }

MICA_ZERO_GRAD_RULES(BitwiseInvert, bitwise_invert)
MICA_ZERO_GRAD_RULES(Ceil, ceil)
MICA_ZERO_GRAD_RULES(Floor, floor)
MICA_ZERO_GRAD_RULES(LogicalNot, logical_not)
MICA_ZERO_GRAD_RULES(Sign, sign)
MICA_ZERO_GRAD_RULES(Round, [](const array& a) { return round(a); })
#undef MICA_ZERO_GRAD_RULES

MICA_NO_RULE(StopGradient, vjp, "vjp and grad stop their walk at stop_gradient: no gradient flows through it")
MICA_NO_RULE(StopGradient, jvp, "jvp stops its walk at stop_gradient: its output has a zero tangent")
std::pair<std::vector<array>, std::vector<int>> StopGradient::vmap(const std::vector<array>& inputs,
                                                                   const std::vector<int>& axes) {
  return {{stop_gradient(inputs[0])}, {axes[0]}};
}

// Linear maps of complex numbers: the rule applies the (adjoint) map to the cotangent.
std::vector<array> Conjugate::vjp(const std::vector<array>&, const std::vector<array>& cotangents,
                                  const std::vector<int>&, const std::vector<array>&) {
  return {conjugate(cotangents[0])};
}
std::vector<array> Conjugate::jvp(const std::vector<array>&, const std::vector<array>& tangents,
                                  const std::vector<int>&) {
  return {conjugate(tangents[0])};
}
std::pair<std::vector<array>, std::vector<int>> Conjugate::vmap(const std::vector<array>& inputs,
                                                                const std::vector<int>& axes) {
  return {{conjugate(inputs[0])}, {axes[0]}};
}

std::vector<array> Real::vjp(const std::vector<array>&, const std::vector<array>& cotangents,
                             const std::vector<int>&, const std::vector<array>&) {
  return {astype(cotangents[0], complex64)};
}
std::vector<array> Real::jvp(const std::vector<array>&, const std::vector<array>& tangents,
                             const std::vector<int>&) {
  return {real(tangents[0])};
}
std::pair<std::vector<array>, std::vector<int>> Real::vmap(const std::vector<array>& inputs,
                                                           const std::vector<int>& axes) {
  return {{real(inputs[0])}, {axes[0]}};
}

std::vector<array> Imag::vjp(const std::vector<array>&, const std::vector<array>& cotangents,
                             const std::vector<int>&, const std::vector<array>&) {
  return {multiply(astype(cotangents[0], complex64), array(complex64_t{0.0f, 1.0f}))};
}
std::vector<array> Imag::jvp(const std::vector<array>&, const std::vector<array>& tangents,
                             const std::vector<int>&) {
  return {imag(tangents[0])};
}
std::pair<std::vector<array>, std::vector<int>> Imag::vmap(const std::vector<array>& inputs,
                                                           const std::vector<int>& axes) {
  return {{imag(inputs[0])}, {axes[0]}};
}

std::vector<array> Log::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                            const std::vector<int>& argnums, const std::vector<array>&) {
  double scale = base_ == e ? 1.0 : 1.0 / std::log(base_ == two ? 2.0 : 10.0);
  array d = divide(cotangents[0], vjp_factor(primals[0], true));
  return {scale == 1.0 ? d : d * scale};
}
std::vector<array> Log::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                            const std::vector<int>&) {
  double scale = base_ == e ? 1.0 : 1.0 / std::log(base_ == two ? 2.0 : 10.0);
  array d = divide(tangents[0], primals[0]);
  return {scale == 1.0 ? d : d * scale};
}
std::pair<std::vector<array>, std::vector<int>> Log::vmap(const std::vector<array>& inputs,
                                                          const std::vector<int>& axes) {
  const array& x = inputs[0];
  return {{base_ == e ? log(x) : base_ == two ? log2(x) : log10(x)}, {axes[0]}};
}

std::vector<array> Sqrt::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                             const std::vector<int>&, const std::vector<array>& outputs) {
  const array& out = outputs[0];
  // d sqrt(x) = 1 / (2 sqrt(x)); d x^-1/2 = -x^-1/2 / (2x)
  if (recip_) return {cotangents[0] * vjp_factor(-0.5 * out / primals[0], true)};
  return {cotangents[0] * vjp_factor(0.5 / out, true)};
}
std::vector<array> Sqrt::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                             const std::vector<int>&) {
  array out = recip_ ? rsqrt(primals[0]) : sqrt(primals[0]);
  if (recip_) return {tangents[0] * (-0.5 * out / primals[0])};
  return {tangents[0] * (0.5 / out)};
}
std::pair<std::vector<array>, std::vector<int>> Sqrt::vmap(const std::vector<array>& inputs,
                                                           const std::vector<int>& axes) {
  return {{recip_ ? rsqrt(inputs[0]) : sqrt(inputs[0])}, {axes[0]}};
}

std::vector<array> AsType::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                               const std::vector<int>&, const std::vector<array>&) {
  return {astype(cotangents[0], primals[0].dtype())};
}
std::vector<array> AsType::jvp(const std::vector<array>&, const std::vector<array>& tangents,
                               const std::vector<int>&) {
  return {astype(tangents[0], dtype_)};
}
std::pair<std::vector<array>, std::vector<int>> AsType::vmap(const std::vector<array>& inputs,
                                                             const std::vector<int>& axes) {
  return {{astype(inputs[0], dtype_)}, {axes[0]}};
}

}  // namespace mica
