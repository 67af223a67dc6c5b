// Transform rules of Convolution. Per spatial dim d the forward reads, for output position o and
// kernel tap k, the input-dilated, padded input at q = o * stride - lo + kk(k) * kdil, where
// kk(k) = k (or K - 1 - k when flip). Both gradients are convolutions again:
// - input: the cotangent, dilated by the stride, convolved with the kernel reversed (flip
//   toggled) and its channels swapped per group; the new stride is the input dilation.
// - weight: batch and channels trade places (input (C_in/G, *in, G*N), "kernel" the cotangent
//   (C_out, *out, N)); the new stride is the kernel dilation and the new kernel dilation the
//   stride, so each output position is one kernel tap.
// vmap folds the batch into the convolution's batch (input batched), its output channels
// (weight batched) or its groups (both).
#include "mica/primitives/conv.h"

#include <numeric>
#include <optional>

#include "mica/ops.h"
#include "mica/primitives/rules.h"

namespace mica {

namespace {
// 1, 2, ..., n: the spatial axes of a channels-last array.
std::vector<int> spatial_axes(int dims) {
  std::vector<int> v(dims);
  std::iota(v.begin(), v.end(), 1);
  return v;
}

int64_t dilated(int64_t n, int64_t dil) { return n == 0 ? 0 : (n - 1) * dil + 1; }
}  // namespace

std::vector<array> Convolution::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                                    const std::vector<int>& argnums, const std::vector<array>&) {
  const array& x = primals[0];
  const array& w = primals[1];
  const array& g = cotangents[0];
  int dims = static_cast<int>(x.ndim()) - 2;
  int G = groups_;
  int c_in = x.shape(-1), c_out = w.shape(0);
  int cg = c_in / G, og = c_out / G;
  int n = x.shape(0);
  std::vector<int> sp = spatial_axes(dims);
  auto conv_node = [&](const array& in, const array& wt, Shape shape, std::vector<int> stride, std::vector<int> lo,
                       std::vector<int> hi, std::vector<int> kdil, std::vector<int> idil, int groups, bool flip) {
    return array(std::move(shape), in.dtype(),
                 std::make_shared<Convolution>(stream(), std::move(stride), std::move(lo), std::move(hi),
                                               std::move(kdil), std::move(idil), groups, flip),
                 {in, wt});
  };

  std::vector<array> r;
  for (int a : argnums) {
    if (a == 0) {
      // w (C_out, *K, cg) -> (G, og, *K, cg) -> (G, cg, *K, og) -> (C_in, *K, og).
      Shape s5 = {G, og};
      for (int d : sp) s5.push_back(w.shape(d));
      s5.push_back(cg);
      std::vector<int> perm = {0, dims + 2};
      for (int d : sp) perm.push_back(d + 1);
      perm.push_back(1);
      Shape ws = {c_in};
      for (int d : sp) ws.push_back(w.shape(d));
      ws.push_back(og);
      array wt = reshape(transpose(reshape(w, s5), perm), ws);
      std::vector<int> lo(dims), hi(dims);
      for (int d = 0; d < dims; ++d) {
        int64_t k_dil = dilated(w.shape(d + 1), kernel_dilation_[d]);
        int64_t c_dil = dilated(g.shape(d + 1), stride_[d]);
        lo[d] = static_cast<int>(k_dil - 1 - padding_lo_[d]);
        hi[d] = static_cast<int>((x.shape(d + 1) - 1) * int64_t{input_dilation_[d]} + k_dil - c_dil - lo[d]);
      }
      if (x.size() == 0) {
        r.push_back(detail::zeros_like_view(x));
      } else {
        r.push_back(conv_node(g, wt, x.shape(), input_dilation_, lo, hi, kernel_dilation_, stride_, G, !flip_));
      }
    } else {
      // x (N, *in, C_in) -> (N, *in, G, cg) -> (cg, *in, G, N) -> (cg, *in, G * N).
      Shape xs5 = {n};
      for (int d : sp) xs5.push_back(x.shape(d));
      Shape xs = xs5;
      xs5.push_back(G);
      xs5.push_back(cg);
      std::vector<int> xperm = {dims + 2};
      for (int d : sp) xperm.push_back(d);
      xperm.push_back(dims + 1);
      xperm.push_back(0);
      xs[0] = cg;
      xs.push_back(G * n);
      array xt = reshape(transpose(reshape(x, xs5), xperm), xs);
      // g (N, *out, C_out) -> (N, *out, G, og) -> (G, og, *out, N) -> (C_out, *out, N).
      Shape gs5 = {n};
      for (int d : sp) gs5.push_back(g.shape(d));
      Shape gs = gs5;
      gs5.push_back(G);
      gs5.push_back(og);
      std::vector<int> gperm = {dims + 1, dims + 2};
      for (int d : sp) gperm.push_back(d);
      gperm.push_back(0);
      gs[0] = c_out;
      gs.push_back(n);
      array gt = reshape(transpose(reshape(g, gs5), gperm), gs);
      std::vector<int> hi(dims);
      Shape out = {cg};
      for (int d = 0; d < dims; ++d) {
        int64_t k = w.shape(d + 1);
        int64_t c_dil = dilated(g.shape(d + 1), stride_[d]);
        int64_t in_dil = dilated(x.shape(d + 1), input_dilation_[d]);
        hi[d] = static_cast<int>((k - 1) * kernel_dilation_[d] + c_dil - in_dil - padding_lo_[d]);
        out.push_back(static_cast<int>(k));
      }
      out.push_back(c_out);
      if (x.size() == 0 || g.size() == 0) {
        r.push_back(detail::zeros_like_view(w));
        continue;
      }
      // (cg, *K, C_out) -> (C_out, *K, cg); output position t is the tap with offset t.
      array dw = conv_node(xt, gt, out, kernel_dilation_, padding_lo_, hi, stride_, input_dilation_, G, false);
      std::vector<int> back = {dims + 1};
      for (int d : sp) back.push_back(d);
      back.push_back(0);
      dw = transpose(dw, back);
      r.push_back(flip_ ? mica::flip(dw, sp) : dw);
    }
  }
  return r;
}

