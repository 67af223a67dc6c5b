// CPU kernel of Convolution: im2col + GEMM.
// input (N, *in_spatial, C_in), weight (C_out, *kernel, C_in / G), out (N, *out_spatial, C_out),
// all row-major. Rows of the column matrix are output positions (n, *o); each row holds, per
// group g, the kernel window as (*kernel, C_in / G) -- the same order as a weight row -- so
// group g is out[:, g] = col[:, g] @ weight[g]^T, one GEMM per group.
#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "mica/backend/cpu/copy.h"
#include "mica/backend/cpu/gemm.h"
#include "mica/backend/cpu/parallel.h"
#include "mica/primitives/conv.h"
#include "mica/types/cast.h"

namespace mica {

namespace {

struct ConvGeometry {
  int dims;
  int64_t n, c_in, c_out, groups, cg, og;
  int64_t in_sp[3], k_sp[3], out_sp[3];
  int64_t stride[3], lo[3], kdil[3], idil[3];
  int64_t kprod, kc, p;  // kernel positions, kernel window per group (kprod * cg), positions per image
  bool flip;
};

// Writes the column-matrix row for output position r (over N * P) into dst (G * kc values).
template <typename T, typename Acc>
void im2col_row(const ConvGeometry& g, const T* in, int64_t r, Acc* dst) {
  int64_t n = r / g.p, rem = r % g.p;
  int64_t o[3] = {0, 0, 0};
  for (int d = g.dims - 1; d >= 0; --d) {
    o[d] = rem % g.out_sp[d];
    rem /= g.out_sp[d];
  }
  int64_t kidx[3] = {0, 0, 0};
  for (int64_t kpos = 0; kpos < g.kprod; ++kpos) {
    // Input element this kernel tap reads, or none (padding / between dilated inputs).
    int64_t src = n;
    bool valid = true;
    for (int d = 0; d < g.dims; ++d) {
      int64_t kk = g.flip ? g.k_sp[d] - 1 - kidx[d] : kidx[d];
      int64_t q = o[d] * g.stride[d] - g.lo[d] + kk * g.kdil[d];
      if (q < 0 || q % g.idil[d] != 0 || q / g.idil[d] >= g.in_sp[d]) {
        valid = false;
        break;
      }
      src = src * g.in_sp[d] + q / g.idil[d];
    }
    for (int64_t grp = 0; grp < g.groups; ++grp) {
      Acc* out = dst + grp * g.kc + kpos * g.cg;
      if (!valid) {
        std::fill(out, out + g.cg, Acc(0));
      } else {
        const T* s = in + src * g.c_in + grp * g.cg;
        for (int64_t c = 0; c < g.cg; ++c) out[c] = cast_to<Acc>(s[c]);
      }
    }
    for (int d = g.dims - 1; d >= 0; --d) {
      if (++kidx[d] < g.k_sp[d]) break;
      kidx[d] = 0;
    }
  }
}

// T: storage type; Acc: the GEMM's type (float for the half types).
template <typename T, typename Acc>
void conv_gemm(const ConvGeometry& g, const array& in, const array& w, array& out) {
  constexpr bool direct = std::is_same_v<T, Acc>;
  const T* pin = in.data<T>();
  T* pout = out.data<T>();
  int64_t rows = g.n * g.p;
  std::vector<Acc> wconv;
  const Acc* pw;
  if constexpr (direct) {
    pw = w.data<T>();
  } else {
    wconv.resize(w.size());
    for (size_t i = 0; i < w.size(); ++i) wconv[i] = cast_to<Acc>(w.data<T>()[i]);
    pw = wconv.data();
  }
  int64_t row_len = g.groups * g.kc;
  bool pointwise = g.kprod == 1;
  for (int d = 0; d < g.dims; ++d) {
    pointwise = pointwise && g.stride[d] == 1 && g.lo[d] == 0 && g.idil[d] == 1 && g.out_sp[d] == g.in_sp[d];
  }
  if constexpr (direct) {
    // A 1x1 kernel without stride, padding or dilation reads the input as the column matrix.
    if (pointwise) {
      for (int64_t grp = 0; grp < g.groups; ++grp) {
        cpu::gemm(false, true, rows, g.og, g.cg, Acc(1), pin + grp * g.cg, g.c_in, pw + grp * g.og * g.kc, g.kc,
                  Acc(0), pout + grp * g.og, g.c_out);
      }
      return;
    }
  }
  // Column rows per chunk: bounded to ~16 MB of columns.
  int64_t budget = int64_t{1} << 22;
  int64_t chunk = std::clamp<int64_t>(budget / std::max<int64_t>(row_len, 1), 1, rows);
  std::vector<Acc> col(static_cast<size_t>(chunk * row_len));
  std::vector<Acc> obuf(direct ? 0 : static_cast<size_t>(chunk * g.c_out));
  int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(row_len, 1));
  for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
    int64_t nr = std::min(chunk, rows - r0);
    cpu::parallel_for(nr, grain, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) im2col_row<T, Acc>(g, pin, r0 + r, col.data() + r * row_len);
    });
    Acc* dst;
    if constexpr (direct) dst = pout + r0 * g.c_out;
    else dst = obuf.data();
    for (int64_t grp = 0; grp < g.groups; ++grp) {
      cpu::gemm(false, true, nr, g.og, g.kc, Acc(1), col.data() + grp * g.kc, row_len, pw + grp * g.og * g.kc, g.kc,
                Acc(0), dst + grp * g.og, g.c_out);
    }
    if constexpr (!direct) {
      T* o = pout + r0 * g.c_out;
      for (int64_t i = 0; i < nr * g.c_out; ++i) o[i] = cast_to<T>(obuf[i]);
    }
  }
}

}  // namespace

void Convolution::eval_cpu(const std::vector<array>& inputs, array& out) {
  array in = cpu::ensure_row_contiguous(inputs[0]);
  array w = cpu::ensure_row_contiguous(inputs[1]);
  out.set_data(allocator::malloc(out.nbytes()));
  if (out.size() == 0) return;
  ConvGeometry g{};
  g.dims = static_cast<int>(in.ndim()) - 2;
  g.n = in.shape(0);
  g.c_in = in.shape(-1);
  g.c_out = out.shape(-1);
  g.groups = groups_;
  g.cg = g.c_in / groups_;
  g.og = g.c_out / groups_;
  g.kprod = 1;
  g.p = 1;
  g.flip = flip_;
  for (int d = 0; d < g.dims; ++d) {
    g.in_sp[d] = in.shape(d + 1);
    g.k_sp[d] = w.shape(d + 1);
    g.out_sp[d] = out.shape(d + 1);
    g.stride[d] = stride_[d];
    g.lo[d] = padding_lo_[d];
    g.kdil[d] = kernel_dilation_[d];
    g.idil[d] = input_dilation_[d];
    g.kprod *= g.k_sp[d];
    g.p *= g.out_sp[d];
  }
  g.kc = g.kprod * g.cg;
  switch (out.dtype().val) {
    case Dtype::Val::float32: return conv_gemm<float, float>(g, in, w, out);
    case Dtype::Val::float16: return conv_gemm<float16_t, float>(g, in, w, out);
    case Dtype::Val::bfloat16: return conv_gemm<bfloat16_t, float>(g, in, w, out);
    case Dtype::Val::float64: return conv_gemm<double, double>(g, in, w, out);
    default:
      throw std::runtime_error("[conv] kernel got unsupported dtype " + dtype_to_string(out.dtype()) +
                               " (the op should have rejected it).");
  }
}

}  // namespace mica
