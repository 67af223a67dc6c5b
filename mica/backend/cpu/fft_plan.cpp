#include "mica/backend/cpu/fft_plan.h"

#include <kiss_fft.h>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <list>
#include <mutex>
#include <new>
#include <numbers>
#include <utility>

#include "mica/backend/cpu/parallel.h"

namespace mica::cpu::fft {

namespace {

using zd = std::complex<double>;

int largest_prime_factor(int n) {
  int largest = 1;
  for (int p = 2; static_cast<int64_t>(p) * p <= n; ++p) {
    while (n % p == 0) {
      largest = p;
      n /= p;
    }
  }
  return n > 1 ? n : largest;
}

// In-place forward DFT of a power-of-two length in double precision (iterative radix 2), for the
// Bluestein kernel, which is computed once per plan.
void dft_pow2_double(std::vector<zd>& a) {
  size_t m = a.size();
  for (size_t i = 1, j = 0; i < m; ++i) {
    size_t bit = m >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) std::swap(a[i], a[j]);
  }
  // Each stage's twiddles are taken from one table of e^{-2 pi i k / m}, each entry computed
  // directly (no recurrences), so the error does not grow with m.
  std::vector<zd> root(m / 2);
  for (size_t k = 0; k < m / 2; ++k) root[k] = std::polar(1.0, -2 * std::numbers::pi * static_cast<double>(k) / m);
  for (size_t len = 2; len <= m; len <<= 1) {
    size_t step = m / len, half = len / 2;
    for (size_t i = 0; i < m; i += len) {
      for (size_t j = 0; j < half; ++j) {
        zd u = a[i + j], v = a[i + j + half] * root[j * step];
        a[i + j] = u + v;
        a[i + j + half] = u - v;
      }
    }
  }
}

// The four-step split of a smooth length: n1 the largest divisor with n1^2 <= n, or 0 when that
// leaves transforms too short to be worth the extra passes.
int four_step_split(int n) {
  int best = 1;
  for (int d = 1; static_cast<int64_t>(d) * d <= n; ++d) {
    if (n % d == 0) best = d;
  }
  return best >= 32 ? best : 0;
}

// Lines handled together in the four-step passes: 8 complex floats fill a 64-byte cache line.
constexpr int64_t kFourStepBlock = 8;

// Above this power-of-two length the Bluestein kernel is computed with the float plan instead
// (a double copy would take 16 bytes per point); 2^22 covers lengths up to 2^21.
constexpr int kDoubleKernelMax = 1 << 22;

}  // namespace

