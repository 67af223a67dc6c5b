// Quantization in MLX's layouts (affine, mxfp4, mxfp8, nvfp4): quantize, dequantize,
// quantized_matmul, gather_qmm; products with the activations quantized too (qqmm, gather_qqmm);
// fp8 e4m3 conversions (to_fp8, from_fp8).
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "mica/array.h"

namespace mica {

/** Quantizes w (..., K) in groups of `group_size` along the last axis to `bits` bits (1, 2, 3,
 * 4, 5, 6 or 8; groups 32, 64 or 128; 64 and 4 when not given; one bit keeps each group's min
 * as the bias and max - min as the scale): returns {w_q, scales, biases} with
 * w_q (..., K bits / 32) uint32 (the values packed as one little-endian bit stream, lowest bits
 * first) and scales, biases (..., K / group_size) in w's dtype, w ~ scales * q + biases, exactly
 * as MLX's "affine" mode lays them out. The microscaling modes return {w_q, scales} with uint8
 * scales and no biases, bit for bit as MLX: "mxfp4" (group 32, 4 bits: fp4 e2m1 values, e8m0
 * power-of-two scales), "mxfp8" (group 32, 8 bits: fp8 e4m3 values, e8m0 scales) and "nvfp4"
 * (group 16, 4 bits: e2m1 values, e4m3 scales). nvfp4 takes an optional `global_scale` (a float32
 * scalar, usually max|w| of the whole tensor), as MLX: each group's e4m3 scale then holds
 * max|group| / 6 * (448 * 6 / global_scale), so that the e4m3 range covers the tensor. */
std::vector<array> quantize(const array& w, std::optional<int> group_size = std::nullopt,
                            std::optional<int> bits = std::nullopt, const std::string& mode = "affine",
                            const std::optional<array>& global_scale = std::nullopt, StreamOrDevice s = {});

/** The inverse: scales * q + biases, (..., K) in the scales' dtype (or `dtype`); for the
 * microscaling modes (no biases) bfloat16 unless `dtype` says otherwise, as MLX. nvfp4 with the
 * `global_scale` given to quantize multiplies by global_scale / (448 * 6), float32 by default. */
array dequantize(const array& w, const array& scales, const std::optional<array>& biases = {},
                 std::optional<int> group_size = std::nullopt, std::optional<int> bits = std::nullopt,
                 const std::string& mode = "affine", const std::optional<array>& global_scale = std::nullopt,
                 std::optional<Dtype> dtype = std::nullopt, StreamOrDevice s = {});

/** x @ w.T (transpose) or x @ w with w given quantized, x (..., K) of a floating dtype (an
 * integer x is cast to float32); the result's dtype promotes x, scales and biases. On CPU streams
 * a fused kernel reads the packed words directly (the float weights are never materialized); on
 * GPU streams the dequantized weights times x. Batch dims of x and w broadcast as in matmul.
 * The microscaling modes multiply by the dequantized weights in x's dtype on every device. */
array quantized_matmul(const array& x, const array& w, const array& scales, const std::optional<array>& biases = {},
                       bool transpose = true, std::optional<int> group_size = std::nullopt,
                       std::optional<int> bits = std::nullopt, const std::string& mode = "affine",
                       StreamOrDevice s = {});

/** quantized_matmul with matrix-level gather (mixtures of experts): lhs_indices pick flat
 * batch entries of x (..., M, K), rhs_indices flat batch entries of w, scales and biases; the
 * two index arrays broadcast together into the result's batch shape (a missing one is every
 * batch entry in order). `sorted_indices` is accepted as MLX's hint; `global_scale` is nvfp4's. */
array gather_qmm(const array& x, const array& w, const array& scales, const std::optional<array>& biases = {},
                 std::optional<array> lhs_indices = {}, std::optional<array> rhs_indices = {},
                 bool transpose = true, std::optional<int> group_size = std::nullopt,
                 std::optional<int> bits = std::nullopt, const std::string& mode = "affine",
                 const std::optional<array>& global_scale = std::nullopt, bool sorted_indices = false,
                 StreamOrDevice s = {});

/** x @ w.T with x (..., M, K) quantized on the fly and w (..., N, K) either a floating matrix
 * (quantized on the fly too) or already quantized (packed uint32 with its uint8 `w_scales`):
 * dequantize(quantize(x)) @ dequantize(w).T, accumulated in float32, in x's dtype (float32,
 * float16 or bfloat16). Modes "nvfp4" (the default), "mxfp8" and "mxfp4"; `global_scale_x` and
 * `global_scale_w` are nvfp4's global scales (see quantize). Batch dims broadcast as in matmul.
 * The gradient is the straight-through one: the cotangent times the quantized other operand (x
 * and a floating w get gradients; a packed w gets none). */
array qqmm(const array& x, const array& w, const std::optional<array>& w_scales = std::nullopt,
           std::optional<int> group_size = std::nullopt, std::optional<int> bits = std::nullopt,
           const std::string& mode = "nvfp4", const std::optional<array>& global_scale_x = std::nullopt,
           const std::optional<array>& global_scale_w = std::nullopt, StreamOrDevice s = {});

/** qqmm with matrix-level gather, as gather_qmm: lhs_indices pick flat batch entries of x,
 * rhs_indices flat batch entries of w (and its scales). */
array gather_qqmm(const array& x, const array& w, const std::optional<array>& scales_w = std::nullopt,
                  const std::optional<array>& lhs_indices = std::nullopt,
                  const std::optional<array>& rhs_indices = std::nullopt, std::optional<int> group_size = std::nullopt,
                  std::optional<int> bits = std::nullopt, const std::string& mode = "nvfp4",
                  const std::optional<array>& global_scale_x = std::nullopt,
                  const std::optional<array>& global_scale_w = std::nullopt, bool sorted_indices = false,
                  StreamOrDevice s = {});

/** fp8 e4m3 codes (uint8) of a floating x: round to nearest even, saturating at +-448 (infinities
 * and NaN too, as MLX). */
array to_fp8(array x, StreamOrDevice s = {});

/** The values of fp8 e4m3 codes x (uint8) in the floating `dtype` (0x7f and 0xff are NaN). */
array from_fp8(array x, Dtype dtype, StreamOrDevice s = {});

}  // namespace mica
