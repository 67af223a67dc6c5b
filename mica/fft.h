// mica::fft: discrete Fourier transforms, as MLX's mlx.core.fft (and NumPy's numpy.fft).
//
// Dtypes: complex transforms take any dtype and compute in complex64 (integers and bool go
// through float32, float64 is rounded to float32: complex128 does not exist, as in MLX); rfft*
// takes a real input (a complex input gives its real part, as MLX) and returns complex64;
// irfft* returns float32.
// Sizes: `n` (one axis) or `s` (one per axis) sets the transform length of each axis: a longer
// axis is truncated, a shorter one padded with zeros. For irfft* the size is the output length
// along the last axis, whose input uses n / 2 + 1 bins (default n = 2 * (bins - 1)). Any length
// >= 1 works, primes included. As in MLX's C++ API, one integer after the array is the axis:
// fft(a, 8) transforms axis 8; a length comes with its axis, fft(a, 8, -1).
// Axes: negative axes count from the end; they must be distinct and not empty. The n-D real
// transforms treat the last axis listed as the real (half-spectrum) one.
// Norm: Backward (default) scales the inverse by 1/N, Forward the forward transform by 1/N,
// Ortho both by 1/sqrt(N), N the product of the transform lengths (the real lengths for irfft*).
// Bad arguments throw std::invalid_argument "[fft::<name>] expected ..., got ...".
#pragma once
#include <string>
#include <vector>

#include "mica/array.h"

