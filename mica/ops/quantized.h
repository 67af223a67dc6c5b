// Affine quantization in MLX's layout: quantize, dequantize, quantized_matmul.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "mica/array.h"

namespace mica {

/** Quantizes w (..., K) in groups of `group_size` along the last axis to `bits` bits (2, 3, 4,
 * 5, 6 or 8; groups 32, 64 or 128): returns {w_q, scales, biases} with w_q (..., K bits / 32)
 * uint32 (the values packed as one little-endian bit stream, lowest bits first) and scales,
 * biases (..., K / group_size) in w's dtype, w ~ scales * q + biases, exactly as MLX's "affine"
 * mode lays them out. */
std::vector<array> quantize(const array& w, int group_size = 64, int bits = 4, const std::string& mode = "affine",
                            StreamOrDevice s = {});

/** The inverse: scales * q + biases, (..., K) in the scales' dtype (or `dtype`). */
array dequantize(const array& w, const array& scales, const std::optional<array>& biases = {},
                 std::optional<int> group_size = std::nullopt, std::optional<int> bits = std::nullopt,
                 const std::string& mode = "affine", std::optional<Dtype> dtype = std::nullopt, StreamOrDevice s = {});

/** x @ w.T (transpose) or x @ w with w given quantized: today the dequantized weights times x
 * (a fused kernel is issue 16's next step). */
array quantized_matmul(const array& x, const array& w, const array& scales, const std::optional<array>& biases = {},
                       bool transpose = true, std::optional<int> group_size = std::nullopt,
                       std::optional<int> bits = std::nullopt, const std::string& mode = "affine",
                       StreamOrDevice s = {});

}  // namespace mica
