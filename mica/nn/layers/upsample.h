// Upsample, as MLX's mlx.nn.Upsample: scales the spatial axes of channels-last inputs
// (N, *spatial, C) by nearest-neighbour, (bi/tri)linear or (bi)cubic interpolation.
#pragma once
#include <string>

#include "mica/nn/layers/layer_args.h"
#include "mica/nn/module.h"

namespace mica::nn {

/** Optional arguments of Upsample. */
struct UpsampleOptions {
  std::string mode = "nearest";  // "nearest", "linear" or "cubic"
  bool align_corners = false;    // linear/cubic: map the corner pixels of input and output onto each other
  bool antialias = false;        // linear/cubic: widen the filter when downsampling (not with align_corners)
};

/** Each spatial size n becomes floor(scale * n). Linear and cubic results are computed with
 *  float32 interpolation weights, so integer and half inputs give float32 (as MLX); the cubic
 *  kernel uses a = -0.75 (a = -0.5 with antialias) and replicates the border. */
class Upsample : public Module {
 public:
  /** Upsample(scale_factor (one float, or one per spatial axis), {.mode, .align_corners, .antialias}). */
  explicit Upsample(const FloatOrTuple& scale_factor, const UpsampleOptions& options = {});
  /** "Upsample". */
  std::string name() const override { return "Upsample"; }
  /** `scale_factor=.., mode='..', align_corners=..` (and `, antialias=True` when set). */
  std::string extra_repr() const override;
  /** (N, *spatial, C) with at least one spatial axis -> (N, *scaled spatial, C). */
  array operator()(const array& x) override;

 private:
  FloatOrTuple scale_factor_;
  std::string mode_;
  bool align_corners_, antialias_;
};

}  // namespace mica::nn
