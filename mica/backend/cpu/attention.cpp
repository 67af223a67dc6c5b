// CPU kernels of the attention family, flash-attention style: the (L_q, L_kv) score matrix is
// never formed. q (B, N_q, L_q, D), k (B, N_kv, L_kv, D), v (B, N_kv, L_kv, D_v) are read as
// row-major compute-type copies (float for float32 and the half types, double for float64; no
// copy when already so); the mask (4-D, dims 1 or full) is read in place through its strides.
// Forward: for each (batch, head, block of kBlockQ query rows), loop over key blocks keeping the
// running max, running sum and output accumulator (online softmax); the two GEMMs of each tile
// go through cpu::gemm. Backward (flash-attention 2): for each (batch, kv head, key block),
// recompute P = exp(S - lse) for every query head of the group, then dV += P^T dO,
// dS = P (dO V^T - rowsum(dO O) + dlse), dK += scale dS^T Q and dQ += scale dS K.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "mica/backend/cpu/copy.h"
#include "mica/backend/cpu/dispatch_float.h"
#include "mica/backend/cpu/gemm.h"
#include "mica/backend/cpu/parallel.h"
#include "mica/backend/cpu/reduce.h"
#include "mica/primitives/attention.h"
#include "mica/types/cast.h"

namespace mica {

namespace {
using cpu::dispatch_float;
using cpu::red::exp_of;
using cpu::red::row_max;

// Tiles (measured on the 2-core VM at B=1, H=12, L=1024, D=64; larger ones cost more under a
// causal mask, smaller ones make the GEMM calls less efficient).
constexpr int64_t kBlockQ = 128;   // forward: query rows per task
constexpr int64_t kBlockK = 256;   // forward: keys per tile
constexpr int64_t kBlockKB = 128;  // backward: keys per tile (the rows of dK and dV a task owns)
constexpr int64_t kBlockQB = 512;  // backward: query rows per tile
constexpr int64_t kMaxSplits = 8;  // backward: parts of a kv head's keys run apart (each its own dQ)

// `a` as a row-major array of dtype c (itself when it is one already).
array as_compute(const array& a, Dtype c) {
  if (a.dtype() == c && a.flags().row_contiguous) return a;
  array out(allocator::malloc(a.size() * c.size), a.shape(), c);
  cpu::copy_into(a, out);
  return out;
}

// Sizes shared by the kernels. Query head h reads kv head h / r; causal query i sees keys
// j <= i + off.
struct Geometry {
  int64_t b, nq, nkv, lq, lkv, d, dv, r, off;
  bool causal;
  explicit Geometry(const std::vector<array>& in, bool causal_)
      : b(in[0].shape(0)), nq(in[0].shape(1)), nkv(in[1].shape(1)), lq(in[0].shape(2)), lkv(in[1].shape(2)),
        d(in[0].shape(3)), dv(in[2].shape(3)), r(nkv ? nq / nkv : 1), off(lkv - lq), causal(causal_) {}
  // Query block [i0, i0 + m) holds a row that sees no key at all (so it attends to every key).
  bool has_blind_rows(int64_t i0) const { return causal && i0 + off < 0; }
  // Keys the rows [i0, i0 + m) can see: [0, key_end).
  int64_t key_end(int64_t i0, int64_t m) const {
    if (!causal || has_blind_rows(i0)) return lkv;
    return std::min(lkv, i0 + m + off);
  }
};

// The mask read in place: element (b, h, i, j) at p + b s0 + h s1 + i s2 + j s3 (broadcast dims
// have stride 0). Bool masks write `lowest` where false; others are added.
template <typename T>
struct MaskView {
  const bool* bp = nullptr;
  const T* tp = nullptr;
  int64_t st[4] = {0, 0, 0, 0};
  explicit MaskView(const array* m) {
    if (!m) return;
    for (int i = 0; i < 4; ++i) st[i] = m->shape(i) == 1 ? 0 : m->strides(i);
    if (m->dtype() == bool_) bp = m->data<bool>();
    else tp = m->data<T>();
  }
  bool present() const { return bp || tp; }
};

// Applies the mask (or the causal rule) to the (m, n) tile S (leading dim ld) of rows i0.. and
// keys j0.. of batch b, head h. Masked positions get `lowest`, as MLX's where(mask, s, min).
template <typename T, typename C>
void apply_mask(C* S, int64_t ld, int64_t m, int64_t n, int64_t i0, int64_t j0, int64_t b, int64_t h,
                const Geometry& g, const MaskView<T>& mk, C lowest) {
  if (mk.present()) {
    const int64_t base = b * mk.st[0] + h * mk.st[1] + j0 * mk.st[3];
    for (int64_t r = 0; r < m; ++r) {
      const int64_t row = base + (i0 + r) * mk.st[2];
      C* __restrict s = S + r * ld;
      const int64_t sj = mk.st[3];
      if (mk.bp && sj == 1) {
        const bool* __restrict bp = mk.bp + row;
        for (int64_t c = 0; c < n; ++c) s[c] = bp[c] ? s[c] : lowest;
      } else if (mk.bp) {
        for (int64_t c = 0; c < n; ++c) s[c] = mk.bp[row + c * sj] ? s[c] : lowest;
      } else if (sj == 1) {
        const T* __restrict tp = mk.tp + row;
        for (int64_t c = 0; c < n; ++c) s[c] += cast_to<C>(tp[c]);
      } else {
        for (int64_t c = 0; c < n; ++c) s[c] += cast_to<C>(mk.tp[row + c * sj]);
      }
    }
  }
  if (g.causal && j0 + n - 1 > i0 + g.off) {
    for (int64_t r = 0; r < m; ++r) {
      const int64_t first = std::clamp<int64_t>(i0 + r + g.off + 1 - j0, 0, n);  // first hidden key
      std::fill(S + r * ld + first, S + r * ld + n, lowest);
    }
  }
}

// s[c] = exp(s[c] - ref) for c < n, returning their sum: one pass, with independent partial
// sums so that the loop vectorizes without reassociation.
template <typename C>
C exp_and_sum(C* __restrict s, int64_t n, C ref) {
  constexpr int K = 32 / sizeof(C) * 2;
  C acc[K] = {};
  int64_t c = 0;
  for (; c + K <= n; c += K) {
    for (int k = 0; k < K; ++k) {
      const C p = exp_of(s[c + k] - ref);
      s[c + k] = p;
      acc[k] += p;
    }
  }
  for (; c < n; ++c) {
    s[c] = exp_of(s[c] - ref);
    acc[0] += s[c];
  }
  for (int w = K / 2; w > 0; w /= 2) {
    for (int k = 0; k < w; ++k) acc[k] += acc[k + w];
  }
  return acc[0];
}

// Runs task(t, worker) for t in [0, n) on the pool, handing tasks out one at a time so that
// uneven tasks (causal blocks) balance; worker indexes per-thread scratch.
template <typename F>
void run_tasks(int64_t n, F&& task) {
  const int64_t workers = std::min<int64_t>(cpu::num_threads(), n);
  std::atomic<int64_t> next{0};
  cpu::parallel_for(workers, 1, [&](int64_t w0, int64_t w1) {
    for (int64_t w = w0; w < w1; ++w) {
      for (int64_t t; (t = next.fetch_add(1)) < n;) task(t, w);
    }
  });
}

template <typename T, typename C>
void sdpa_forward(const std::vector<array>& inputs, std::vector<array>& outputs, C scale, bool causal,
                  bool has_mask, bool has_sinks) {
  const Geometry g(inputs, causal);
  const Dtype cd = TypeToDtype<C>();
  const array q = as_compute(inputs[0], cd), k = as_compute(inputs[1], cd), v = as_compute(inputs[2], cd);
  const array* mask = has_mask ? &inputs[3] : nullptr;
  const MaskView<T> mk(mask);
  std::vector<C> sinks;
  if (has_sinks) {
    array s = as_compute(inputs.back(), cd);
    sinks.assign(s.data<C>(), s.data<C>() + g.nq);
  }
  for (auto& o : outputs) o.set_data(allocator::malloc(o.nbytes()));
  const C lowest = static_cast<C>(finfo(inputs[0].dtype()).min);
  const bool hides = causal || (mask && mask->dtype() == bool_);
  const C* Q = q.data<C>();
  const C* K = k.data<C>();
  const C* V = v.data<C>();
  T* O = outputs[0].data<T>();
  C* LSE = outputs[1].data<C>();
  const int64_t nqb = (g.lq + kBlockQ - 1) / kBlockQ;
  const int64_t tasks = g.b * g.nq * nqb;
  // Per-worker scratch: the score tile (becomes P in place), the output accumulator, row stats.
  const int64_t workers = std::max<int64_t>(1, std::min<int64_t>(cpu::num_threads(), tasks));
  std::vector<std::vector<C>> s_buf(workers, std::vector<C>(kBlockQ * kBlockK));
  std::vector<std::vector<C>> acc_buf(workers, std::vector<C>(std::max<int64_t>(1, kBlockQ * g.dv)));
  std::vector<std::vector<C>> row_buf(workers, std::vector<C>(2 * kBlockQ));
  run_tasks(tasks, [&](int64_t t, int64_t w) {
    // Later query blocks first: under a causal mask they are the longest.
    const int64_t bh = t / nqb, qb = nqb - 1 - t % nqb;
    const int64_t b = bh / g.nq, h = bh % g.nq, kvh = h / g.r;
    const int64_t i0 = qb * kBlockQ, m = std::min(kBlockQ, g.lq - i0);
    const C* Qp = Q + (bh * g.lq + i0) * g.d;
    const C* Kp = K + (b * g.nkv + kvh) * g.lkv * g.d;
    const C* Vp = V + (b * g.nkv + kvh) * g.lkv * g.dv;
    C* S = s_buf[w].data();
    C* acc = acc_buf[w].data();
    C* mrow = row_buf[w].data();
    C* lrow = mrow + kBlockQ;
    std::fill(acc, acc + m * g.dv, C(0));
    for (int64_t r = 0; r < m; ++r) {
      mrow[r] = has_sinks ? sinks[h] : -std::numeric_limits<C>::infinity();
      lrow[r] = has_sinks ? C(1) : C(0);
    }
    const int64_t kend = g.key_end(i0, m);
    for (int64_t j0 = 0; j0 < kend; j0 += kBlockK) {
      const int64_t n = std::min(kBlockK, kend - j0);
      cpu::gemm(false, true, m, n, g.d, scale, Qp, g.d, Kp + j0 * g.d, g.d, C(0), S, kBlockK);
      apply_mask<T, C>(S, kBlockK, m, n, i0, j0, b, h, g, mk, lowest);
      for (int64_t r = 0; r < m; ++r) {
        C* s = S + r * kBlockK;
        const C mn = std::max(mrow[r], row_max(s, n));
        // A row with only -inf so far keeps 0 as its reference, so that exp gives 0, not NaN.
        const C ref = mn == -std::numeric_limits<C>::infinity() ? C(0) : mn;
        const C alpha = exp_of(mrow[r] - ref);
        lrow[r] = lrow[r] * alpha + exp_and_sum(s, n, ref);
        mrow[r] = mn;
        if (alpha != C(1)) {
          C* a = acc + r * g.dv;
          for (int64_t c = 0; c < g.dv; ++c) a[c] *= alpha;
        }
      }
      cpu::gemm(false, false, m, g.dv, n, C(1), S, kBlockK, Vp + j0 * g.dv, g.dv, C(1), acc, g.dv);
    }
    for (int64_t r = 0; r < m; ++r) {
      // No keys at all: the output is 0 (an empty sum), as MLX's composition gives.
      const C inv = g.lkv == 0 ? C(0) : C(1) / lrow[r];
      T* o = O + (bh * g.lq + i0 + r) * g.dv;
      for (int64_t c = 0; c < g.dv; ++c) o[c] = cast_to<T>(acc[r * g.dv + c] * inv);
      // A row whose keys are all hidden saves lse = lowest exactly (its true lse, lowest + log L_kv,
      // need not be representable): the backward pass recognizes it and uses P = 1 / L_kv.
      LSE[bh * g.lq + i0 + r] = hides && mrow[r] == lowest ? lowest : mrow[r] + std::log(lrow[r]);
    }
  });
}

template <typename T, typename C>
void sdpa_backward(const std::vector<array>& inputs, std::vector<array>& outputs, C scale, bool causal,
                   bool has_mask, bool has_sinks) {
  // inputs: q, k, v, out, lse, dout, dlse, [mask], [sinks]
  const Geometry g(inputs, causal);
  const Dtype cd = TypeToDtype<C>();
  const array q = as_compute(inputs[0], cd), k = as_compute(inputs[1], cd), v = as_compute(inputs[2], cd);
  const array o = as_compute(inputs[3], cd), lse_a = as_compute(inputs[4], cd);
  const array dout = as_compute(inputs[5], cd), dlse = as_compute(inputs[6], cd);
  const array* mask = has_mask ? &inputs[7] : nullptr;
  const MaskView<T> mk(mask);
  std::vector<C> sinks;
  if (has_sinks) {
    array s = as_compute(inputs.back(), cd);
    sinks.assign(s.data<C>(), s.data<C>() + g.nq);
  }
  for (auto& out : outputs) out.set_data(allocator::malloc(out.nbytes()));
  const C lowest = static_cast<C>(finfo(inputs[0].dtype()).min);
  const bool hides = causal || (mask && mask->dtype() == bool_);
  const int64_t rows = g.b * g.nq * g.lq;
  const C* LSE = lse_a.data<C>();
  // Per query row: delta = rowsum(dO O) - dlse, and the factor of P: 1, or 1 / L_kv for a row
  // whose keys are all hidden (saved with lse = lowest, so P = exp(lowest - lowest) / L_kv).
  std::vector<C> delta(rows), pfix(rows, C(1));
  {
    const C* Op = o.data<C>();
    const C* dOp = dout.data<C>();
    const C* dL = dlse.data<C>();
    cpu::parallel_for(rows, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, g.dv)), [&](int64_t r0, int64_t r1) {
      for (int64_t i = r0; i < r1; ++i) {
        C acc = 0;
        for (int64_t c = 0; c < g.dv; ++c) acc += Op[i * g.dv + c] * dOp[i * g.dv + c];
        delta[i] = acc - dL[i];
        if (hides && LSE[i] == lowest && g.lkv > 0) pfix[i] = C(1) / static_cast<C>(g.lkv);
      }
    });
  }
  if (has_sinks) {
    // d sink_h = -sum over rows of P_sink delta, with P_sink = exp(sink_h - lse).
    T* ds = outputs[3].data<T>();
    for (int64_t h = 0; h < g.nq; ++h) {
      C acc = 0;
      for (int64_t b = 0; b < g.b; ++b) {
        const int64_t base = (b * g.nq + h) * g.lq;
        for (int64_t i = 0; i < g.lq; ++i) acc -= exp_of(sinks[h] - LSE[base + i]) * delta[base + i];
      }
      ds[h] = cast_to<T>(acc);
    }
  }
  // Tasks: (batch, kv head, split); split s owns key blocks s, s + splits, ... and its own dQ.
  const int64_t nkb = (g.lkv + kBlockKB - 1) / kBlockKB;
  const int64_t heads = g.b * g.nkv;
  int64_t splits = 1;
  if (heads > 0 && heads < cpu::num_threads()) {
    splits = std::clamp<int64_t>((cpu::num_threads() + heads - 1) / heads, 1, std::min(kMaxSplits, std::max<int64_t>(nkb, 1)));
  }
  const int64_t qsize = rows * g.d;
  std::vector<C> dq_part(static_cast<size_t>(splits * qsize), C(0));
  const C* Q = q.data<C>();
  const C* K = k.data<C>();
  const C* V = v.data<C>();
  const C* dO = dout.data<C>();
  T* dK = outputs[1].data<T>();
  T* dV = outputs[2].data<T>();
  const int64_t tasks = heads * splits;
  const int64_t workers = std::max<int64_t>(1, std::min<int64_t>(cpu::num_threads(), tasks));
  struct Scratch {
    std::vector<C> s, dp, dk, dv;
  };
  std::vector<Scratch> scratch(workers);
  for (auto& sc : scratch) {
    sc.s.resize(kBlockQB * kBlockKB);
    sc.dp.resize(kBlockQB * kBlockKB);
    sc.dk.resize(std::max<int64_t>(1, kBlockKB * g.d));
    sc.dv.resize(std::max<int64_t>(1, kBlockKB * g.dv));
  }
  run_tasks(tasks, [&](int64_t t, int64_t w) {
    const int64_t hk = t / splits, split = t % splits;
    const int64_t b = hk / g.nkv, kvh = hk % g.nkv;
    Scratch& sc = scratch[w];
    C* S = sc.s.data();
    C* dS = sc.dp.data();
    C* dq = dq_part.data() + split * qsize;
    for (int64_t kb = split; kb < nkb; kb += splits) {
      const int64_t j0 = kb * kBlockKB, n = std::min(kBlockKB, g.lkv - j0);
      const C* Kb = K + (hk * g.lkv + j0) * g.d;
      const C* Vb = V + (hk * g.lkv + j0) * g.dv;
      std::fill(sc.dk.begin(), sc.dk.end(), C(0));
      std::fill(sc.dv.begin(), sc.dv.end(), C(0));
      for (int64_t hh = 0; hh < g.r; ++hh) {
        const int64_t h = kvh * g.r + hh, bh = b * g.nq + h;
        // Under a causal mask the rows before j0 - off see none of these keys (unless some rows
        // see no key at all: those attend to every key).
        const int64_t first = g.causal && g.off >= 0 ? std::clamp<int64_t>(j0 - g.off, 0, g.lq) : 0;
        for (int64_t i0 = first; i0 < g.lq; i0 += kBlockQB) {
          const int64_t m = std::min(kBlockQB, g.lq - i0);
          const int64_t row0 = bh * g.lq + i0;
          const C* Qr = Q + row0 * g.d;
          const C* dOr = dO + row0 * g.dv;
          cpu::gemm(false, true, m, n, g.d, scale, Qr, g.d, Kb, g.d, C(0), S, kBlockKB);
          apply_mask<T, C>(S, kBlockKB, m, n, i0, j0, b, h, g, mk, lowest);
          cpu::gemm(false, true, m, n, g.dv, C(1), dOr, g.dv, Vb, g.dv, C(0), dS, kBlockKB);
          for (int64_t r = 0; r < m; ++r) {
            C* __restrict s = S + r * kBlockKB;
            C* __restrict ds = dS + r * kBlockKB;
            const C l = LSE[row0 + r], dl = delta[row0 + r], f = pfix[row0 + r];
            if (hides) {
              // A hidden position passes no gradient to the scores (where() in the composition).
              for (int64_t c = 0; c < n; ++c) {
                const C sc = s[c], p = exp_of(sc - l) * f, d = p * (ds[c] - dl);
                ds[c] = sc == lowest ? C(0) : d;
                s[c] = p;
              }
            } else {
              for (int64_t c = 0; c < n; ++c) {
                const C p = exp_of(s[c] - l) * f;
                ds[c] = p * (ds[c] - dl);
                s[c] = p;
              }
            }
          }
          cpu::gemm(true, false, n, g.dv, m, C(1), S, kBlockKB, dOr, g.dv, C(1), sc.dv.data(), g.dv);
          cpu::gemm(true, false, n, g.d, m, scale, dS, kBlockKB, Qr, g.d, C(1), sc.dk.data(), g.d);
          cpu::gemm(false, false, m, g.d, n, scale, dS, kBlockKB, Kb, g.d, C(1), dq + row0 * g.d, g.d);
        }
      }
      T* dk = dK + (hk * g.lkv + j0) * g.d;
      T* dv = dV + (hk * g.lkv + j0) * g.dv;
      for (int64_t i = 0; i < n * g.d; ++i) dk[i] = cast_to<T>(sc.dk[i]);
      for (int64_t i = 0; i < n * g.dv; ++i) dv[i] = cast_to<T>(sc.dv[i]);
    }
  });
  // dQ: the splits' parts added in order (the result does not depend on scheduling).
  T* dQ = outputs[0].data<T>();
  cpu::parallel_for(qsize, cpu::kElementwiseGrain, [&](int64_t e0, int64_t e1) {
    for (int64_t i = e0; i < e1; ++i) {
      C acc = dq_part[i];
      for (int64_t s = 1; s < splits; ++s) acc += dq_part[s * qsize + i];
      dQ[i] = cast_to<T>(acc);
    }
  });
}
}  // namespace

void ScaledDotProductAttention::eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) {
  dispatch_float("ScaledDotProductAttention", inputs[0].dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    using C = cpu::red::acc_t<T>;
    sdpa_forward<T, C>(inputs, outputs, static_cast<C>(scale_), causal_, has_mask_, has_sinks_);
  });
}

void ScaledDotProductAttentionVjp::eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) {
  dispatch_float("ScaledDotProductAttentionVjp", inputs[0].dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    using C = cpu::red::acc_t<T>;
    sdpa_backward<T, C>(inputs, outputs, static_cast<C>(scale_), causal_, has_mask_, has_sinks_);
  });
}

}  // namespace mica
