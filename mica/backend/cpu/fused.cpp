// CPU kernels of LayerNorm, RMSNorm, their backward passes, Gelu and AdamStep. Norms: x: (rows, n)
// row-major (copied when not); weight, bias: (n,) of x's dtype; out: (rows, n) row-major. Rows
// are computed in float (double for float64); the row stays in cache between the statistics
// pass and the output pass.
#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "mica/backend/cpu/binary.h"
#include "mica/backend/cpu/copy.h"
#include "mica/backend/cpu/dispatch_float.h"
#include "mica/backend/cpu/parallel.h"
#include "mica/backend/cpu/reduce.h"
#include "mica/backend/cpu/unary.h"
#include "mica/primitives/fused.h"

// glibc's SIMD variants of erff and expf (libmvec), declared as its headers do under -ffast-math.
extern "C" float erff(float) noexcept __attribute__((simd("notinbranch")));
extern "C" float expf(float) noexcept __attribute__((simd("notinbranch")));

namespace mica {

namespace {
using cpu::dispatch_float;
using namespace cpu::red;
using cpu::parallel_for;

// A 1-D parameter as a compute-type vector (empty when absent).
template <typename T, typename C>
std::vector<C> param(const std::vector<array>& inputs, size_t i, bool present, int64_t n) {
  if (!present) return {};
  array p = cpu::ensure_row_contiguous(inputs[i]);
  std::vector<C> v(n);
  convert_row(p.data<T>(), v.data(), n);
  return v;
}

// y = (x - center) * scale per element, then * w and + b where present.
template <typename C>
void affine_row(const C* __restrict x, C* __restrict y, int64_t n, C center, C scale, const C* w, const C* b) {
  if (w && b) {
    for (int64_t i = 0; i < n; ++i) y[i] = (x[i] - center) * scale * w[i] + b[i];
  } else if (w) {
    for (int64_t i = 0; i < n; ++i) y[i] = (x[i] - center) * scale * w[i];
  } else if (b) {
    for (int64_t i = 0; i < n; ++i) y[i] = (x[i] - center) * scale + b[i];
  } else {
    for (int64_t i = 0; i < n; ++i) y[i] = (x[i] - center) * scale;
  }
}

}  // namespace

void LayerNorm::eval_cpu(const std::vector<array>& inputs, array& out) {
  dispatch_float("LayerNorm", inputs[0].dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    using C = acc_t<T>;
    const array& x = inputs[0];
    int64_t n = x.shape().back();
    auto w = param<T, C>(inputs, 1, has_weight_, n);
    auto b = param<T, C>(inputs, has_weight_ ? 2 : 1, has_bias_, n);
    const C* wp = has_weight_ ? w.data() : nullptr;
    const C* bp = has_bias_ ? b.data() : nullptr;
    C eps = static_cast<C>(eps_);
    for_rows<T>(x, out, x.shape().back(), [&](const C* xr, C* yr, int64_t n) {
      C mean = row_sum(xr, n) / static_cast<C>(n);
      C var = row_sum_sq_dev(xr, n, mean) / static_cast<C>(n);
      C rstd = C(1) / std::sqrt(var + eps);
      affine_row(xr, yr, n, mean, rstd, wp, bp);
    });
  });
}

