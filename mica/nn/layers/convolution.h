// Convolution layers, as MLX's mlx.nn.Conv1d/2d/3d and ConvTranspose1d/2d/3d. Inputs are
// channels-last: (N, L, C), (N, H, W, C) or (N, D, H, W, C). Weights are
// (out_channels, *kernel_size, in_channels [/ groups]) and initialized uniform in
// [-s, s) with s = 1/sqrt(in_channels [/ groups] * prod(kernel_size)); biases start at zero.
#pragma once
#include <string>
#include <vector>

#include "mica/nn/layers/layer_args.h"
#include "mica/nn/member.h"

namespace mica::nn {

/** Optional arguments of Conv1d. */
struct Conv1dOptions {
  int stride = 1;
  int padding = 0;
  int dilation = 1;
  int groups = 1;
  bool bias = true;
};

/** Optional arguments of Conv2d (each spatial argument an int or a pair). */
struct Conv2dOptions {
  IntOrTuple stride = 1;
  IntOrTuple padding = 0;
  IntOrTuple dilation = 1;
  int groups = 1;
  bool bias = true;
};

/** Optional arguments of Conv3d (each spatial argument an int or a triple; no groups, as MLX). */
struct Conv3dOptions {
  IntOrTuple stride = 1;
  IntOrTuple padding = 0;
  IntOrTuple dilation = 1;
  bool bias = true;
};

/** Optional arguments of ConvTranspose1d. */
struct ConvTranspose1dOptions {
  int stride = 1;
  int padding = 0;
  int dilation = 1;
  int output_padding = 0;
  bool bias = true;
};

/** Optional arguments of ConvTranspose2d and ConvTranspose3d (ints or tuples). */
struct ConvTransposeOptions {
  IntOrTuple stride = 1;
  IntOrTuple padding = 0;
  IntOrTuple dilation = 1;
  IntOrTuple output_padding = 0;
  bool bias = true;
};

/** 1-D convolution over (N, L, in_channels). */
class Conv1d : public Module {
 public:
  /** Conv1d(in_channels, out_channels, kernel_size, {.stride, .padding, .dilation, .groups, .bias}). */
  Conv1d(int in_channels, int out_channels, int kernel_size, const Conv1dOptions& options = {});
  /** "Conv1d". */
  std::string name() const override { return "Conv1d"; }
  /** `<in>, <out>, kernel_size=<k>, stride=.., padding=.., dilation=.., groups=.., bias=..`. */
  std::string extra_repr() const override;
  /** (N, L, in_channels) -> (N, L_out, out_channels). */
  array operator()(const array& x) override;

  Param weight{this, "weight"};
  Param bias{this, "bias"};

 private:
  int stride_, padding_, dilation_, groups_;
};

/** 2-D convolution over (N, H, W, in_channels). */
class Conv2d : public Module {
 public:
  /** Conv2d(in_channels, out_channels, kernel_size (int or pair), {.stride, .padding, .dilation, .groups, .bias}). */
  Conv2d(int in_channels, int out_channels, const IntOrTuple& kernel_size, const Conv2dOptions& options = {});
  /** "Conv2d". */
  std::string name() const override { return "Conv2d"; }
  /** `<in>, <out>, kernel_size=(kh, kw), stride=(..), padding=(..), dilation=<as given>, groups=.., bias=..`. */
  std::string extra_repr() const override;
  /** (N, H, W, in_channels) -> (N, H_out, W_out, out_channels). */
  array operator()(const array& x) override;

  Param weight{this, "weight"};
  Param bias{this, "bias"};

 private:
  std::vector<int> stride_, padding_, dilation_;
  IntOrTuple dilation_arg_;  // printed as given, as MLX
  int groups_;
};

/** 3-D convolution over (N, D, H, W, in_channels). */
class Conv3d : public Module {
 public:
  /** Conv3d(in_channels, out_channels, kernel_size (int or triple), {.stride, .padding, .dilation, .bias}). */
  Conv3d(int in_channels, int out_channels, const IntOrTuple& kernel_size, const Conv3dOptions& options = {});
  /** "Conv3d". */
  std::string name() const override { return "Conv3d"; }
  /** `<in>, <out>, kernel_size=(..), stride=(..), padding=(..), dilation=<as given>, bias=..`. */
  std::string extra_repr() const override;
  /** (N, D, H, W, in_channels) -> (N, D_out, H_out, W_out, out_channels). */
  array operator()(const array& x) override;

  Param weight{this, "weight"};
  Param bias{this, "bias"};

 private:
  std::vector<int> stride_, padding_, dilation_;
  IntOrTuple dilation_arg_;
};

/** 1-D transposed convolution over (N, L, in_channels); weight (out_channels, kernel_size, in_channels). */
class ConvTranspose1d : public Module {
 public:
  /** ConvTranspose1d(in_channels, out_channels, kernel_size, {.stride, .padding, .dilation, .output_padding, .bias}). */
  ConvTranspose1d(int in_channels, int out_channels, int kernel_size, const ConvTranspose1dOptions& options = {});
  /** "ConvTranspose1d". */
  std::string name() const override { return "ConvTranspose1d"; }
  /** `<in>, <out>, kernel_size=<k>, stride=.., padding=.., dilation=.., output_padding=.., bias=..`. */
  std::string extra_repr() const override;
  /** (N, L, in_channels) -> (N, (L - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1, out_channels). */
  array operator()(const array& x) override;

  Param weight{this, "weight"};
  Param bias{this, "bias"};

 private:
  int stride_, padding_, dilation_, output_padding_;
};

/** 2-D transposed convolution over (N, H, W, in_channels). */
class ConvTranspose2d : public Module {
 public:
  /** ConvTranspose2d(in_channels, out_channels, kernel_size, {.stride, .padding, .dilation, .output_padding, .bias}). */
  ConvTranspose2d(int in_channels, int out_channels, const IntOrTuple& kernel_size,
                  const ConvTransposeOptions& options = {});
  /** "ConvTranspose2d". */
  std::string name() const override { return "ConvTranspose2d"; }
  /** `<in>, <out>, kernel_size=(..), stride=(..), padding=(..), dilation=<as given>, output_padding=(..), bias=..`. */
  std::string extra_repr() const override;
  /** (N, H, W, in_channels) -> (N, H_out, W_out, out_channels). */
  array operator()(const array& x) override;

  Param weight{this, "weight"};
  Param bias{this, "bias"};

 private:
  std::vector<int> stride_, padding_, dilation_, output_padding_;
  IntOrTuple dilation_arg_;
};

/** 3-D transposed convolution over (N, D, H, W, in_channels). */
class ConvTranspose3d : public Module {
 public:
  /** ConvTranspose3d(in_channels, out_channels, kernel_size, {.stride, .padding, .dilation, .output_padding, .bias}). */
  ConvTranspose3d(int in_channels, int out_channels, const IntOrTuple& kernel_size,
                  const ConvTransposeOptions& options = {});
  /** "ConvTranspose3d". */
  std::string name() const override { return "ConvTranspose3d"; }
  /** `<in>, <out>, kernel_size=(..), stride=(..), padding=(..), dilation=<as given>, output_padding=(..), bias=..`. */
  std::string extra_repr() const override;
  /** (N, D, H, W, in_channels) -> (N, D_out, H_out, W_out, out_channels). */
  array operator()(const array& x) override;

  Param weight{this, "weight"};
  Param bias{this, "bias"};

 private:
  std::vector<int> stride_, padding_, dilation_, output_padding_;
  IntOrTuple dilation_arg_;
};

}  // namespace mica::nn
