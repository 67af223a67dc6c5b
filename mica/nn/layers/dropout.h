// Dropout layers, as MLX's mlx.nn.Dropout, Dropout2d and Dropout3d. In training mode each
// zeroes entries (or whole channels) with probability p, drawing its mask from mica::random's
// global key, and scales what it keeps by 1 / (1 - p); in eval mode it returns its input.
#pragma once
#include <string>

#include "mica/nn/module.h"

namespace mica::nn {

/** Zeroes each element with probability p in training mode. */
class Dropout : public Module {
 public:
  /** p in [0, 1). */
  explicit Dropout(double p = 0.5);
  /** "Dropout". */
  std::string name() const override { return "Dropout"; }
  /** `p=<p>`, printed as MLX prints it (1 - (1 - p)). */
  std::string extra_repr() const override;
  /** x masked and scaled in training mode, x unchanged otherwise. */
  array operator()(const array& x) override;

 private:
  double p_1_;  // the keep probability 1 - p, as MLX stores it
};

/** Zeroes whole channels of channels-last (N, H, W, C) or (H, W, C) inputs with probability p. */
class Dropout2d : public Module {
 public:
  /** p in [0, 1). */
  explicit Dropout2d(double p = 0.5);
  /** "Dropout2d". */
  std::string name() const override { return "Dropout2d"; }
  /** `p=<p>`. */
  std::string extra_repr() const override;
  /** x of 3 or 4 dims; one mask entry per (sample, channel). */
  array operator()(const array& x) override;

 private:
  double p_1_;
};

/** Zeroes whole channels of channels-last (N, D, H, W, C) or (D, H, W, C) inputs with probability p. */
class Dropout3d : public Module {
 public:
  /** p in [0, 1). */
  explicit Dropout3d(double p = 0.5);
  /** "Dropout3d". */
  std::string name() const override { return "Dropout3d"; }
  /** `p=<p>`. */
  std::string extra_repr() const override;
  /** x of 4 or 5 dims; one mask entry per (sample, channel). */
  array operator()(const array& x) override;

 private:
  double p_1_;
};

}  // namespace mica::nn
