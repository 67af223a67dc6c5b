// 1-D DFT plans behind the fft family's CPU kernel. Lengths whose prime factors are all small run
// on kissfft (radix 2, 3, 4, 5 butterflies, a generic O(p^2) one for other primes p); a length
// with a prime factor above kBluesteinAbove runs Bluestein's chirp-z algorithm, which writes
// the DFT as a convolution computed by two power-of-two transforms, so its cost stays
// O(n log n). Long lengths (from kFourStepFrom points) split n = n1 n2 into transforms of about
// sqrt(n) points (the four-step algorithm): kissfft's recursion walks the whole array at every
// level, which is twice as slow per point once it outgrows the cache, and the short transforms
// also spread over threads. A plan is immutable once built, so threads share it; plans are
// cached per (length, direction).
#pragma once
#include <complex>
#include <cstddef>
#include <memory>
#include <vector>

struct kiss_fft_state;

namespace mica::cpu::fft {

using cpx = std::complex<float>;

/** Lengths with a prime factor above this use Bluestein's algorithm. kissfft's generic
 * butterfly costs about n p per prime factor p; measured against Bluestein (two transforms of
 * 2n to 4n points) the crossover lies between p = 40 and 60, depending on n's other factors. */
inline constexpr int kBluesteinAbove = 50;
/** Smooth lengths from this many points run as four-step transforms: measured here (1 MiB of
 * L2 per core), kissfft is faster up to 2^18 points and 1.3x to 1.7x slower from 2^19. */
inline constexpr int kFourStepFrom = 1 << 19;

/** The unnormalized complex DFT of one length: e^{-2 pi i jk / n} forward, e^{+...} inverse. */
class ComplexPlan {
 public:
  ComplexPlan(int n, bool inverse);
  ~ComplexPlan();
  ComplexPlan(const ComplexPlan&) = delete;
  ComplexPlan& operator=(const ComplexPlan&) = delete;
  /** Scratch elements run() needs. */
  size_t work_size() const { return work_size_; }
  /** out[0, n) = DFT of in[0, n); in and out do not overlap; work holds work_size() elements. */
  void run(const cpx* in, cpx* out, cpx* work) const;
  /** True when this length runs Bluestein's algorithm. */
  bool bluestein() const { return bluestein_; }

 private:
  void run_bluestein(const cpx* in, cpx* out, cpx* work) const;
  void run_four_step(const cpx* in, cpx* out, cpx* work) const;
  cpx four_step_twiddle(int64_t t) const;

  int n_;
  size_t work_size_ = 0;
  bool bluestein_ = false;
  kiss_fft_state* kiss_ = nullptr;  // the direct plan (small prime factors, short)
  // Four-step: x[j1 n2 + j2] -> X[k1 + n1 k2] by n2 transforms of n1 points, the twiddles
  // w^{j2 k1}, then n1 transforms of n2 points. The twiddles come from two tables of about
  // sqrt(n) entries: w^t = coarse[t >> shift] * fine[t & mask], in double precision.
  int n1_ = 0, n2_ = 0, shift_ = 0;
  std::shared_ptr<const ComplexPlan> plan1_, plan2_;
  std::vector<std::complex<double>> coarse_, fine_;
  // Bluestein: power-of-two plans of length m >= 2n - 1, the chirp w_k = e^{-+i pi k^2 / n}
  // (k < n) and the DFT of the conjugate chirp laid out circularly, divided by m.
  int m_ = 0;
  std::shared_ptr<const ComplexPlan> forward_m_, inverse_m_;
  std::vector<cpx> chirp_, kernel_;
};

/** The DFT of real data of one length: forward maps n reals to n / 2 + 1 bins, inverse maps the
 * n / 2 + 1 bins of a Hermitian spectrum to n reals (unnormalized; the imaginary parts of bin 0
 * and, for even n, bin n / 2 are ignored). Even n runs a complex DFT of n / 2 points on the
 * samples paired up as complex numbers; odd n a complex DFT of n points. */
class RealPlan {
 public:
  RealPlan(int n, bool inverse);
  /** Scratch elements forward() and inverse() need. */
  size_t work_size() const;
  /** X[0, n / 2] = DFT of x[0, n) (a forward plan). */
  void forward(const float* x, cpx* X, cpx* work) const;
  /** x[0, n) = inverse DFT of X[0, n / 2] extended Hermitian (an inverse plan). */
  void inverse(const cpx* X, float* x, cpx* work) const;

 private:
  int n_;
  std::shared_ptr<const ComplexPlan> plan_;  // n / 2 points for even n, n points for odd n
  std::vector<cpx> twiddle_;                 // even n: e^{-+2 pi i k / n}, k < n / 2
};

/** The cached plan for (n, inverse), built on first use (thread-safe). */
std::shared_ptr<const ComplexPlan> complex_plan(int n, bool inverse);
std::shared_ptr<const RealPlan> real_plan(int n, bool inverse);

}  // namespace mica::cpu::fft