// The norms' backward passes, per row: xhat = (x - mean) r (mean = 0 for RMS norm) and t = g w;
// dx = r (t - mean(t) - xhat mean(t xhat)), without the mean(t) term for RMS norm (there
// x r^2 mean(t x) = xhat mean(t xhat)). dweight = sum over rows of g xhat, dbias = sum of g: each
// of a fixed number of parts sums its rows, then the parts are added in order, so the result
// does not depend on scheduling. Outputs: dx, dweight and (layer norm) dbias.
namespace {
void norm_vjp(const char* name, const std::vector<array>& inputs, std::vector<array>& outputs, float eps_f,
              bool has_weight, bool rms) {
  dispatch_float(name, inputs[0].dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    using C = acc_t<T>;
    const array x = cpu::ensure_row_contiguous(inputs[0]);
    const array g = cpu::ensure_row_contiguous(inputs.back());
    const int64_t n = x.shape().back();
    const int64_t rows = n == 0 ? 0 : static_cast<int64_t>(x.size()) / n;
    auto w = param<T, C>(inputs, 1, has_weight, n);
    for (auto& o : outputs) o.set_data(allocator::malloc(o.nbytes()));
    const int parts = static_cast<int>(std::clamp<int64_t>(rows, 1, cpu::num_threads()));
    std::vector<std::vector<C>> pw(parts, std::vector<C>(n, C(0))), pb(parts, std::vector<C>(rms ? 0 : n, C(0)));
    const T* xp = x.data<T>();
    const T* gp = g.data<T>();
    T* dx = outputs[0].data<T>();
    const C eps = static_cast<C>(eps_f);
    const int64_t per = (rows + parts - 1) / parts;
    cpu::parallel_for(parts, 1, [&](int64_t p0, int64_t p1) {
      std::vector<C> xh(n), gr(n), out(n);
      for (int64_t p = p0; p < p1; ++p) {
        C* dw = pw[p].data();
        C* db = pb[p].data();
        for (int64_t r = p * per; r < std::min(rows, (p + 1) * per); ++r) {
          convert_row(xp + r * n, xh.data(), n);
          convert_row(gp + r * n, gr.data(), n);
          const C mean = rms ? C(0) : row_sum(xh.data(), n) / static_cast<C>(n);
          const C rstd = C(1) / std::sqrt(row_sum_sq_dev(xh.data(), n, mean) / static_cast<C>(n) + eps);
          C st = 0, stx = 0;
          for (int64_t i = 0; i < n; ++i) {
            const C h = (xh[i] - mean) * rstd;
            const C t = w.empty() ? gr[i] : gr[i] * w[i];
            xh[i] = h;
            st += t;
            stx += t * h;
            dw[i] += gr[i] * h;
            if (!rms) db[i] += gr[i];
          }
          st = rms ? C(0) : st / static_cast<C>(n);
          stx /= static_cast<C>(n);
          for (int64_t i = 0; i < n; ++i) {
            const C t = w.empty() ? gr[i] : gr[i] * w[i];
            out[i] = rstd * (t - st - xh[i] * stx);
          }
          convert_row(out.data(), dx + r * n, n);
        }
      }
    });
    for (int p = 1; p < parts; ++p) {
      for (int64_t i = 0; i < n; ++i) pw[0][i] += pw[p][i];
      if (!rms) {
        for (int64_t i = 0; i < n; ++i) pb[0][i] += pb[p][i];
      }
    }
    convert_row(pw[0].data(), outputs[1].data<T>(), n);
    if (!rms) convert_row(pb[0].data(), outputs[2].data<T>(), n);
  });
}
}  // namespace

void LayerNormVjp::eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) {
  norm_vjp("LayerNormVjp", inputs, outputs, eps_, has_weight_, false);
}

void RMSNormVjp::eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) {
  norm_vjp("RMSNormVjp", inputs, outputs, eps_, has_weight_, true);
}

void RMSNorm::eval_cpu(const std::vector<array>& inputs, array& out) {
  dispatch_float("RMSNorm", inputs[0].dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    using C = acc_t<T>;
    const array& x = inputs[0];
    int64_t n = x.shape().back();
    auto w = param<T, C>(inputs, 1, has_weight_, n);
    const C* wp = has_weight_ ? w.data() : nullptr;
    C eps = static_cast<C>(eps_);
    for_rows<T>(x, out, x.shape().back(), [&](const C* xr, C* yr, int64_t n) {
      C ms = row_sum_sq_dev(xr, n, C(0)) / static_cast<C>(n);
      C r = C(1) / std::sqrt(ms + eps);
      affine_row<C>(xr, yr, n, C(0), r, wp, nullptr);
    });
  });
}