namespace mica::fft {

/** Normalization of a transform pair, as NumPy's norm="backward" | "ortho" | "forward". */
enum class FFTNorm { Backward, Ortho, Forward };

/** n-D DFT over `axes`, each axis resized to the matching entry of `n` first. */
array fftn(const array& a, const Shape& n, const std::vector<int>& axes, FFTNorm norm = FFTNorm::Backward,
           StreamOrDevice s = {});
/** n-D DFT over `axes`. */
array fftn(const array& a, const std::vector<int>& axes, FFTNorm norm = FFTNorm::Backward, StreamOrDevice s = {});
/** n-D DFT over every axis. */
array fftn(const array& a, FFTNorm norm = FFTNorm::Backward, StreamOrDevice s = {});

/** n-D inverse DFT over `axes`, each axis resized to the matching entry of `n` first. */
array ifftn(const array& a, const Shape& n, const std::vector<int>& axes, FFTNorm norm = FFTNorm::Backward,
            StreamOrDevice s = {});
/** n-D inverse DFT over `axes`. */
array ifftn(const array& a, const std::vector<int>& axes, FFTNorm norm = FFTNorm::Backward, StreamOrDevice s = {});
/** n-D inverse DFT over every axis. */
array ifftn(const array& a, FFTNorm norm = FFTNorm::Backward, StreamOrDevice s = {});

/** 1-D DFT along `axis`, which is resized to length n first. */
array fft(const array& a, int n, int axis, FFTNorm norm = FFTNorm::Backward, StreamOrDevice s = {});
/** 1-D DFT along `axis`. */
array fft(const array& a, int axis = -1, FFTNorm norm = FFTNorm::Backward, StreamOrDevice s = {});

/** 1-D inverse DFT along `axis`, which is resized to length n first. */
array ifft(const array& a, int n, int axis, FFTNorm norm = FFTNorm::Backward, StreamOrDevice s = {});
/** 1-D inverse DFT along `axis`. */
array ifft(const array& a, int axis = -1, FFTNorm norm = FFTNorm::Backward, StreamOrDevice s = {});

/** 2-D DFT over `axes`, resized to `n` first. */
array fft2(const array& a, const Shape& n, const std::vector<int>& axes, FFTNorm norm = FFTNorm::Backward,
           StreamOrDevice s = {});
/** 2-D DFT over `axes` (the last two by default). */
array fft2(const array& a, const std::vector<int>& axes = {-2, -1}, FFTNorm norm = FFTNorm::Backward,
           StreamOrDevice s = {});

/** 2-D inverse DFT over `axes`, resized to `n` first. */
array ifft2(const array& a, const Shape& n, const std::vector<int>& axes, FFTNorm norm = FFTNorm::Backward,
            StreamOrDevice s = {});
/** 2-D inverse DFT over `axes` (the last two by default). */
array ifft2(const array& a, const std::vector<int>& axes = {-2, -1}, FFTNorm norm = FFTNorm::Backward,
            StreamOrDevice s = {});

/** n-D DFT of a real input: the last of `axes` keeps n / 2 + 1 bins; axes resized to `n` first. */
array rfftn(const array& a, const Shape& n, const std::vector<int>& axes, FFTNorm norm = FFTNorm::Backward,
            StreamOrDevice s = {});
/** n-D DFT of a real input over `axes`. */
array rfftn(const array& a, const std::vector<int>& axes, FFTNorm norm = FFTNorm::Backward, StreamOrDevice s = {});
/** n-D DFT of a real input over every axis. */
array rfftn(const array& a, FFTNorm norm = FFTNorm::Backward, StreamOrDevice s = {});

/** Inverse of rfftn: real output of length n[k] along axes[k] (the last from n / 2 + 1 bins). */
array irfftn(const array& a, const Shape& n, const std::vector<int>& axes, FFTNorm norm = FFTNorm::Backward,
             StreamOrDevice s = {});
/** Inverse of rfftn over `axes`; the last axis gives 2 * (bins - 1) values. */
array irfftn(const array& a, const std::vector<int>& axes, FFTNorm norm = FFTNorm::Backward, StreamOrDevice s = {});
/** Inverse of rfftn over every axis. */
array irfftn(const array& a, FFTNorm norm = FFTNorm::Backward, StreamOrDevice s = {});

/** 1-D DFT of a real input along `axis` (resized to n first): n / 2 + 1 bins. */
array rfft(const array& a, int n, int axis, FFTNorm norm = FFTNorm::Backward, StreamOrDevice s = {});
/** 1-D DFT of a real input along `axis`. */
array rfft(const array& a, int axis = -1, FFTNorm norm = FFTNorm::Backward, StreamOrDevice s = {});

/** Inverse of rfft: n real values along `axis` from its first n / 2 + 1 bins (zero-padded). */
array irfft(const array& a, int n, int axis, FFTNorm norm = FFTNorm::Backward, StreamOrDevice s = {});
/** Inverse of rfft along `axis`: 2 * (bins - 1) real values. */
array irfft(const array& a, int axis = -1, FFTNorm norm = FFTNorm::Backward, StreamOrDevice s = {});

/** 2-D DFT of a real input over `axes`, resized to `n` first. */
array rfft2(const array& a, const Shape& n, const std::vector<int>& axes, FFTNorm norm = FFTNorm::Backward,
            StreamOrDevice s = {});
/** 2-D DFT of a real input over `axes` (the last two by default). */
array rfft2(const array& a, const std::vector<int>& axes = {-2, -1}, FFTNorm norm = FFTNorm::Backward,
            StreamOrDevice s = {});

/** Inverse of rfft2 with output lengths `n`. */
array irfft2(const array& a, const Shape& n, const std::vector<int>& axes, FFTNorm norm = FFTNorm::Backward,
             StreamOrDevice s = {});
/** Inverse of rfft2 over `axes` (the last two by default). */
array irfft2(const array& a, const std::vector<int>& axes = {-2, -1}, FFTNorm norm = FFTNorm::Backward,
             StreamOrDevice s = {});

/** Sample frequencies of an n-point DFT with sample spacing d (float32):
 * [0, 1, ..., (n - 1) / 2, -(n / 2), ..., -1] / (d n). */
array fftfreq(int n, double d = 1.0, StreamOrDevice s = {});
/** Sample frequencies of rfft's n / 2 + 1 bins: [0, 1, ..., n / 2] / (d n) (float32). */
array rfftfreq(int n, double d = 1.0, StreamOrDevice s = {});

/** Rolls every axis by half its length (n / 2) so the zero frequency sits in the middle. */
array fftshift(const array& a, StreamOrDevice s = {});
/** fftshift over `axes` (an axis listed twice is rolled twice, as NumPy). */
array fftshift(const array& a, const std::vector<int>& axes, StreamOrDevice s = {});
/** Inverse of fftshift: rolls every axis back by n / 2. */
array ifftshift(const array& a, StreamOrDevice s = {});
/** ifftshift over `axes`. */
array ifftshift(const array& a, const std::vector<int>& axes, StreamOrDevice s = {});

/** The short-time Fourier transform of the last axis of x, as MLX: frames of n_fft samples every
 * hop_length (n_fft / 4 by default), each times `window` (win_length samples, rectangular by
 * default, centered and zero-padded to n_fft); with `center` x is first padded by n_fft / 2 at
 * both ends ("reflect", "constant" or "edge"). Returns complex64 (..., n_freq, n_frames) with
 * n_freq = n_fft / 2 + 1 when `onesided` (the default for real x) else n_fft. */
array stft(const array& x, int n_fft = 2048, const std::optional<int>& hop_length = std::nullopt,
           const std::optional<int>& win_length = std::nullopt, const std::optional<array>& window = std::nullopt,
           bool center = true, const std::string& pad_mode = "reflect", FFTNorm norm = FFTNorm::Backward,
           const std::optional<bool>& onesided = std::nullopt, StreamOrDevice s = {});

/** The inverse: each frame transformed back, windowed, overlap-added and divided by the summed
 * squared window (0 where that sum is below 1e-11); with `center` the n_fft / 2 padding is cut;
 * `length` trims or zero-pads the result. n_fft defaults to 2 (n_freq - 1) for one-sided input
 * (n_freq otherwise); the input is one-sided when n_freq = n_fft / 2 + 1 unless `onesided` says.
 * Returns float32 (..., samples) (the real part for a full-spectrum input). */
array istft(const array& stft_matrix, const std::optional<int>& n_fft = std::nullopt,
            const std::optional<int>& hop_length = std::nullopt, const std::optional<int>& win_length = std::nullopt,
            const std::optional<array>& window = std::nullopt, bool center = true, FFTNorm norm = FFTNorm::Backward,
            const std::optional<bool>& onesided = std::nullopt, const std::optional<int>& length = std::nullopt,
            StreamOrDevice s = {});

}  // namespace mica::fft
