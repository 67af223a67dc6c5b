// Transform rules of the FFT primitive. The transform is linear (over the reals for the real
// kinds), so the jvp applies the same transform to the tangent and the vjp applies the adjoint
// to the cotangent, where a complex cotangent holds dL/dRe + i dL/dIm (as Real and Imag's rules).
// - complex -> complex: the adjoint of the unnormalized DFT is the unnormalized DFT of the other
//   direction (the DFT matrix is symmetric, its conjugate is the other direction's).
// - real -> complex: bin k of the half spectrum stands for bins k and n - k of the full one
//   except bin 0 and, for even n, bin n / 2. The adjoint x_j = Re sum_k c_k e^{+2 pi i jk / n}
//   over the half spectrum is complex -> real (which counts the paired bins twice) of c with
//   the paired bins halved.
// - complex -> real: the output is Re X_0 + 2 sum Re(X_k w^{jk}) + Re X_{n/2} (-1)^j, so the
//   adjoint is real -> complex of the cotangent with the paired bins doubled; the edge bins
//   come out real, their imaginary parts having no effect.
// The weights act on the real axis only, so they commute with the complex passes over the
// other axes. vmap renumbers the transformed axes past the batch axis.
#include "mica/primitives/fft.h"

#include "mica/ops.h"

namespace mica {

namespace detail {
array fft_node(const array& x, std::vector<int> axes, bool inverse, bool real, int real_n, Stream s) {
  Shape shape = x.shape();
  Dtype dt = complex64;
  if (real) {
    shape[axes.back()] = inverse ? real_n : real_n / 2 + 1;
    if (inverse) dt = float32;
  }
  return array(std::move(shape), dt, std::make_shared<FFT>(s, std::move(axes), inverse, real, real ? real_n : 0), {x});
}
}  // namespace detail

namespace {
// Per-bin weights of the half spectrum of length n / 2 + 1 along `axis` of an ndim-dimensional
// array: 1 for the unpaired bins (0, and n / 2 for even n), `paired` for the others.
array half_spectrum_weights(int n, int axis, int ndim, float paired) {
  int m = n / 2 + 1;
  std::vector<float> w(m, paired);
  w[0] = 1.0f;
  if (n % 2 == 0) w[m - 1] = 1.0f;
  Shape shape(ndim, 1);
  shape[axis] = m;
  return array(w.begin(), std::move(shape), float32);
}
}  // namespace

std::vector<array> FFT::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                            const std::vector<int>&, const std::vector<array>&) {
  int ndim = static_cast<int>(primals[0].ndim());
  if (!real_) return {detail::fft_node(astype(cotangents[0], complex64), axes_, !inverse_, false, 0, stream())};
  int axis = axes_.back();
  if (!inverse_) {
    array c = multiply(astype(cotangents[0], complex64), half_spectrum_weights(real_n_, axis, ndim, 0.5f));
    return {detail::fft_node(c, axes_, true, true, real_n_, stream())};
  }
  array g = detail::fft_node(astype(cotangents[0], float32), axes_, false, true, real_n_, stream());
  return {multiply(g, half_spectrum_weights(real_n_, axis, ndim, 2.0f))};
}

std::vector<array> FFT::jvp(const std::vector<array>&, const std::vector<array>& tangents, const std::vector<int>&) {
  Dtype in = real_ && !inverse_ ? float32 : complex64;
  return {detail::fft_node(astype(tangents[0], in), axes_, inverse_, real_, real_n_, stream())};
}

std::pair<std::vector<array>, std::vector<int>> FFT::vmap(const std::vector<array>& inputs,
                                                          const std::vector<int>& axes) {
  int b = axes[0];
  std::vector<int> moved;
  for (int a : axes_) moved.push_back(a >= b ? a + 1 : a);
  return {{detail::fft_node(inputs[0], std::move(moved), inverse_, real_, real_n_, stream())}, {b}};
}

void FFT::print(std::ostream& os) {
  os << "FFT(axes=(";
  for (size_t i = 0; i < axes_.size(); ++i) os << (i ? ", " : "") << axes_[i];
  os << "), inverse=" << inverse_ << ", real=" << real_;
  if (real_) os << ", n=" << real_n_;
  os << ")";
}

}  // namespace mica