// GELU and its derivative, elementwise: the float loop vectorizes through libmvec's erf and exp
// (declared at the top). Halves compute in float, float64 with scalar libm.

namespace {
constexpr double kInvSqrt2 = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;

struct GeluFn {
  float operator()(float x) const { return 0.5f * x * (1.0f + erff(x * float(kInvSqrt2))); }
  double operator()(double x) const { return 0.5 * x * (1.0 + std::erf(x * kInvSqrt2)); }
};
struct GeluDerivFn {
  float operator()(float x) const {
    return 0.5f * (1.0f + erff(x * float(kInvSqrt2))) + x * expf(-0.5f * x * x) * float(kInvSqrt2Pi);
  }
  double operator()(double x) const {
    return 0.5 * (1.0 + std::erf(x * kInvSqrt2)) + x * std::exp(-0.5 * x * x) * kInvSqrt2Pi;
  }
};

template <typename Fn>
void gelu_kernel(const array& x, array& out, Fn fn) {
  dispatch_float("gelu", x.dtype(), [&](auto t) {
    using T = typename decltype(t)::type;
    if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
      cpu::unary_apply<T, T>(x, out, fn);
    } else {
      cpu::unary_apply<T, T>(x, out, [&](T v) { return T(fn(static_cast<float>(v))); });
    }
  });
}

// g * gelu'(x) (the backward pass): x, g of one shape and dtype; halves in float, rounded once.
void gelu_times_kernel(const array& x, const array& g, array& out) {
  dispatch_float("gelu", x.dtype(), [&](auto t) {
    using T = typename decltype(t)::type;
    GeluDerivFn fn;
    if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
      cpu::binary_apply<T, T, T>(x, g, out, [fn](T v, T c) { return c * fn(v); });
    } else {
      cpu::binary_apply<T, T, T>(
          x, g, out, [fn](T v, T c) { return T(static_cast<float>(c) * fn(static_cast<float>(v))); });
    }
  });
}
}  // namespace

void Gelu::eval_cpu(const std::vector<array>& inputs, array& out) {
  if (inputs.size() == 2) {
    gelu_times_kernel(inputs[0], inputs[1], out);
  } else if (order_ == 0) {
    gelu_kernel(inputs[0], out, GeluFn{});
  } else {
    gelu_kernel(inputs[0], out, GeluDerivFn{});
  }
}

// AdamStep: (p, g, m, v) per parameter, then coef -> (p', m', v') per parameter, one pass over
// each; an input's buffer is reused for its output when nothing else holds it (the old
// parameter and moments usually die here).
void AdamStep::eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) {
  dispatch_float("adam_step", inputs[0].dtype(), [&](auto t) {
    using T = typename decltype(t)::type;
    if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
      array coef = cpu::ensure_row_contiguous(inputs.back());
      const T c1 = coef.data<T>()[0], c2 = coef.data<T>()[1], decay = coef.data<T>()[2];
      // The constants round as the composition's weak scalars do (1 - beta in double, then T).
      const T b1 = T(beta1_), a1 = T(1.0 - beta1_), b2 = T(beta2_), a2 = T(1.0 - beta2_), eps = T(eps_);
      for (size_t j = 0; 4 * j + 1 < inputs.size(); ++j) {
        const array* in4 = &inputs[4 * j];
        array* out3 = &outputs[3 * j];
        // Donate first: the row-contiguous copies below hold extra references to the buffers.
        const int donor[3] = {0, 2, 3};  // p -> p', m -> m', v -> v'
        for (int k = 0; k < 3; ++k) {
          const array& d = in4[donor[k]];
          if (d.is_donatable() && d.flags().row_contiguous && d.data_size() == d.size()) {
            out3[k].copy_shared_buffer(d);
          } else {
            out3[k].set_data(allocator::malloc(out3[k].nbytes()));
          }
        }
        std::vector<array> in;
        for (int i = 0; i < 4; ++i) in.push_back(cpu::ensure_row_contiguous(in4[i]));
        const T* p = in[0].data<T>();
        const T* g = in[1].data<T>();
        const T* m = in[2].data<T>();
        const T* v = in[3].data<T>();
        T* po = out3[0].data<T>();
        T* mo = out3[1].data<T>();
        T* vo = out3[2].data<T>();
        cpu::parallel_for(static_cast<int64_t>(in[0].size()), cpu::kElementwiseGrain, [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) {
            const T gi = g[i];
            const T mi = m[i] * b1 + gi * a1;
            const T vi = v[i] * b2 + gi * gi * a2;
            po[i] = p[i] * decay - c1 * mi / (std::sqrt(vi) * c2 + eps);
            mo[i] = mi;
            vo[i] = vi;
          }
        });
      }
    } else {
      throw std::runtime_error("[adam_step] kernel got a half type (the op should have rejected it).");
    }
  });
}