ComplexPlan::ComplexPlan(int n, bool inverse) : n_(n) {
  if (n <= 1) return;  // the identity
  double sign = inverse ? 1.0 : -1.0;
  if (largest_prime_factor(n) <= kBluesteinAbove) {
    int n1 = n >= kFourStepFrom ? four_step_split(n) : 0;
    if (n1 == 0) {
      kiss_ = kiss_fft_alloc(n, inverse ? 1 : 0, nullptr, nullptr);
      if (!kiss_) throw std::bad_alloc();
      return;
    }
    n1_ = n1;
    n2_ = n / n1;
    plan1_ = complex_plan(n1_, inverse);
    plan2_ = complex_plan(n2_, inverse);
    work_size_ = n;
    // w^t for t < n from t = (t >> shift) 2^shift + (t & mask), each table about sqrt(n) long.
    shift_ = (std::bit_width(static_cast<uint32_t>(n - 1)) + 1) / 2;
    int64_t fine = int64_t{1} << shift_, coarse = ((n - 1) >> shift_) + 1;
    fine_.resize(fine);
    coarse_.resize(coarse);
    for (int64_t l = 0; l < fine; ++l) fine_[l] = std::polar(1.0, sign * 2 * std::numbers::pi * l / n);
    for (int64_t h = 0; h < coarse; ++h) coarse_[h] = std::polar(1.0, sign * 2 * std::numbers::pi * (h * fine) / n);
    return;
  }
  // Bluestein: jk = (j^2 + k^2 - (k - j)^2) / 2 turns X_k = sum_j x_j e^{-+2 pi i jk / n} into
  // X_k = w_k sum_j (x_j w_j) conj(w_{k - j}) with w_k = e^{-+i pi k^2 / n}: a convolution
  // with the chirp, done circularly on m >= 2n - 1 points so that the negative lags k - j
  // wrap around without overlapping the positive ones.
  bluestein_ = true;
  m_ = 1;
  while (m_ < 2 * n - 1) m_ *= 2;
  forward_m_ = complex_plan(m_, false);
  inverse_m_ = complex_plan(m_, true);
  work_size_ = 2 * static_cast<size_t>(m_) + std::max(forward_m_->work_size(), inverse_m_->work_size());
  // w_k depends on k^2 modulo 2n only; reducing it exactly keeps the angle accurate for any k.
  std::vector<zd> w(n);
  for (int k = 0; k < n; ++k) {
    int64_t k2 = static_cast<int64_t>(k) * k % (2 * static_cast<int64_t>(n));
    w[k] = std::polar(1.0, sign * std::numbers::pi * static_cast<double>(k2) / n);
  }
  chirp_.resize(n);
  for (int k = 0; k < n; ++k) chirp_[k] = cpx(w[k]);
  // The convolution's other factor conj(w_l) for l in (-n, n), with l < 0 at m + l; its DFT,
  // and the inverse transform's 1 / m, folded into one kernel.
  kernel_.assign(m_, cpx(0.0f, 0.0f));
  if (m_ <= kDoubleKernelMax) {
    std::vector<zd> b(m_, zd(0.0, 0.0));
    for (int l = 0; l < n; ++l) b[l] = std::conj(w[l]);
    for (int l = 1; l < n; ++l) b[m_ - l] = std::conj(w[l]);
    dft_pow2_double(b);
    for (int k = 0; k < m_; ++k) kernel_[k] = cpx(b[k] / static_cast<double>(m_));
  } else {
    std::vector<cpx> b(m_, cpx(0.0f, 0.0f));
    for (int l = 0; l < n; ++l) b[l] = cpx(std::conj(w[l]));
    for (int l = 1; l < n; ++l) b[m_ - l] = cpx(std::conj(w[l]));
    std::vector<cpx> work(forward_m_->work_size());
    forward_m_->run(b.data(), kernel_.data(), work.data());
    for (auto& v : kernel_) v /= static_cast<float>(m_);
  }
}

ComplexPlan::~ComplexPlan() {
  if (kiss_) kiss_fft_free(kiss_);
}

void ComplexPlan::run(const cpx* in, cpx* out, cpx* work) const {
  if (kiss_) {
    // std::complex<float> and kiss_fft_cpx are both {re, im} pairs of floats.
    kiss_fft(kiss_, reinterpret_cast<const kiss_fft_cpx*>(in), reinterpret_cast<kiss_fft_cpx*>(out));
    return;
  }
  if (bluestein_) run_bluestein(in, out, work);
  else if (n1_ > 0) run_four_step(in, out, work);
  else if (n_ == 1) out[0] = in[0];
}

void ComplexPlan::run_bluestein(const cpx* in, cpx* out, cpx* work) const {
  cpx* a = work;
  cpx* b = work + m_;
  cpx* sub_work = work + 2 * static_cast<size_t>(m_);
  for (int k = 0; k < n_; ++k) a[k] = in[k] * chirp_[k];
  for (int k = n_; k < m_; ++k) a[k] = cpx(0.0f, 0.0f);
  forward_m_->run(a, b, sub_work);
  for (int k = 0; k < m_; ++k) b[k] *= kernel_[k];
  inverse_m_->run(b, a, sub_work);
  for (int k = 0; k < n_; ++k) out[k] = a[k] * chirp_[k];
}

