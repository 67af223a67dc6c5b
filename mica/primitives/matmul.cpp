// Transform rules of the matmul family. The inputs of both primitives are at least 2-D with
// equal batch dims (the ops reshape 1-D operands and broadcast the batch dims before building
// the node), so the rules work on (batch..., M, K) @ (batch..., K, N) and the broadcasting nodes
// in front of the primitive sum the cotangents back to the user's shapes.
#include "mica/primitives/matmul.h"

#include <optional>
#include <typeinfo>

#include "mica/ops.h"
#include "mica/primitives/movement.h"
#include "mica/primitives/rules.h"

namespace mica {

namespace {
array mT(const array& x) { return swapaxes(x, -1, -2); }

array scaled(const array& x, float s) { return s == 1.0f ? x : x * static_cast<double>(s); }

// Cotangent of a (k == 0) or b (k == 1) of out = a @ b, given the cotangent g of out.
array product_cotangent(const array& a, const array& b, const array& g, int k) {
  // When b is a transposed matrix (x @ W.T in a Linear layer), its cotangent is computed as
  // (g^T a)^T: the Transpose's own rule transposes it back, so W's gradient comes out
  // row-contiguous instead of as a strided view every consumer would copy.
  const bool b_transposed = k == 1 && b.ndim() == 2 && b.has_primitive() && typeid(b.primitive()) == typeid(Transpose);
  array r = k == 0 ? matmul(g, mT(b)) : b_transposed ? mT(matmul(mT(g), a)) : matmul(mT(a), g);
  return detail::unbroadcast(r, k == 0 ? a.shape() : b.shape());
}

// Tangent of a @ b from the tangents of the inputs in argnums (only 0 and 1 are products).
std::optional<array> product_tangent(const std::vector<array>& primals, const std::vector<array>& tangents,
                                     const std::vector<int>& argnums) {
  std::optional<array> t;
  for (size_t k = 0; k < argnums.size(); ++k) {
    if (argnums[k] > 1) continue;
    array term = argnums[k] == 0 ? matmul(tangents[k], primals[1]) : matmul(primals[0], tangents[k]);
    t = t ? add(*t, term) : term;
  }
  return t;
}

// Batched operands with the batch axis in front; an unbatched operand keeps its shape (matmul
// broadcasts it over the batch) unless `lead` asks for a leading size-1 axis.
array front(const array& x, int ax, bool lead = false) {
  if (ax >= 0) return detail::batch_to_front(x, ax);
  return lead ? expand_dims(x, 0) : x;
}
}  // namespace

std::vector<array> Matmul::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                               const std::vector<int>& argnums, const std::vector<array>&) {
  std::vector<array> r;
  for (int k : argnums) r.push_back(product_cotangent(primals[0], primals[1], cotangents[0], k));
  return r;
}

std::vector<array> Matmul::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                               const std::vector<int>& argnums) {
  return {*product_tangent(primals, tangents, argnums)};
}

std::pair<std::vector<array>, std::vector<int>> Matmul::vmap(const std::vector<array>& inputs,
                                                             const std::vector<int>& axes) {
  // (B, batch..., M, K) @ (batch..., K, N) broadcasts to (B, batch..., M, N), and vice versa.
  return {{matmul(front(inputs[0], axes[0]), front(inputs[1], axes[1]))}, {0}};
}

// out = alpha * (a @ b) + beta * c, with c already of out's shape.
std::vector<array> AddMM::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                              const std::vector<int>& argnums, const std::vector<array>&) {
  const array& g = cotangents[0];
  std::vector<array> r;
  for (int k : argnums) {
    if (k == 2) {
      r.push_back(detail::unbroadcast(scaled(g, beta_), primals[2].shape()));
    } else {
      r.push_back(product_cotangent(primals[0], primals[1], scaled(g, alpha_), k));
    }
  }
  return r;
}

std::vector<array> AddMM::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                              const std::vector<int>& argnums) {
  std::optional<array> t = product_tangent(primals, tangents, argnums);
  if (t) t = scaled(*t, alpha_);
  for (size_t k = 0; k < argnums.size(); ++k) {
    if (argnums[k] != 2) continue;
    array tc = scaled(tangents[k], beta_);
    t = t ? add(*t, tc) : tc;
  }
  Shape out = primals[2].shape();
  return {t->shape() == out ? *t : broadcast_to(*t, out)};
}

std::pair<std::vector<array>, std::vector<int>> AddMM::vmap(const std::vector<array>& inputs,
                                                            const std::vector<int>& axes) {
  array a = front(inputs[0], axes[0]);
  array b = front(inputs[1], axes[1]);
  array c = front(inputs[2], axes[2]);
  if (axes[0] < 0 && axes[1] < 0) {
    // Only c is batched: the product must carry the batch too, since addmm requires c to
    // broadcast to the product's shape. A broadcast a (stride 0) costs no copy.
    Shape s = a.shape();
    s.insert(s.begin(), c.shape(0));
    a = broadcast_to(expand_dims(a, 0), s);
  }
  return {{addmm(c, a, b, alpha_, beta_)}, {0}};
}

}  // namespace mica