// Rope: x (rows, D) row-major (copied when not), rows = B x per_b with per_b a multiple of L (B
// offsets, one per entry of the first axis, or one for all). The cos/sin of each (offset,
// position, pair) is tabulated once per call, then each row is one pass.
void Rope::eval_cpu(const std::vector<array>& inputs, array& out) {
  dispatch_float("rope", inputs[0].dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    using C = std::conditional_t<std::is_same_v<T, double>, double, float>;
    out.set_data(allocator::malloc(out.nbytes()));  // not empty: eval skips empty outputs
    array x = cpu::ensure_row_contiguous(inputs[0]);
    array off = cpu::ensure_row_contiguous(inputs[1]);
    const int64_t D = x.shape(-1), L = x.shape(-2), rows = static_cast<int64_t>(x.size()) / D;
    const int half = dims_ / 2;
    const int64_t B = off.ndim() == 1 ? off.shape(0) : 1, per_b = rows / B;
    std::vector<C> inv(half);
    if (with_freqs_) {
      array f = cpu::ensure_row_contiguous(inputs[2]);
      for (int i = 0; i < half; ++i) inv[i] = C(1) / f.data<C>()[i];
    } else {
      const C k = static_cast<C>(-std::log(static_cast<double>(base_)) / half);
      for (int i = 0; i < half; ++i) inv[i] = std::exp(static_cast<C>(i) * k);
    }
    std::vector<C> cs(static_cast<size_t>(B * L * half)), sn(cs.size());
    const int32_t* o = off.data<int32_t>();
    const C sign = forward_ ? C(1) : C(-1);
    parallel_for(B * L, std::max<int64_t>(1, 4096 / std::max(half, 1)), [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) {
        const C pos = (static_cast<C>(o[p / L]) + static_cast<C>(p % L)) * static_cast<C>(scale_);
        for (int i = 0; i < half; ++i) {
          const C th = pos * inv[i];
          cs[p * half + i] = std::cos(th);
          sn[p * half + i] = sign * std::sin(th);
        }
      }
    });
    const T* px = x.data<T>();
    T* py = out.data<T>();
    const bool trad = traditional_;
    const int dims = dims_;
    parallel_for(rows, std::max<int64_t>(1, 16384 / D), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t p = (r / per_b) * L + r % L;
        const C* c = cs.data() + p * half;
        const C* s = sn.data() + p * half;
        const T* xr = px + r * D;
        T* yr = py + r * D;
        for (int i = 0; i < half; ++i) {
          const int i1 = trad ? 2 * i : i, i2 = trad ? 2 * i + 1 : i + half;
          const C x1 = static_cast<C>(xr[i1]), x2 = static_cast<C>(xr[i2]);
          yr[i1] = static_cast<T>(x1 * c[i] - x2 * s[i]);
          yr[i2] = static_cast<T>(x1 * s[i] + x2 * c[i]);
        }
        std::copy(xr + dims, xr + D, yr + dims);
      }
    });
  });
}

}  // namespace mica