cpx ComplexPlan::four_step_twiddle(int64_t t) const {
  return cpx(coarse_[t >> shift_] * fine_[t & ((int64_t{1} << shift_) - 1)]);
}

void ComplexPlan::run_four_step(const cpx* in, cpx* out, cpx* work) const {
  // in: x[j1 n2 + j2]; work: A[k1 n2 + j2], the column transforms times w^{j2 k1};
  // out: X[k1 + n1 k2], the row transforms of A written transposed. Columns (then rows) go
  // kFourStepBlock at a time so that every strided access reads or writes whole cache lines.
  const int64_t n1 = n1_, n2 = n2_, B = kFourStepBlock;
  cpx* a = work;
  parallel_for((n2 + B - 1) / B, 1, [&](int64_t b0, int64_t b1) {
    std::vector<cpx> cols(B * n1), res(B * n1), sub_work(plan1_->work_size());
    for (int64_t b = b0; b < b1; ++b) {
      int64_t j0 = b * B, w = std::min(B, n2 - j0);
      for (int64_t j1 = 0; j1 < n1; ++j1) {
        for (int64_t t = 0; t < w; ++t) cols[t * n1 + j1] = in[j1 * n2 + j0 + t];
      }
      for (int64_t t = 0; t < w; ++t) plan1_->run(cols.data() + t * n1, res.data() + t * n1, sub_work.data());
      for (int64_t k1 = 0; k1 < n1; ++k1) {
        for (int64_t t = 0; t < w; ++t) a[k1 * n2 + j0 + t] = res[t * n1 + k1] * four_step_twiddle((j0 + t) * k1);
      }
    }
  });
  parallel_for((n1 + B - 1) / B, 1, [&](int64_t b0, int64_t b1) {
    std::vector<cpx> rows(B * n2), sub_work(plan2_->work_size());
    for (int64_t b = b0; b < b1; ++b) {
      int64_t k0 = b * B, w = std::min(B, n1 - k0);
      for (int64_t t = 0; t < w; ++t) plan2_->run(a + (k0 + t) * n2, rows.data() + t * n2, sub_work.data());
      for (int64_t k2 = 0; k2 < n2; ++k2) {
        for (int64_t t = 0; t < w; ++t) out[k0 + t + n1 * k2] = rows[t * n2 + k2];
      }
    }
  });
}

RealPlan::RealPlan(int n, bool inverse) : n_(n) {
  if (n % 2 == 1) {
    plan_ = complex_plan(n, inverse);
    return;
  }
  int h = n / 2;
  plan_ = complex_plan(h, inverse);
  twiddle_.resize(h);
  double sign = inverse ? 1.0 : -1.0;
  for (int k = 0; k < h; ++k) twiddle_[k] = cpx(std::polar(1.0, sign * 2 * std::numbers::pi * k / n));
}

size_t RealPlan::work_size() const {
  size_t points = n_ % 2 == 1 ? n_ : n_ / 2;
  return 2 * points + plan_->work_size();
}

void RealPlan::forward(const float* x, cpx* X, cpx* work) const {
  if (n_ % 2 == 1) {
    cpx* z = work;
    cpx* Z = work + n_;
    for (int j = 0; j < n_; ++j) z[j] = cpx(x[j], 0.0f);
    plan_->run(z, Z, work + 2 * n_);
    for (int k = 0; k <= n_ / 2; ++k) X[k] = Z[k];
    return;
  }
  // Even n: z_j = x_{2j} + i x_{2j+1} has DFT Z = E + i O, E and O the DFTs of the even and odd
  // samples (each Hermitian), recovered as E_k = (Z_k + conj Z_{h-k}) / 2 and
  // O_k = (Z_k - conj Z_{h-k}) / 2i; then X_k = E_k + e^{-2 pi i k / n} O_k.
  int h = n_ / 2;
  cpx* z = work;
  cpx* Z = work + h;
  for (int j = 0; j < h; ++j) z[j] = cpx(x[2 * j], x[2 * j + 1]);
  plan_->run(z, Z, work + 2 * h);
  X[0] = cpx(Z[0].real() + Z[0].imag(), 0.0f);
  X[h] = cpx(Z[0].real() - Z[0].imag(), 0.0f);
  for (int k = 1; k < h; ++k) {
    cpx a = Z[k], b = std::conj(Z[h - k]);
    cpx e = (a + b) * 0.5f;
    cpx o = (a - b) * cpx(0.0f, -0.5f);
    X[k] = e + twiddle_[k] * o;
  }
}

