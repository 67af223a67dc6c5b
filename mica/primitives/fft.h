// The discrete Fourier transform primitive (family fft). Unnormalized in both directions (the
// ops multiply by the norm mode's scale); the input is already padded or truncated to the
// transform lengths. Three kinds, as MLX's FFT primitive:
//   complex -> complex (real = false): complex64 in and out, same shape, over every axis;
//   real -> complex (real, !inverse): float32 in, complex64 out; the last of `axes` gets
//     n / 2 + 1 bins (n = real_n), the other axes a complex transform after it;
//   complex -> real (real, inverse): complex64 in, float32 out; the other axes get an inverse
//     complex transform first, then the last axis (n / 2 + 1 bins in) gives real_n real values.
//     The imaginary parts of bin 0 and, for even n, bin n / 2 are ignored, as NumPy does.
#pragma once
#include <vector>

#include "mica/primitives/primitive.h"

namespace mica {

/** One n-dimensional DFT: e^{-2 pi i jk / n} per axis forward, e^{+...} inverse, no scaling. */
class FFT : public UnaryPrimitive {
 public:
  FFT(Stream s, std::vector<int> axes, bool inverse, bool real, int real_n)
      : UnaryPrimitive(s), axes_(std::move(axes)), inverse_(inverse), real_(real), real_n_(real_n) {}
  MICA_DEFINE_UNARY_PRIMITIVE_MEMBERS(FFT) MICA_DEFINE_SAVE
  MICA_DEFINE_GRADS
  bool is_equivalent(const Primitive& o) const override {
    auto* p = dynamic_cast<const FFT*>(&o);
    return p && p->axes_ == axes_ && p->inverse_ == inverse_ && p->real_ == real_ && p->real_n_ == real_n_;
  }
  void print(std::ostream& os) override;
  /** Transformed axes in [0, ndim), distinct; for real transforms the last is the real axis. */
  const std::vector<int>& axes() const { return axes_; }
  bool inverse() const { return inverse_; }
  bool real() const { return real_; }
  /** Length of the real axis on its real side (real transforms only; 0 otherwise). */
  int real_n() const { return real_n_; }

 private:
  std::vector<int> axes_;
  bool inverse_, real_;
  int real_n_;
};

namespace detail {
/** The FFT node over `x` (complex64, or float32 for real -> complex): output shape and dtype from
 * the kind, as described above. */
array fft_node(const array& x, std::vector<int> axes, bool inverse, bool real, int real_n, Stream s);
}  // namespace detail

}  // namespace mica
