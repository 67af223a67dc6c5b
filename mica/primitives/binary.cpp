// Transform rules of the elementwise binary and ternary primitives. The kernels broadcast, so a
// cotangent is summed back to each input's shape (unbroadcast) and a tangent is broadcast to the
// output's shape. vmap aligns the batched inputs (batch axis first) and applies the same op.
#include "mica/primitives/binary.h"

#include <type_traits>

#include "mica/ops.h"
#include "mica/ops/utils.h"
#include "mica/primitives/rules.h"

namespace mica {

namespace {
Shape out_shape(const std::vector<array>& inputs) {
  std::vector<Shape> shapes;
  for (auto& x : inputs) shapes.push_back(x.shape());
  return broadcast_shapes(shapes);
}

// `partial(i)` is d out / d input i (broadcastable to the output). A complex partial enters the
// vjp conjugated, as in MLX (the cotangent of z * w for z is the cotangent times conj(w)).
template <typename Partial>
std::vector<array> vjp_partials(const std::vector<array>& primals, const array& cotangent,
                                const std::vector<int>& argnums, Partial partial) {
  std::vector<array> r;
  for (int a : argnums) {
    array d = partial(a);
    if (d.dtype() == complex64) d = conjugate(d);
    r.push_back(detail::unbroadcast(multiply(cotangent, d), primals[a].shape()));
  }
  return r;
}
template <typename Partial>
std::vector<array> jvp_partials(const std::vector<array>& primals, const std::vector<array>& tangents,
                                const std::vector<int>& argnums, Partial partial) {
  array t = multiply(tangents[0], partial(argnums[0]));
  for (size_t k = 1; k < argnums.size(); ++k) t = add(t, multiply(tangents[k], partial(argnums[k])));
  return {broadcast_to(t, out_shape(primals))};
}

template <typename Op>
std::pair<std::vector<array>, std::vector<int>> vmap_elementwise(const std::vector<array>& inputs,
                                                                 const std::vector<int>& axes, Op op) {
  auto in = detail::align_batched(inputs, axes);
  if constexpr (std::is_invocable_v<Op, array, array>) {
    return {{op(in[0], in[1])}, {0}};
  } else {
    return {{op(in[0], in[1], in[2])}, {0}};
  }
}
// Divide's inputs share one dtype; integer ones come from floor_divide (the kernel floors), so
// replaying the node must not turn them into a true division.
array divide_like(const array& a, const array& b) {
  return is_integral(a.dtype()) && is_integral(b.dtype()) ? floor_divide(a, b) : divide(a, b);
}
}  // namespace

// Rules from the partial derivatives: DA and DB in terms of a, b and out.
#define MICA_BINARY_RULES(NAME, OP, DA, DB)                                                             \
  std::vector<array> NAME::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,  \
                               const std::vector<int>& argnums, const std::vector<array>& outputs) {      \
    [[maybe_unused]] const array& a = primals[0];                                                        \
    [[maybe_unused]] const array& b = primals[1];                                                        \
    [[maybe_unused]] const array& out = outputs[0];                                                      \
    return vjp_partials(primals, cotangents[0], argnums, [&](int i) { return i == 0 ? (DA) : (DB); });   \
  }                                                                                                      \
  std::vector<array> NAME::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,     \
                               const std::vector<int>& argnums) {                                        \
    [[maybe_unused]] const array& a = primals[0];                                                        \
    [[maybe_unused]] const array& b = primals[1];                                                        \
    [[maybe_unused]] array out = OP(a, b);                                                               \
    return jvp_partials(primals, tangents, argnums, [&](int i) { return i == 0 ? (DA) : (DB); });        \
  }                                                                                                      \
  std::pair<std::vector<array>, std::vector<int>> NAME::vmap(const std::vector<array>& inputs,          \
                                                             const std::vector<int>& axes) {             \
    return vmap_elementwise(inputs, axes, [](const array& x, const array& y) { return OP(x, y); });      \
  }

