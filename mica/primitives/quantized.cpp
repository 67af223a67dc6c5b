// Transform rules of QuantizedMatmul (inputs x, w, scales, biases; see quantized.h). With
// W = scales * q + biases group by group (rows x cols per batch entry: (N, K) transposed,
// (K, N) otherwise):
//   x:      the cotangent times W from the other side: quantized_matmul(g, w, ..., !transpose);
//   scales: sum over each group of dW * q, biases: sum over each group of dW, where dW is the
//           cotangent of the dequantized matrix (g^T x or x^T g, summed over x's extra rows);
//   w:      packed integers have no gradient (MLX raises as well).
// Tangents of scales and biases reuse the product with the other quantities zeroed.
#include "mica/primitives/quantized.h"

#include <stdexcept>

#include "mica/ops.h"
#include "mica/primitives/rules.h"

namespace mica {

namespace {
[[noreturn]] void no_weight_grad() {
  throw std::invalid_argument(
      "[quantized_matmul] expected derivatives with respect to x, scales or biases only, got one with respect to "
      "the packed weights w (integers have no derivative).");
}

// (..., rows, groups * gs) -> (..., rows, groups, gs)
array grouped(const array& a, int gs) {
  Shape s = a.shape();
  s.back() /= gs;
  s.push_back(gs);
  return reshape(a, s);
}

// The cotangent of the dequantized matrix (rows x cols, with w's batch dims).
array matrix_cotangent(const array& x, const array& w, const array& g, bool transpose) {
  array xs = x, gs = g;
  if (w.ndim() == 2) {
    // x's leading dims are all rows of one product: fold them.
    xs = reshape(x, {-1, x.shape(-1)});
    gs = reshape(g, {-1, g.shape(-1)});
  }
  return transpose ? matmul(swapaxes(gs, -1, -2), xs) : matmul(swapaxes(xs, -1, -2), gs);
}
}  // namespace

std::vector<array> QuantizedMatmul::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                                        const std::vector<int>& argnums, const std::vector<array>&) {
  const array &x = primals[0], &w = primals[1], &sc = primals[2], &bi = primals[3];
  const array& g = cotangents[0];
  std::vector<array> r;
  std::optional<array> dw;
  for (int k : argnums) {
    if (k == 0) {
      r.push_back(astype(quantized_matmul(g, w, sc, bi, !transpose_, group_size_, bits_), x.dtype()));
      continue;
    }
    if (k == 1) no_weight_grad();
    if (!dw) dw = matrix_cotangent(x, w, g, transpose_);
    if (k == 2) {
      array q = dequantize(w, detail::ones_like_view(sc, float32), detail::zeros_like_view(sc, float32), group_size_, bits_);
      r.push_back(astype(sum(grouped(multiply(*dw, q), group_size_), -1), sc.dtype()));
    } else {
      r.push_back(astype(sum(grouped(*dw, group_size_), -1), bi.dtype()));
    }
  }
  return r;
}

std::vector<array> QuantizedMatmul::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                                        const std::vector<int>& argnums) {
  const array &x = primals[0], &w = primals[1], &sc = primals[2], &bi = primals[3];
  std::optional<array> t;
  for (size_t i = 0; i < argnums.size(); ++i) {
    const array& d = tangents[i];
    array term = x;
    switch (argnums[i]) {
      case 0:
        term = quantized_matmul(d, w, sc, bi, transpose_, group_size_, bits_);
        break;
      case 1:
        no_weight_grad();
      case 2:  // (d * q) with zero biases
        term = quantized_matmul(x, w, d, detail::zeros_like_view(d), transpose_, group_size_, bits_);
        break;
      default:  // d alone: zero q and scales
        term = quantized_matmul(x, detail::zeros_like_view(w), detail::zeros_like_view(d), d, transpose_, group_size_, bits_);
    }
    t = t ? add(*t, term) : term;
  }
  Dtype out = result_type({x, sc, bi});
  if (!is_floating(out)) out = float32;
  return {astype(*t, out)};
}

std::pair<std::vector<array>, std::vector<int>> QuantizedMatmul::vmap(const std::vector<array>& inputs,
                                                                      const std::vector<int>& axes) {
  // Every input gets a leading batch axis (size 1 where unbatched) and the same number of
  // batch dims after it, so the op's batch broadcasting pairs them up.
  std::vector<array> in;
  for (size_t i = 0; i < 4; ++i) {
    in.push_back(axes[i] >= 0 ? detail::batch_to_front(inputs[i], axes[i]) : expand_dims(inputs[i], 0));
  }
  if (axes[1] < 0 && axes[2] < 0 && axes[3] < 0) {
    // Only x is batched: the weights stay unbatched and x's batch becomes more rows.
    return {{quantized_matmul(in[0], inputs[1], inputs[2], inputs[3], transpose_, group_size_, bits_)}, {0}};
  }
  const int nd = static_cast<int>(std::max(in[0].ndim(), in[1].ndim()));
  for (auto& a : in) {
    if (static_cast<int>(a.ndim()) < nd) {
      std::vector<int> ax;
      for (int d = 1; d <= nd - static_cast<int>(a.ndim()); ++d) ax.push_back(d);
      a = expand_dims(a, ax);
    }
  }
  return {{quantized_matmul(in[0], in[1], in[2], in[3], transpose_, group_size_, bits_)}, {0}};
}

}  // namespace mica
