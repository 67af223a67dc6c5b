// Convolutions, channels-last: input (N, *spatial, C_in), weight (C_out, *kernel, C_in / groups),
// output (N, *out_spatial, C_out). Floating types only; input and weight promote together.
// Per spatial dim: out = (in_dilated + pad_lo + pad_hi - kernel_dilated) / stride + 1, where
// in_dilated = (in - 1) * input_dilation + 1 and kernel_dilated = (k - 1) * dilation + 1.
// The transposed convolutions give out = (in - 1) * stride - 2 * padding + kernel_dilated +
// output_padding.
#pragma once
#include <tuple>
#include <utility>
#include <vector>

#include "mica/array.h"

namespace mica {

/** 1-D cross-correlation of (N, L, C_in) with (C_out, K, C_in / groups). */
array conv1d(const array& input, const array& weight, int stride = 1, int padding = 0, int dilation = 1,
             int groups = 1, StreamOrDevice s = {});

/** 2-D cross-correlation of (N, H, W, C_in) with (C_out, KH, KW, C_in / groups). */
array conv2d(const array& input, const array& weight, const std::pair<int, int>& stride = {1, 1},
             const std::pair<int, int>& padding = {0, 0}, const std::pair<int, int>& dilation = {1, 1},
             int groups = 1, StreamOrDevice s = {});

/** 3-D cross-correlation of (N, D, H, W, C_in) with (C_out, KD, KH, KW, C_in / groups). */
array conv3d(const array& input, const array& weight, const std::tuple<int, int, int>& stride = {1, 1, 1},
             const std::tuple<int, int, int>& padding = {0, 0, 0},
             const std::tuple<int, int, int>& dilation = {1, 1, 1}, int groups = 1, StreamOrDevice s = {});

/** General convolution over 1-3 spatial dims. Each parameter list has one entry per spatial dim,
 * or one entry (used for every dim), or none (the default: stride 1, padding 0, dilations 1).
 * padding_hi defaults to padding_lo. Padding may be negative (crops). input_dilation inserts input_dilation - 1 zeros between input
 * elements; flip turns the cross-correlation into a true convolution. */
array conv_general(array input, array weight, std::vector<int> stride = {}, std::vector<int> padding_lo = {},
                   std::vector<int> padding_hi = {}, std::vector<int> kernel_dilation = {},
                   std::vector<int> input_dilation = {}, int groups = 1, bool flip = false, StreamOrDevice s = {});

/** conv_general with the same padding on both sides (groups must be given, to keep calls with
 * only lists unambiguous). */
array conv_general(const array& input, const array& weight, std::vector<int> stride, std::vector<int> padding,
                   std::vector<int> kernel_dilation, std::vector<int> input_dilation, int groups, bool flip = false,
                   StreamOrDevice s = {});

/** 1-D transposed convolution (the gradient of conv1d with respect to its input). */
array conv_transpose1d(const array& input, const array& weight, int stride = 1, int padding = 0, int dilation = 1,
                       int output_padding = 0, int groups = 1, StreamOrDevice s = {});

/** 2-D transposed convolution. */
array conv_transpose2d(const array& input, const array& weight, const std::pair<int, int>& stride = {1, 1},
                       const std::pair<int, int>& padding = {0, 0}, const std::pair<int, int>& dilation = {1, 1},
                       const std::pair<int, int>& output_padding = {0, 0}, int groups = 1, StreamOrDevice s = {});

/** 3-D transposed convolution. */
array conv_transpose3d(const array& input, const array& weight, const std::tuple<int, int, int>& stride = {1, 1, 1},
                       const std::tuple<int, int, int>& padding = {0, 0, 0},
                       const std::tuple<int, int, int>& dilation = {1, 1, 1},
                       const std::tuple<int, int, int>& output_padding = {0, 0, 0}, int groups = 1,
                       StreamOrDevice s = {});

}  // namespace mica