void RealPlan::inverse(const cpx* X, float* x, cpx* work) const {
  if (n_ % 2 == 1) {
    cpx* Z = work;
    cpx* z = work + n_;
    Z[0] = cpx(X[0].real(), 0.0f);
    for (int k = 1; k <= n_ / 2; ++k) {
      Z[k] = X[k];
      Z[n_ - k] = std::conj(X[k]);
    }
    plan_->run(Z, z, work + 2 * n_);
    for (int j = 0; j < n_; ++j) x[j] = z[j].real();
    return;
  }
  // Even n, the forward pairing run backwards: the even samples have spectrum
  // E_k = X_k + X_{k+h} and the odd ones O_k = e^{2 pi i k / n} (X_k - X_{k+h}), where
  // X_{k+h} = conj X_{h-k} (Hermitian); Z = E + i O transforms to x_{2j} + i x_{2j+1}.
  // Bins 0 and h count by their real parts only.
  int h = n_ / 2;
  cpx* Z = work;
  cpx* z = work + h;
  float x0 = X[0].real(), xh = X[h].real();
  Z[0] = cpx(x0 + xh, x0 - xh);
  for (int k = 1; k < h; ++k) {
    cpx a = X[k], b = std::conj(X[h - k]);
    cpx e = a + b;
    cpx o = twiddle_[k] * (a - b);
    Z[k] = e + cpx(-o.imag(), o.real());  // e + i o
  }
  plan_->run(Z, z, work + 2 * h);
  for (int j = 0; j < h; ++j) {
    x[2 * j] = z[j].real();
    x[2 * j + 1] = z[j].imag();
  }
}

namespace {
// A small LRU of plans per kind. Plans are built outside the lock (a Bluestein plan asks the
// cache for its power-of-two plans); a plan evicted while in use lives on in its holders.
constexpr size_t kCachedPlans = 64;

template <typename P>
std::shared_ptr<const P> cached_plan(int n, bool inverse) {
  struct Entry {
    int n;
    bool inverse;
    std::shared_ptr<const P> plan;
  };
  static std::mutex mu;
  static std::list<Entry> lru;
  auto find = [&]() -> std::shared_ptr<const P> {
    for (auto it = lru.begin(); it != lru.end(); ++it) {
      if (it->n == n && it->inverse == inverse) {
        lru.splice(lru.begin(), lru, it);
        return it->plan;
      }
    }
    return nullptr;
  };
  {
    std::lock_guard<std::mutex> lock(mu);
    if (auto p = find()) return p;
  }
  auto plan = std::make_shared<const P>(n, inverse);
  std::lock_guard<std::mutex> lock(mu);
  if (auto p = find()) return p;  // another thread built it meanwhile
  lru.push_front(Entry{n, inverse, plan});
  if (lru.size() > kCachedPlans) lru.pop_back();
  return plan;
}
}  // namespace

std::shared_ptr<const ComplexPlan> complex_plan(int n, bool inverse) { return cached_plan<ComplexPlan>(n, inverse); }
std::shared_ptr<const RealPlan> real_plan(int n, bool inverse) { return cached_plan<RealPlan>(n, inverse); }

}  // namespace mica::cpu::fft
