// Affine quantization (ops/quantized.h) as compositions of elementwise, reduction and indexing
// ops, so it runs on every device. MLX's layout: per group of g values along the last axis,
//   edge = the end of [min, max] with the larger magnitude, scale = +-(max - min) / (2^b - 1)
//   (at least 1e-7) with its sign pointing away from the edge, nudged so that edge / scale is a
//   whole number, bias = edge, q = clip(round((w - bias) / scale), 0, 2^b - 1);
// the q of a row form one little-endian bit stream (value i at bits [b i, b i + b)), cut into
// uint32 words. Every 32 values fill exactly b words, so packing works per period of 32 values.
#include "mica/ops/quantized.h"

#include <cstdint>
#include <string>

#include "mica/ops.h"
#include "mica/ops/utils.h"

namespace mica {

namespace {
void check_params(const char* op, const std::string& mode, int group_size, int bits) {
  if (mode != "affine") detail::fail(op, "expected mode \"affine\", got \"" + mode + "\".");
  if (group_size != 32 && group_size != 64 && group_size != 128)
    detail::fail(op, "expected a group size of 32, 64 or 128, got " + std::to_string(group_size) + ".");
  if (bits != 2 && bits != 3 && bits != 4 && bits != 5 && bits != 6 && bits != 8)
    detail::fail(op, "expected 2, 3, 4, 5, 6 or 8 bits, got " + std::to_string(bits) + ".");
}

// For word j (< bits) of a period and value i (< 32): the left shift of q_i into the word (or
// -1 when q_i starts before it), the right shift (or -1), as uint32 tables of shape (bits, 32).
struct ShiftTables {
  array left, right, in_word;
};
ShiftTables shift_tables(int bits) {
  std::vector<uint32_t> left(bits * 32, 0), right(bits * 32, 0);
  std::vector<bool> in(bits * 32, false);
  for (int j = 0; j < bits; ++j) {
    for (int i = 0; i < 32; ++i) {
      const int start = bits * i - 32 * j;  // q_i's first bit, relative to word j
      if (start >= 32 || start + bits <= 0) continue;
      in[j * 32 + i] = true;
      if (start >= 0) left[j * 32 + i] = static_cast<uint32_t>(start);
      else right[j * 32 + i] = static_cast<uint32_t>(-start);
    }
  }
  return {array(left.begin(), {bits, 32}, uint32), array(right.begin(), {bits, 32}, uint32),
          array(in.begin(), {bits, 32}, bool_)};
}

// Packs q (..., K) uint32 (K a multiple of 32) into (..., K bits / 32) words.
array pack(const array& q, int bits, StreamOrDevice s) {
  Shape sh = q.shape();
  const int K = sh.back();
  Shape periods = sh;
  periods.back() = K / 32;
  periods.push_back(1);
  periods.push_back(32);
  array v = reshape(q, periods, s);  // (..., P, 1, 32)
  ShiftTables t = shift_tables(bits);
  array part = right_shift(left_shift(v, t.left, s), t.right, s);  // (..., P, bits, 32)
  part = where(t.in_word, part, array(0u, uint32), s);
  array words = sum(part, -1, false, s);  // disjoint bit fields: the sum is their OR
  words = astype(words, uint32, s);
  sh.back() = K / 32 * bits;
  return reshape(words, sh, s);
}

// Unpacks words (..., W) into (..., W 32 / bits) values as uint32.
array unpack(const array& w, int bits, StreamOrDevice s) {
  Shape sh = w.shape();
  const int W = sh.back(), P = W / bits;
  std::vector<int32_t> first(32), second(32);
  std::vector<uint32_t> off(32), spill(32);
  for (int i = 0; i < 32; ++i) {
    const int start = bits * i;
    first[i] = start / 32;
    off[i] = static_cast<uint32_t>(start % 32);
    const bool crosses = start % 32 + bits > 32;
    second[i] = crosses ? first[i] + 1 : first[i];
    spill[i] = crosses ? static_cast<uint32_t>(32 - start % 32) : 32u;  // 32: nothing from the next word
  }
  Shape periods = sh;
  periods.back() = P;
  periods.push_back(bits);
  array v = reshape(w, periods, s);  // (..., P, bits)
  array lo = right_shift(take(v, array(first.begin(), {32}, int32), -1, s), array(off.begin(), {32}, uint32), s);
  array hi = take(v, array(second.begin(), {32}, int32), -1, s);
  array sp = array(spill.begin(), {32}, uint32);
  hi = where(less(sp, array(32u, uint32), s), left_shift(hi, minimum(sp, array(31u, uint32), s), s),
             array(0u, uint32), s);
  const uint32_t mask = (1u << bits) - 1u;
  array q = bitwise_and(bitwise_or(lo, hi, s), array(mask, uint32), s);  // (..., P, 32)
  sh.back() = P * 32;
  return reshape(q, sh, s);
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

std::vector<array> quantize(const array& w, int group_size, int bits, const std::string& mode, StreamOrDevice s) {
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
                 std::optional<int> bits, const std::string& mode, std::optional<Dtype> dtype, StreamOrDevice s) {
  const int gs = group_size.value_or(64);
  if (w.dtype() != uint32) detail::fail("dequantize", "expected packed uint32 weights, got " + dtype_to_string(w.dtype()) + ".");
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

array quantized_matmul(const array& x, const array& w, const array& scales, const std::optional<array>& biases,
                       bool transpose, std::optional<int> group_size, std::optional<int> bits, const std::string& mode,
                       StreamOrDevice s) {
  array wd = dequantize(w, scales, biases, group_size, bits, mode, x.dtype(), s);
  return matmul(x, transpose ? swapaxes(wd, -1, -2, s) : wd, s);
}

}  // namespace mica