MICA_BINARY_RULES(Multiply, multiply, b, a)
MICA_BINARY_RULES(Divide, divide_like, reciprocal(b), -out / b)
MICA_BINARY_RULES(Remainder, remainder, detail::ones_like_view(a), -floor_divide(a, b))
// d a^b / da = b a^(b-1); d a^b / db = a^b log a, taken as 0 where a <= 0 (where a^b is 0 or
// not real).
MICA_BINARY_RULES(Power, power, b * power(a, b - 1.0), where(a > 0.0, out * log(where(a > 0.0, a, detail::ones_like_view(a))), detail::zeros_like_view(out)))
// Ties send the gradient to the first argument.
MICA_BINARY_RULES(Maximum, maximum, astype(a >= b, out.dtype()), astype(a < b, out.dtype()))
MICA_BINARY_RULES(Minimum, minimum, astype(a <= b, out.dtype()), astype(a > b, out.dtype()))
MICA_BINARY_RULES(ArcTan2, arctan2, b / (square(a) + square(b)), -a / (square(a) + square(b)))
MICA_BINARY_RULES(LogAddExp, logaddexp, sigmoid(a - b), sigmoid(b - a))
#undef MICA_BINARY_RULES

// Sums and differences pass the (possibly negated) cotangent straight through.
std::vector<array> Add::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                            const std::vector<int>& argnums, const std::vector<array>&) {
  std::vector<array> r;
  for (int a : argnums) r.push_back(detail::unbroadcast(cotangents[0], primals[a].shape()));
  return r;
}
std::vector<array> Add::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                            const std::vector<int>&) {
  array t = tangents.size() == 2 ? add(tangents[0], tangents[1]) : tangents[0];
  return {broadcast_to(t, out_shape(primals))};
}
std::pair<std::vector<array>, std::vector<int>> Add::vmap(const std::vector<array>& inputs,
                                                          const std::vector<int>& axes) {
  return vmap_elementwise(inputs, axes, [](const array& x, const array& y) { return add(x, y); });
}

std::vector<array> Subtract::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                                 const std::vector<int>& argnums, const std::vector<array>&) {
  std::vector<array> r;
  for (int a : argnums) {
    r.push_back(detail::unbroadcast(a == 0 ? cotangents[0] : negative(cotangents[0]), primals[a].shape()));
  }
  return r;
}
std::vector<array> Subtract::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                                 const std::vector<int>& argnums) {
  array t = tangents.size() == 2 ? subtract(tangents[0], tangents[1])
                                 : (argnums[0] == 0 ? tangents[0] : negative(tangents[0]));
  return {broadcast_to(t, out_shape(primals))};
}
std::pair<std::vector<array>, std::vector<int>> Subtract::vmap(const std::vector<array>& inputs,
                                                               const std::vector<int>& axes) {
  return vmap_elementwise(inputs, axes, [](const array& x, const array& y) { return subtract(x, y); });
}

// Comparisons, logical and bitwise ops: boolean or integer outputs carry no gradient.
#define MICA_NO_GRAD_BINARY(NAME, MAKE)                                                                  \
  std::vector<array> NAME::vjp(const std::vector<array>& primals, const std::vector<array>&,             \
                               const std::vector<int>& argnums, const std::vector<array>&) {             \
    std::vector<array> r;                                                                                \
    for (int a : argnums) r.push_back(detail::zeros_like_view(primals[a]));                                           \
    return r;                                                                                            \
  }                                                                                                      \
  std::vector<array> NAME::jvp(const std::vector<array>& primals, const std::vector<array>&,             \
                               const std::vector<int>&) {                                                \
    return {detail::zeros_like_view(MAKE(primals[0], primals[1]))};                                                   \
  }                                                                                                      \
  std::pair<std::vector<array>, std::vector<int>> NAME::vmap(const std::vector<array>& inputs,          \
                                                             const std::vector<int>& axes) {             \
    return vmap_elementwise(inputs, axes, [this](const array& x, const array& y) { return MAKE(x, y); }); \
  }

