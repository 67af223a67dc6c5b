// Affine quantization (ops/quantized.h) as compositions of elementwise, reduction and indexing
// ops, so it runs on every device. MLX's layout: per group of g values along the last axis,
//   edge = the end of [min, max] with the larger magnitude, scale = +-(max - min) / (2^b - 1)
//   (at least 1e-7) with its sign pointing away from the edge, nudged so that edge / scale is a
//   whole number, bias = edge, q = clip(round((w - bias) / scale), 0, 2^b - 1);
// the q of a row form one little-endian bit stream (value i at bits [b i, b i + b)), cut into
// uint32 words, packed per period of values that fills whole words (see period_values).
#include "mica/ops/quantized.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <string>

#include "mica/ops.h"
#include "mica/ops/utils.h"
#include "mica/primitives/quantized.h"
#include "mica/primitives/rules.h"
#include "mica/transforms.h"

namespace mica {

namespace {
void check_params(const char* op, const std::string& mode, int group_size, int bits) {
  if (mode != "affine") detail::fail(op, "expected mode \"affine\", \"mxfp4\", \"mxfp8\" or \"nvfp4\", got \"" + mode + "\".");
  if (group_size != 32 && group_size != 64 && group_size != 128)
    detail::fail(op, "expected a group size of 32, 64 or 128, got " + std::to_string(group_size) + ".");
  if (bits != 1 && bits != 2 && bits != 3 && bits != 4 && bits != 5 && bits != 6 && bits != 8)
    detail::fail(op, "expected 1, 2, 3, 4, 5, 6 or 8 bits, got " + std::to_string(bits) + ".");
}

// Values are packed in periods: the fewest values, P = 32 / gcd(bits, 32), that fill whole
// words (P bits / 32 of them); 32 values for 3, 5 and 6 bits, 16 for 2, 8 for 4, 4 for 8.
int period_values(int bits) { return 32 / std::gcd(bits, 32); }

// For word j of a period and value i (< P): the left shift of q_i into the word (or -1 when q_i
// starts before it), the right shift (or -1), as uint32 tables of shape (words, P).
struct ShiftTables {
  array left, right, in_word;
};
ShiftTables shift_tables(int bits) {
  const int P = period_values(bits), words = P * bits / 32;
  std::vector<uint32_t> left(words * P, 0), right(words * P, 0);
  std::vector<bool> in(words * P, false);
  for (int j = 0; j < words; ++j) {
    for (int i = 0; i < P; ++i) {
      const int start = bits * i - 32 * j;  // q_i's first bit, relative to word j
      if (start >= 32 || start + bits <= 0) continue;
      in[j * P + i] = true;
      if (start >= 0) left[j * P + i] = static_cast<uint32_t>(start);
      else right[j * P + i] = static_cast<uint32_t>(-start);
    }
  }
  return {array(left.begin(), {words, P}, uint32), array(right.begin(), {words, P}, uint32),
          array(in.begin(), {words, P}, bool_)};
}

// Packs q (..., K) uint32 (K a multiple of the period) into (..., K bits / 32) words.
array pack(const array& q, int bits, StreamOrDevice s) {
  Shape sh = q.shape();
  const int K = sh.back(), P = period_values(bits);
  Shape periods = sh;
  periods.back() = K / P;
  periods.push_back(1);
  periods.push_back(P);
  array v = reshape(q, periods, s);  // (..., K / P, 1, P)
  ShiftTables t = shift_tables(bits);
  array part = right_shift(left_shift(v, t.left, s), t.right, s);  // (..., K / P, words, P)
  part = where(t.in_word, part, array(0u, uint32), s);
  array words = sum(part, -1, false, s);  // disjoint bit fields: the sum is their OR
  words = astype(words, uint32, s);
  sh.back() = K / P * (P * bits / 32);
  return reshape(words, sh, s);
}

// Unpacks words (..., W) into (..., W 32 / bits) values as uint32.
array unpack(const array& w, int bits, StreamOrDevice s) {
  Shape sh = w.shape();
  const int P = period_values(bits), words = P * bits / 32;
  const int W = sh.back(), periods_n = W / words;
  std::vector<int32_t> first(P), second(P);
  std::vector<uint32_t> off(P), spill(P);
  for (int i = 0; i < P; ++i) {
    const int start = bits * i;
    first[i] = start / 32;
    off[i] = static_cast<uint32_t>(start % 32);
    const bool crosses = start % 32 + bits > 32;
    second[i] = crosses ? first[i] + 1 : first[i];
    spill[i] = crosses ? static_cast<uint32_t>(32 - start % 32) : 32u;  // 32: nothing from the next word
  }
  Shape periods = sh;
  periods.back() = periods_n;
  periods.push_back(words);
  array v = reshape(w, periods, s);  // (..., W / words, words)
  array lo = right_shift(take(v, array(first.begin(), {P}, int32), -1, s), array(off.begin(), {P}, uint32), s);
  array hi = take(v, array(second.begin(), {P}, int32), -1, s);
  array sp = array(spill.begin(), {P}, uint32);
  hi = where(less(sp, array(32u, uint32), s), left_shift(hi, minimum(sp, array(31u, uint32), s), s),
             array(0u, uint32), s);
  const uint32_t mask = (1u << bits) - 1u;
  array q = bitwise_and(bitwise_or(lo, hi, s), array(mask, uint32), s);  // (..., W / words, P)
  sh.back() = periods_n * P;
  return reshape(q, sh, s);
}

// mxfp4 (OCP microscaling): groups of 32 values share a power-of-two scale stored as an e8m0
// byte (2^(e - 127)); each value is an fp4 e2m1 code (sign bit 8, magnitudes 0, 0.5, 1, 1.5, 2,
// 3, 4, 6), packed 8 per word as the affine 4-bit values are. As MLX: e is the smallest exponent
// with max|w| / 2^(e-127) <= 6 (127 for an all-zero group), a scaled value rounds to the nearest
// magnitude with ties toward zero, and a value that rounds to zero is +0.
// mxfp8: the same e8m0 group scales with max|w| / 2^(e-127) <= 448, and each value an fp8 e4m3
// byte (bias 7, subnormals below 2^-6, no infinities), rounded to nearest even, sign kept.
bool is_mx_mode(const std::string& mode) { return mode == "mxfp4" || mode == "mxfp8" || mode == "nvfp4"; }
int mx_bits(const std::string& mode) { return mode == "mxfp8" ? 8 : 4; }
int mx_group(const std::string& mode) { return mode == "nvfp4" ? 16 : 32; }

void check_mx(const char* op, const std::string& mode, int group_size, int bits) {
  if (group_size != mx_group(mode) || bits != mx_bits(mode))
    detail::fail(op, "expected group_size " + std::to_string(mx_group(mode)) + " and " + std::to_string(mx_bits(mode)) +
                         " bits for mode \"" + mode +
                         "\", got " + std::to_string(group_size) + " and " + std::to_string(bits) + ".");
}

// The 256 values of fp8 e4m3 codes (0x7f and 0xff are NaN).
array e4m3_table() {
  std::vector<float> t(256);
  for (int c = 0; c < 256; ++c) {
    const int e = (c >> 3) & 15, m = c & 7;
    float v = e == 0 ? std::ldexp(float(m), -9) : std::ldexp(1.0f + float(m) / 8.0f, e - 7);
    if ((c & 127) == 127) v = std::numeric_limits<float>::quiet_NaN();
    t[c] = (c & 128) ? -v : v;
  }
  return array(t.begin(), {256}, float32);
}

// fp8 e4m3 codes of a >= 0 (float32), rounded to nearest even, saturating at 448 (0x7e). Normal
// range: the float's mantissa rounded to 3 bits and the exponent re-biased; below 2^-6:
// multiples of 2^-9 (the subnormal codes; 8 is 2^-6 itself).
array e4m3_codes(const array& a, StreamOrDevice s) {
  const array u23 = array(23u, uint32), u20 = array(20u, uint32);
  array b = view(a, uint32, s);
  array r = add(add(b, array(0x7ffffu, uint32), s), bitwise_and(right_shift(b, u20, s), array(1u, uint32), s), s);
  array normal = bitwise_or(left_shift(subtract(right_shift(r, u23, s), array(120u, uint32), s), array(3u, uint32), s),
                            bitwise_and(right_shift(r, u20, s), array(7u, uint32), s), s);
  array sub = astype(round(multiply(a, array(512.0f), s), 0, s), uint32, s);
  array code = where(greater_equal(a, array(0.015625f), s), normal, sub, s);
  return where(greater_equal(a, array(448.0f), s), array(0x7eu, uint32), minimum(code, array(0x7eu, uint32), s), s);
}

// fp4 e2m1 codes of v (float32): nearest magnitude with ties toward zero, +0 for a zero result.
array e2m1_codes(const array& v, StreamOrDevice s) {
  array a = abs(v, s);
  array code = detail::zeros_like_view(a, uint32, s);
  for (float t : {0.25f, 0.75f, 1.25f, 1.75f, 2.5f, 3.5f, 5.0f}) code = add(code, astype(greater(a, array(t), s), uint32, s), s);
  array neg = logical_and(less(v, array(0.0f), s), not_equal(code, array(0u, uint32), s), s);
  return bitwise_or(code, multiply(astype(neg, uint32, s), array(8u, uint32), s), s);
}

std::vector<array> quantize_mx(const array& w, const std::string& mode, const std::optional<array>& factor,
                               StreamOrDevice s) {
  const bool fp8 = mode == "mxfp8", nv = mode == "nvfp4";
  const int gs = nv ? 16 : 32;
  const int K = w.shape(-1);
  if (K % gs != 0)
    detail::fail("quantize", "expected the last axis (" + std::to_string(K) + ") to be a multiple of the group size " +
                                 std::to_string(gs) + ".");
  Shape gshape = w.shape();
  gshape.back() = K / gs;
  gshape.push_back(gs);
  array g = reshape(astype(w, float32, s), gshape, s);
  array amax = max(abs(g, s), -1, true, s);
  if (nv) {
    // nvfp4: the scale is the e4m3 value nearest amax / 6 (over the global factor, when there is
    // one); a zero scale gives zero codes.
    array want = divide(amax, array(6.0f), s);
    if (factor) want = divide(want, *factor, s);
    array sc = e4m3_codes(want, s);
    array scale = take(e4m3_table(), astype(sc, int32, s), 0, s);
    if (factor) scale = multiply(scale, *factor, s);
    array v = where(equal(scale, array(0.0f), s), array(0.0f), divide(g, scale, s), s);
    return {pack(reshape(e2m1_codes(v, s), w.shape(), s), 4, s), astype(squeeze(sc, -1, s), uint8, s)};
  }
  // e = ceil(log2(amax / max code)) + 127 from the bits of that quotient: its exponent, plus one
  // unless it is a power of two.
  array fb = view(divide(amax, array(fp8 ? 448.0f : 6.0f), s), uint32, s);
  array ex = bitwise_and(right_shift(fb, array(23u, uint32), s), array(255u, uint32), s);
  array up = astype(not_equal(bitwise_and(fb, array(0x7fffffu, uint32), s), array(0u, uint32), s), uint32, s);
  array e = where(equal(amax, array(0.0f), s), array(127u, uint32), add(ex, up, s), s);
  e = minimum(maximum(e, array(1u, uint32), s), array(254u, uint32), s);
  array scale = view(left_shift(e, array(23u, uint32), s), float32, s);
  array v = divide(g, scale, s);
  if (fp8) {
    array sign = left_shift(right_shift(view(v, uint32, s), array(31u, uint32), s), array(7u, uint32), s);
    array code = bitwise_or(e4m3_codes(abs(v, s), s), sign, s);
    return {pack(reshape(code, w.shape(), s), 8, s), astype(squeeze(e, -1, s), uint8, s)};
  }
  return {pack(reshape(e2m1_codes(v, s), w.shape(), s), 4, s), astype(squeeze(e, -1, s), uint8, s)};
}

array dequantize_mx(const array& w, const array& scales, const std::string& mode, Dtype out, StreamOrDevice s) {
  const int bits = mx_bits(mode), gs = mx_group(mode);
  if (w.ndim() < 2 || scales.ndim() != w.ndim() || int64_t(w.shape(-1)) * 32 / bits != int64_t(scales.shape(-1)) * gs)
    detail::fail("dequantize", "expected w (..., K * " + std::to_string(bits) + " / 32) and scales (..., K / " +
                                   std::to_string(gs) + ") for mode \"" + mode + "\", got " + detail::shape_str(w.shape()) +
                                   " and " + detail::shape_str(scales.shape()) + ".");
  if (scales.dtype() != uint8)
    detail::fail("dequantize", "expected uint8 scales for mode \"" + mode + "\", got " + dtype_to_string(scales.dtype()) + ".");
  array q = unpack(w, bits, s);  // (..., K) codes
  const float mags[16] = {0, 0.5f, 1, 1.5f, 2, 3, 4, 6, -0.0f, -0.5f, -1, -1.5f, -2, -3, -4, -6};
  array v = take(bits == 8 ? e4m3_table() : array(mags, {16}, float32), astype(q, int32, s), 0, s);
  Shape gshape = q.shape();
  const int K = gshape.back();
  gshape.back() = K / gs;
  gshape.push_back(gs);
  // e8m0 scales are 2^(e - 127); nvfp4's are e4m3 values.
  array scale = mode == "nvfp4" ? take(e4m3_table(), astype(scales, int32, s), 0, s)
                                : view(left_shift(astype(scales, uint32, s), array(23u, uint32), s), float32, s);
  array r = multiply(reshape(v, gshape, s), expand_dims(scale, -1, s), s);
  return astype(reshape(r, q.shape(), s), out, s);
}

// nvfp4's global scale: a float32 scalar, nvfp4 only (MLX's rules). Returns global / (448 * 6),
// the factor a dequantized value takes (the quantized groups were divided by it).
std::optional<array> nv_global_factor(const char* op, const std::string& mode, const std::optional<array>& g,
                                      StreamOrDevice s) {
  if (!g) return std::nullopt;
  if (mode != "nvfp4") detail::fail(op, "expected a global scale only for mode \"nvfp4\", got one for \"" + mode + "\".");
  if (g->ndim() != 0) detail::fail(op, "expected a scalar global scale, got shape " + detail::shape_str(g->shape()) + ".");
  if (g->dtype() != float32) detail::fail(op, "expected a float32 global scale, got " + dtype_to_string(g->dtype()) + ".");
  return divide(*g, array(448.0f * 6.0f), s);
}

int infer_bits(const char* op, const array& w, const array& scales, int group_size) {
  // K = scales' last dim * group_size = words * 32 / bits.
  const int64_t K = int64_t(scales.shape(-1)) * group_size;
  const int64_t bits = K > 0 ? int64_t(w.shape(-1)) * 32 / K : 0;
  if (bits * K != int64_t(w.shape(-1)) * 32) detail::fail(op, "expected w and scales of matching sizes, got shapes " +
                                                                  detail::shape_str(w.shape()) + " and " +
                                                                  detail::shape_str(scales.shape()) + ".");
  return static_cast<int>(bits);
}
}  // namespace

std::vector<array> quantize(const array& w, std::optional<int> group_size_opt, std::optional<int> bits_opt,
                            const std::string& mode, const std::optional<array>& global_scale, StreamOrDevice s) {
  const std::optional<array> factor = nv_global_factor("quantize", mode, global_scale, s);
  if (is_mx_mode(mode)) {
    check_mx("quantize", mode, group_size_opt.value_or(mx_group(mode)), bits_opt.value_or(mx_bits(mode)));
    if (w.ndim() < 2) detail::fail("quantize", "expected a matrix (or a stack of them), got shape " + detail::shape_str(w.shape()) + ".");
    if (!is_floating(w.dtype()))
      detail::fail("quantize", "expected a floating point array, got " + dtype_to_string(w.dtype()) + ".");
    return quantize_mx(w, mode, factor, s);
  }
  const int group_size = group_size_opt.value_or(64), bits = bits_opt.value_or(4);
  check_params("quantize", mode, group_size, bits);
  if (w.ndim() < 2) detail::fail("quantize", "expected a matrix (or a stack of them), got shape " + detail::shape_str(w.shape()) + ".");
  if (!is_floating(w.dtype()))
    detail::fail("quantize", "expected a floating point array, got " + dtype_to_string(w.dtype()) + ".");
  const int K = w.shape(-1);
  if (K % group_size != 0)
    detail::fail("quantize", "expected the last axis (" + std::to_string(K) + ") to be a multiple of the group size " +
                                 std::to_string(group_size) + ".");
  const double n_bins = double((1 << bits) - 1);
  Shape gshape = w.shape();
  gshape.back() = K / group_size;
  gshape.push_back(group_size);
  array g = reshape(astype(w, float32, s), gshape, s);
  array wmax = max(g, -1, true, s), wmin = min(g, -1, true, s);
  if (bits == 1) {
    // One bit: the group's two ends, bias = min and scale = max - min (at least 1e-7), as MLX.
    array scale = maximum(subtract(wmax, wmin, s), array(1e-7f), s);
    array q = clip(round(divide(subtract(g, wmin, s), scale, s), s), array(0.0f), array(1.0f), s);
    q = reshape(astype(q, uint32, s), w.shape(), s);
    return {pack(q, 1, s), astype(squeeze(scale, -1, s), w.dtype(), s), astype(squeeze(wmin, -1, s), w.dtype(), s)};
  }
  array toward_min = greater(abs(wmin, s), abs(wmax, s), s);
  array scale = maximum(divide(subtract(wmax, wmin, s), array(float(n_bins)), s), array(1e-7f), s);
  scale = where(toward_min, scale, negative(scale, s), s);
  array edge = where(toward_min, wmin, wmax, s);
  array q0 = round(divide(edge, scale, s), s);
  scale = where(not_equal(q0, array(0.0f), s), divide(edge, q0, s), scale, s);
  array q = clip(round(divide(subtract(g, edge, s), scale, s), s), array(0.0f), array(float(n_bins)), s);
  q = reshape(astype(q, uint32, s), w.shape(), s);
  return {pack(q, bits, s), astype(squeeze(scale, -1, s), w.dtype(), s), astype(squeeze(edge, -1, s), w.dtype(), s)};
}

array dequantize(const array& w, const array& scales, const std::optional<array>& biases, std::optional<int> group_size,
                 std::optional<int> bits, const std::string& mode, const std::optional<array>& global_scale,
                 std::optional<Dtype> dtype, StreamOrDevice s) {
  if (w.dtype() != uint32) detail::fail("dequantize", "expected packed uint32 weights, got " + dtype_to_string(w.dtype()) + ".");
  const std::optional<array> factor = nv_global_factor("dequantize", mode, global_scale, s);
  if (is_mx_mode(mode)) {
    check_mx("dequantize", mode, group_size.value_or(mx_group(mode)), bits.value_or(mx_bits(mode)));
    if (biases) detail::fail("dequantize", "expected no biases for mode \"" + mode + "\", got an array.");
    if (factor) return astype(multiply(dequantize_mx(w, scales, mode, float32, s), *factor, s), dtype.value_or(float32), s);
    return dequantize_mx(w, scales, mode, dtype.value_or(bfloat16), s);
  }
  const int gs = group_size.value_or(64);
  if (!biases) detail::fail("dequantize", "expected biases for the affine mode, got none.");
  if (w.ndim() < 2 || scales.ndim() != w.ndim() || biases->shape() != scales.shape())
    detail::fail("dequantize", "expected w, scales and biases of one rank (at least 2) with equal scales and biases, got " +
                                   detail::shape_str(w.shape()) + ", " + detail::shape_str(scales.shape()) + ", " +
                                   detail::shape_str(biases->shape()) + ".");
  const int b = bits ? *bits : infer_bits("dequantize", w, scales, gs);
  check_params("dequantize", mode, gs, b);
  if (int64_t(w.shape(-1)) * 32 != int64_t(scales.shape(-1)) * gs * b)
    detail::fail("dequantize", "expected " + std::to_string(int64_t(scales.shape(-1)) * gs * b / 32) +
                                   " packed words per row for " + std::to_string(scales.shape(-1)) + " groups of " +
                                   std::to_string(gs) + " values at " + std::to_string(b) + " bits, got " +
                                   std::to_string(w.shape(-1)) + ".");
  const Dtype out = dtype.value_or(scales.dtype());
  array q = unpack(w, b, s);  // (..., K)
  Shape gshape = q.shape();
  const int K = gshape.back();
  gshape.back() = K / gs;
  gshape.push_back(gs);
  array v = reshape(astype(q, float32, s), gshape, s);
  array r = add(multiply(v, expand_dims(astype(scales, float32, s), -1, s), s),
                expand_dims(astype(*biases, float32, s), -1, s), s);
  return astype(reshape(r, q.shape(), s), out, s);
}

namespace {
// The checked parameters of a quantized product: bits, group size and the dequantized
// matrix's (rows, cols) per batch entry.
struct QmmShape {
  int gs, bits;
  int rows, cols;
};

QmmShape check_qmm(const char* op, const array& w, const array& scales, const std::optional<array>& biases,
                   std::optional<int> group_size, std::optional<int> bits, const std::string& mode) {
  if (w.dtype() != uint32) detail::fail(op, "expected packed uint32 weights, got " + dtype_to_string(w.dtype()) + ".");
  if (is_mx_mode(mode)) {
    const int mb = mx_bits(mode);
    const int mg = mx_group(mode);
    check_mx(op, mode, group_size.value_or(mg), bits.value_or(mb));
    if (biases) detail::fail(op, "expected no biases for mode \"" + mode + "\", got an array.");
    if (w.ndim() < 2 || scales.ndim() < 2 || scales.dtype() != uint8 || w.shape(-2) != scales.shape(-2) ||
        int64_t(w.shape(-1)) * 32 / mb != int64_t(scales.shape(-1)) * mg)
      detail::fail(op, "expected w (..., rows, K * " + std::to_string(mb) + " / 32) and uint8 scales (..., rows, K / " +
                           std::to_string(mg) + ") for mode \"" + mode + "\", got " + detail::shape_str(w.shape()) + " and " +
                           detail::shape_str(scales.shape()) + ".");
    return {mg, mb, w.shape(-2), scales.shape(-1) * mg};
  }
  const int gs = group_size.value_or(64);
  if (mode != "affine") detail::fail(op, "expected mode \"affine\", \"mxfp4\", \"mxfp8\" or \"nvfp4\", got \"" + mode + "\".");
  if (!biases) detail::fail(op, "expected biases for the affine mode, got none.");
  if (!is_floating(scales.dtype()) || !is_floating(biases->dtype()))
    detail::fail(op, "expected floating scales and biases, got " + dtype_to_string(scales.dtype()) + " and " +
                         dtype_to_string(biases->dtype()) + ".");
  if (w.ndim() < 2 || scales.ndim() < 2 || biases->ndim() < 2 || biases->shape(-1) != scales.shape(-1) ||
      biases->shape(-2) != scales.shape(-2))
    detail::fail(op, "expected w, scales and biases of at least 2 dims, the last two of biases those of scales, got " +
                         detail::shape_str(w.shape()) + ", " + detail::shape_str(scales.shape()) + ", " +
                         detail::shape_str(biases->shape()) + ".");
  if (w.shape(-2) != scales.shape(-2))
    detail::fail(op, "expected w and scales with the same number of rows, got shapes " + detail::shape_str(w.shape()) +
                         " and " + detail::shape_str(scales.shape()) + ".");
  const int b = bits ? *bits : infer_bits(op, w, scales, gs);
  check_params(op, mode, gs, b);
  if (int64_t(w.shape(-1)) * 32 != int64_t(scales.shape(-1)) * gs * b)
    detail::fail(op, "expected " + std::to_string(int64_t(scales.shape(-1)) * gs * b / 32) + " packed words per row for " +
                         std::to_string(scales.shape(-1)) + " groups of " + std::to_string(gs) + " values at " +
                         std::to_string(b) + " bits, got " + std::to_string(w.shape(-1)) + ".");
  return {gs, b, w.shape(-2), scales.shape(-1) * gs};
}

Shape batch_of(const array& a) { return Shape(a.shape().begin(), a.shape().end() - 2); }

Shape with_batch(const Shape& batch, const array& a) {
  Shape r = batch;
  r.push_back(a.shape(-2));
  r.push_back(a.shape(-1));
  return r;
}

array broadcast_batch(const array& a, const Shape& batch, StreamOrDevice s) {
  Shape target = with_batch(batch, a);
  return a.shape() == target ? a : broadcast_to(a, target, s);
}

// a (..., r, c) as (n, r, c) with n the product of its batch dims.
array flat_batch(const char* op, const array& a, StreamOrDevice s) {
  int64_t n = 1;
  for (int d = 0; d + 2 < static_cast<int>(a.ndim()); ++d)
    if (__builtin_mul_overflow(n, int64_t(a.shape(d)), &n)) n = std::numeric_limits<int64_t>::max();
  return reshape(a, {detail::checked_dim(n, op), a.shape(-2), a.shape(-1)}, s);
}

// The gathers of a matrix-level gather (gather_qmm, gather_qqmm): the lhs and rhs indices
// (integer; a missing one is every batch entry of its side in order, shaped like its batch
// dims), broadcast together into the result's batch shape.
std::pair<array, array> gather_indices(const char* op, const array& x, const array& w,
                                       const std::optional<array>& lhs_indices,
                                       const std::optional<array>& rhs_indices, StreamOrDevice s) {
  for (const auto* idx : {&lhs_indices, &rhs_indices}) {
    if (*idx && !issubdtype((*idx)->dtype(), integer))
      detail::fail(op, "expected integer indices, got " + dtype_to_string((*idx)->dtype()) + ".");
  }
  auto indices = [&](const std::optional<array>& idx, const array& a) {
    if (idx) return *idx;
    Shape b = batch_of(a);
    int n = 1;
    for (int d : b) n *= d;
    return reshape(arange(0.0, double(n), int32, s), b, s);
  };
  array li = indices(lhs_indices, x), ri = indices(rhs_indices, w);
  Shape out_batch = broadcast_shapes(li.shape(), ri.shape());
  return {broadcast_to(li, out_batch, s), broadcast_to(ri, out_batch, s)};
}
}  // namespace

array quantized_matmul(const array& x, const array& w, const array& scales, const std::optional<array>& biases,
                       bool transpose, std::optional<int> group_size, std::optional<int> bits, const std::string& mode,
                       StreamOrDevice s) {
  const char* op = "quantized_matmul";
  QmmShape q = check_qmm(op, w, scales, biases, group_size, bits, mode);
  const int K = transpose ? q.cols : q.rows, N = transpose ? q.rows : q.cols;
  if (x.ndim() < 1 || x.shape(-1) != K)
    detail::fail(op, "expected x with a last axis of " + std::to_string(K) + " (the " +
                         (transpose ? std::string("columns") : std::string("rows")) + " of the " +
                         std::to_string(q.rows) + " x " + std::to_string(q.cols) +
                         " dequantized matrix), got shape " + detail::shape_str(x.shape()) + ".");
  if (x.dtype() == complex64) detail::fail(op, "expected a real x, got " + dtype_to_string(x.dtype()) + ".");
  if (is_mx_mode(mode)) {
    // The dequantized weights (in x's floating dtype) times x.
    const Dtype tx = is_floating(x.dtype()) ? x.dtype() : float32;
    array wd = dequantize(w, scales, std::nullopt, mx_group(mode), mx_bits(mode), mode, std::nullopt, tx, s);
    return matmul(astype(x, tx, s), transpose ? swapaxes(wd, -1, -2, s) : wd, s);
  }
  Dtype t = result_type({x, scales, *biases});
  if (!is_floating(t)) t = float32;
  const Stream st = to_stream(s);
  const bool gpu = st.device.type != Device::cpu;
  if (gpu) {
    // GPU streams: the fused kernel for x @ W.T with few rows of x per weight matrix (bound by
    // reading the packed weights); otherwise the dequantized weights times x through cuBLASLt.
    const bool one_matrix = w.ndim() == 2 && scales.ndim() == 2 && biases->ndim() == 2;
    const int64_t rows = x.ndim() < 2 ? 1 : one_matrix ? int64_t(x.size()) / std::max(K, 1) : x.shape(-2);
    if (!transpose || rows > QuantizedMatmul::kGpuMaxRows) {
      array wd = dequantize(w, scales, biases, q.gs, q.bits, mode, std::nullopt, t, s);
      return matmul(astype(x, t, s), transpose ? swapaxes(wd, -1, -2, s) : wd, s);
    }
  }
  // The CPU kernel reads any floating x and scales/biases of one floating dtype; the GPU kernel
  // all three in the result's dtype.
  array xx = is_floating(x.dtype()) && !gpu ? x : astype(x, t, s);
  array sc = scales, bi = *biases;
  if (sc.dtype() != bi.dtype() || gpu) {
    sc = astype(sc, t, s);
    bi = astype(bi, t, s);
  }
  const bool vec = xx.ndim() == 1;
  if (vec) xx = expand_dims(xx, 0, s);
  array wq = w;
  Shape out_shape;
  if (w.ndim() == 2 && sc.ndim() == 2 && bi.ndim() == 2) {
    out_shape = xx.shape();
    out_shape.back() = N;
  } else {
    Shape batch = broadcast_shapes({batch_of(xx), batch_of(w), batch_of(sc), batch_of(bi)});
    xx = broadcast_batch(xx, batch, s);
    wq = broadcast_batch(wq, batch, s);
    sc = broadcast_batch(sc, batch, s);
    bi = broadcast_batch(bi, batch, s);
    out_shape = batch;
    out_shape.push_back(xx.shape(-2));
    out_shape.push_back(N);
  }
  array out(out_shape, t, std::make_shared<QuantizedMatmul>(st, q.gs, q.bits, transpose), {xx, wq, sc, bi});
  return vec ? squeeze(out, -2, s) : out;
}

array gather_qmm(const array& x, const array& w, const array& scales, const std::optional<array>& biases,
                 std::optional<array> lhs_indices, std::optional<array> rhs_indices, bool transpose,
                 std::optional<int> group_size, std::optional<int> bits, const std::string& mode,
                 const std::optional<array>& global_scale, bool sorted_indices, StreamOrDevice s) {
  const char* op = "gather_qmm";
  QmmShape q = check_qmm(op, w, scales, biases, group_size, bits, mode);
  const std::optional<array> factor = nv_global_factor(op, mode, global_scale, s);
  if (x.ndim() < 2) detail::fail(op, "expected x of at least 2 dims, got shape " + detail::shape_str(x.shape()) + ".");
  if (batch_of(w) != batch_of(scales))
    detail::fail(op, "expected w, scales and biases with the same batch dims, got shapes " + detail::shape_str(w.shape()) +
                         " and " + detail::shape_str(scales.shape()) + ".");
  auto [li, ri] = gather_indices(op, x, w, lhs_indices, rhs_indices, s);
  (void)sorted_indices;  // the gathers below do not depend on the order
  array xg = take(flat_batch(op, x, s), li, 0, s);
  array wg = take(flat_batch(op, w, s), ri, 0, s), sg = take(flat_batch(op, scales, s), ri, 0, s);
  std::optional<array> bg;
  if (biases) bg = take(flat_batch(op, *biases, s), ri, 0, s);
  array out = quantized_matmul(xg, wg, sg, bg, transpose, q.gs, q.bits, mode, s);
  // The global factor scales every dequantized weight alike, so the product too.
  return factor ? multiply(out, astype(*factor, out.dtype(), s), s) : out;
}

namespace {
// qqmm's global factors (x's, w's), after the operands are checked.
struct QqmmPlan {
  std::optional<array> fx, fw;
};

QqmmPlan check_qqmm(const char* op, const array& x, const array& w, const std::optional<array>& w_scales,
                    std::optional<int> group_size, std::optional<int> bits, const std::string& mode,
                    const std::optional<array>& gsx, const std::optional<array>& gsw, StreamOrDevice s) {
  if (!is_mx_mode(mode))
    detail::fail(op, "expected mode \"nvfp4\", \"mxfp8\" or \"mxfp4\", got \"" + mode + "\".");
  check_mx(op, mode, group_size.value_or(mx_group(mode)), bits.value_or(mx_bits(mode)));
  if (x.dtype() != float32 && x.dtype() != float16 && x.dtype() != bfloat16)
    detail::fail(op, "expected x of dtype float32, float16 or bfloat16, got " + dtype_to_string(x.dtype()) + ".");
  if (x.ndim() < 2) detail::fail(op, "expected x of at least 2 dims, got shape " + detail::shape_str(x.shape()) + ".");
  const int K = x.shape(-1);
  if (w.dtype() == uint32) {
    if (!w_scales) detail::fail(op, "expected scales with a quantized (uint32) w, got none.");
    QmmShape q = check_qmm(op, w, *w_scales, std::nullopt, group_size, bits, mode);
    if (q.cols != K)
      detail::fail(op, "expected x with a last axis of " + std::to_string(q.cols) + " (the columns of w), got shape " +
                           detail::shape_str(x.shape()) + ".");
  } else {
    if (w_scales) detail::fail(op, "expected no scales with a floating w (it is quantized here), got an array.");
    if (w.dtype() != float32 && w.dtype() != float16 && w.dtype() != bfloat16)
      detail::fail(op, "expected w packed in uint32 or of dtype float32, float16 or bfloat16, got " +
                           dtype_to_string(w.dtype()) + ".");
    if (w.ndim() < 2 || w.shape(-1) != K)
      detail::fail(op, "expected w (..., N, " + std::to_string(K) + ") matching x's last axis, got shapes " +
                           detail::shape_str(x.shape()) + " and " + detail::shape_str(w.shape()) + ".");
  }
  if (K % mx_group(mode) != 0)
    detail::fail(op, "expected the last axis of x (" + std::to_string(K) + ") to be a multiple of the group size " +
                         std::to_string(mx_group(mode)) + ".");
  if (gsx.has_value() != gsw.has_value())
    detail::fail(op, "expected both global scales (global_scale_x and global_scale_w) or neither, got only one.");
  return {nv_global_factor(op, mode, gsx, s), nv_global_factor(op, mode, gsw, s)};
}

// a rounded through the mode's quantization and back, in float32.
array fake_quantize(const array& a, const std::string& mode, const std::optional<array>& factor, StreamOrDevice s) {
  std::vector<array> q = quantize_mx(a, mode, factor, s);
  array d = dequantize_mx(q[0], q[1], mode, float32, s);
  return factor ? multiply(d, *factor, s) : d;
}
}  // namespace

array qqmm(const array& x, const array& w, const std::optional<array>& w_scales, std::optional<int> group_size,
           std::optional<int> bits, const std::string& mode, const std::optional<array>& global_scale_x,
           const std::optional<array>& global_scale_w, StreamOrDevice s) {
  const char* op = "qqmm";
  QqmmPlan p = check_qqmm(op, x, w, w_scales, group_size, bits, mode, global_scale_x, global_scale_w, s);
  const bool packed = w.dtype() == uint32;
  // The quantized operands in float32; a packed w is dequantized as it is.
  auto quantized = [=](const array& a, bool is_w) {
    if (is_w && packed) {
      array d = dequantize_mx(w, *w_scales, mode, float32, s);
      return p.fw ? multiply(d, *p.fw, s) : d;
    }
    return fake_quantize(a, mode, is_w ? p.fw : p.fx, s);
  };
  const Dtype out = x.dtype();
  auto forward = [=](const std::vector<array>& in) -> std::vector<array> {
    array xq = quantized(in[0], false), wq = quantized(packed ? w : in[1], true);
    return {astype(matmul(xq, swapaxes(wq, -1, -2, s), s), out, s)};
  };
  // Straight-through: the quantization passes the cotangent unchanged.
  auto backward = [=](const std::vector<array>& in, const std::vector<array>& cot,
                      const std::vector<array>&) -> std::vector<array> {
    array c = astype(cot[0], float32, s);
    array xq = quantized(in[0], false), wq = quantized(packed ? w : in[1], true);
    std::vector<array> g{astype(detail::unbroadcast(matmul(c, wq, s), in[0].shape()), in[0].dtype(), s)};
    if (!packed)
      g.push_back(astype(detail::unbroadcast(matmul(swapaxes(c, -1, -2, s), xq, s), in[1].shape()), in[1].dtype(), s));
    return g;
  };
  std::vector<array> inputs{x};
  if (!packed) inputs.push_back(w);
  return custom_vjp(forward, backward)(inputs)[0];
}

array gather_qqmm(const array& x, const array& w, const std::optional<array>& scales_w,
                  const std::optional<array>& lhs_indices, const std::optional<array>& rhs_indices,
                  std::optional<int> group_size, std::optional<int> bits, const std::string& mode,
                  const std::optional<array>& global_scale_x, const std::optional<array>& global_scale_w,
                  bool sorted_indices, StreamOrDevice s) {
  const char* op = "gather_qqmm";
  check_qqmm(op, x, w, scales_w, group_size, bits, mode, global_scale_x, global_scale_w, s);
  if (scales_w && batch_of(w) != batch_of(*scales_w))
    detail::fail(op, "expected w and its scales with the same batch dims, got shapes " + detail::shape_str(w.shape()) +
                         " and " + detail::shape_str(scales_w->shape()) + ".");
  auto [li, ri] = gather_indices(op, x, w, lhs_indices, rhs_indices, s);
  (void)sorted_indices;  // the gathers do not depend on the order
  std::optional<array> sg;
  if (scales_w) sg = take(flat_batch(op, *scales_w, s), ri, 0, s);
  return qqmm(take(flat_batch(op, x, s), li, 0, s), take(flat_batch(op, w, s), ri, 0, s), sg, group_size, bits, mode,
              global_scale_x, global_scale_w, s);
}

array to_fp8(array x, StreamOrDevice s) {
  if (!is_floating(x.dtype()) || x.dtype() == complex64)
    detail::fail("to_fp8", "expected a real floating x, got " + dtype_to_string(x.dtype()) + ".");
  array f = astype(x, float32, s);
  array sign = left_shift(right_shift(view(f, uint32, s), array(31u, uint32), s), array(7u, uint32), s);
  // NaN saturates like infinity (MLX's rule), keeping its sign.
  array mag = where(isnan(f, s), array(0x7eu, uint32), e4m3_codes(abs(f, s), s), s);
  return astype(bitwise_or(mag, sign, s), uint8, s);
}

array from_fp8(array x, Dtype dtype, StreamOrDevice s) {
  if (x.dtype() != uint8) detail::fail("from_fp8", "expected uint8 codes, got " + dtype_to_string(x.dtype()) + ".");
  if (!is_floating(dtype) || dtype == complex64)
    detail::fail("from_fp8", "expected a real floating dtype, got " + dtype_to_string(dtype) + ".");
  return astype(take(e4m3_table(), astype(x, int32, s), 0, s), dtype, s);
}

}  // namespace mica