std::vector<array> Convolution::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                                    const std::vector<int>& argnums) {
  // Bilinear: d conv(x, w) = conv(dx, w) + conv(x, dw).
  Shape out = out_shape(primals[0].shape(), primals[1].shape());
  std::optional<array> t;
  for (size_t k = 0; k < argnums.size(); ++k) {
    array in = argnums[k] == 0 ? tangents[k] : primals[0];
    array wt = argnums[k] == 1 ? tangents[k] : primals[1];
    array term = same(in, wt, out, groups_);
    t = t ? add(*t, term) : term;
  }
  return {*t};
}

std::pair<std::vector<array>, std::vector<int>> Convolution::vmap(const std::vector<array>& inputs,
                                                                  const std::vector<int>& axes) {
  array x = detail::batch_to_front(inputs[0], axes[0]);
  array w = detail::batch_to_front(inputs[1], axes[1]);
  bool bx = axes[0] >= 0, bw = axes[1] >= 0;
  int B = bx ? x.shape(0) : w.shape(0);
  int dims = static_cast<int>(x.ndim()) - (bx ? 3 : 2);
  int G = groups_;
  auto tail = [](const array& a, int from) { return Shape(a.shape().begin() + from, a.shape().end()); };
  if (bx && !bw) {
    // (B, N, *in, C) -> (B * N, *in, C): the batch joins the convolution's batch.
    Shape xs = tail(x, 1);
    xs[0] *= B;
    array xf = reshape(x, xs);
    array out = same(xf, w, out_shape(xf.shape(), w.shape()), G);
    Shape os = out.shape();
    os[0] /= B;
    os.insert(os.begin(), B);
    return {{reshape(out, os)}, {0}};
  }
  if (!bx && bw) {
    // (B, C_out, *K, cg) -> (G, B, og, *K, cg) -> (G * B * og, *K, cg): the batch joins the
    // output channels of each group.
    int c_out = w.shape(1), og = c_out / G;
    Shape ks = tail(w, 2);  // (*K, cg)
    Shape w6 = {B, G, og};
    w6.insert(w6.end(), ks.begin(), ks.end());
    std::vector<int> perm = {1, 0};
    for (int d = 2; d < static_cast<int>(w6.size()); ++d) perm.push_back(d);
    Shape wf = {G * B * og};
    wf.insert(wf.end(), ks.begin(), ks.end());
    array wt = reshape(transpose(reshape(w, w6), perm), wf);
    array out = same(x, wt, out_shape(x.shape(), wt.shape()), G);
    // (N, *out, G * B * og) -> (N, *out, G, B, og) -> (B, N, *out, G, og) -> (B, N, *out, C_out).
    Shape os = out.shape();
    os.pop_back();
    Shape o5 = os;
    o5.insert(o5.end(), {G, B, og});
    std::vector<int> operm = {dims + 2};
    for (int d = 0; d <= dims; ++d) operm.push_back(d);
    operm.push_back(dims + 1);
    operm.push_back(dims + 3);
    os.insert(os.begin(), B);
    os.push_back(c_out);
    return {{reshape(transpose(reshape(out, o5), operm), os)}, {0}};
  }
  // Both batched: (B, N, *in, C) -> (N, *in, B * C) and (B, C_out, *K, cg) -> (B * C_out, *K, cg)
  // with B * G groups, so batch member b convolves only its own channels.
  int c_in = x.shape(-1);
  array xm = moveaxis(x, 0, dims + 1);
  Shape xs = tail(xm, 0);
  xs.pop_back();
  xs.back() *= c_in;
  array xf = reshape(xm, xs);
  Shape ws = tail(w, 1);
  ws[0] *= B;
  array wf = reshape(w, ws);
  array out = same(xf, wf, out_shape(xf.shape(), wf.shape()), B * G);
  Shape os = out.shape();
  int c_out = os.back() / B;
  os.back() = B;
  os.push_back(c_out);
  return {{moveaxis(reshape(out, os), dims + 1, 0)}, {0}};
}

Shape Convolution::out_shape(const Shape& in, const Shape& w) const {
  int dims = static_cast<int>(in.size()) - 2;
  Shape out = {in[0]};
  for (int d = 0; d < dims; ++d) {
    int64_t padded = dilated(in[d + 1], input_dilation_[d]) + padding_lo_[d] + padding_hi_[d];
    out.push_back(static_cast<int>((padded - dilated(w[d + 1], kernel_dilation_[d])) / stride_[d] + 1));
  }
  out.push_back(w[0]);
  return out;
}

array Convolution::same(const array& in, const array& w, Shape out, int groups) {
  return array(std::move(out), in.dtype(),
               std::make_shared<Convolution>(stream(), stride_, padding_lo_, padding_hi_, kernel_dilation_,
                                             input_dilation_, groups, flip_),
               {in, w});
}

}  // namespace mica