MICA_NO_GRAD_BINARY(NotEqual, not_equal)
MICA_NO_GRAD_BINARY(Greater, greater)
MICA_NO_GRAD_BINARY(GreaterEqual, greater_equal)
MICA_NO_GRAD_BINARY(Less, less)
MICA_NO_GRAD_BINARY(LessEqual, less_equal)
MICA_NO_GRAD_BINARY(LogicalAnd, logical_and)
MICA_NO_GRAD_BINARY(LogicalOr, logical_or)
// Rebuild these two with their parameters.
#define MICA_EQUAL(x, y) \
  array(broadcast_shapes(x.shape(), y.shape()), bool_, std::make_shared<Equal>(stream(), equal_nan_), {x, y})
MICA_NO_GRAD_BINARY(Equal, MICA_EQUAL)
#undef MICA_EQUAL
#define MICA_BITWISE(x, y) \
  array(broadcast_shapes(x.shape(), y.shape()), x.dtype(), std::make_shared<BitwiseBinary>(stream(), op_), {x, y})
MICA_NO_GRAD_BINARY(BitwiseBinary, MICA_BITWISE)
#undef MICA_BITWISE
#undef MICA_NO_GRAD_BINARY

// Outputs: (floor(a / b), a - b floor(a / b)). The quotient is piecewise constant.
std::vector<array> DivMod::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                               const std::vector<int>& argnums, const std::vector<array>& outputs) {
  const array& c = cotangents[1];
  std::vector<array> r;
  for (int a : argnums) {
    array g = a == 0 ? c : negative(multiply(c, outputs[0]));
    r.push_back(detail::unbroadcast(g, primals[a].shape()));
  }
  return r;
}
std::vector<array> DivMod::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                               const std::vector<int>& argnums) {
  Shape s = out_shape(primals);
  array q = floor_divide(primals[0], primals[1]);
  array t = detail::zeros_view(s, q.dtype());
  for (size_t k = 0; k < argnums.size(); ++k) {
    t = add(t, argnums[k] == 0 ? tangents[k] : negative(multiply(tangents[k], q)));
  }
  return {detail::zeros_view(s, q.dtype()), t};
}
std::pair<std::vector<array>, std::vector<int>> DivMod::vmap(const std::vector<array>& inputs,
                                                             const std::vector<int>& axes) {
  auto in = detail::align_batched(inputs, axes);
  return {divmod(in[0], in[1]), {0, 0}};
}

// where(cond, x, y): the condition carries no gradient; x and y get the cotangent where chosen.
std::vector<array> Select::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                               const std::vector<int>& argnums, const std::vector<array>&) {
  const array& cond = primals[0];
  const array& c = cotangents[0];
  std::vector<array> r;
  for (int a : argnums) {
    if (a == 0) {
      r.push_back(detail::zeros_like_view(cond));
      continue;
    }
    array z = detail::zeros_like_view(c);
    r.push_back(detail::unbroadcast(a == 1 ? where(cond, c, z) : where(cond, z, c), primals[a].shape()));
  }
  return r;
}
std::vector<array> Select::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                               const std::vector<int>& argnums) {
  Shape s = out_shape(primals);
  Dtype d = primals[1].dtype();
  array tx = detail::zeros_view(s, d);
  array ty = detail::zeros_view(s, d);
  for (size_t k = 0; k < argnums.size(); ++k) {
    if (argnums[k] == 1) tx = broadcast_to(tangents[k], s);
    if (argnums[k] == 2) ty = broadcast_to(tangents[k], s);
  }
  return {where(primals[0], tx, ty)};
}
std::pair<std::vector<array>, std::vector<int>> Select::vmap(const std::vector<array>& inputs,
                                                             const std::vector<int>& axes) {
  return vmap_elementwise(inputs, axes,
                          [](const array& c, const array& x, const array& y) { return where(c, x, y); });
}

}  // namespace mica
