// Recurrent layers, as MLX's mlx.nn.RNN, mlx.nn.GRU and mlx.nn.LSTM. Inputs are (N, L, D)
// batched or (L, D) unbatched; the layers return the hidden state of every step, (N, L, H) or
// (L, H). All weights are initialized uniform in [-1/sqrt(H), 1/sqrt(H)) as MLX.
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <utility>

#include "mica/nn/member.h"

namespace mica::nn {

/** Options of RNN. */
struct RNNOptions {
  bool bias = true;                                 // add a bias to the input projection
  std::function<array(const array&)> nonlinearity;  // empty: tanh
};

/** Elman RNN: h_t = nonlinearity(x_t Wxh^T + bias + h_{t-1} Whh^T), with Wxh (H, D),
 *  Whh (H, H) and bias (H). */
class RNN : public Module {
 public:
  /** An RNN from input_size features to hidden_size. */
  RNN(int input_size, int hidden_size, const RNNOptions& options = {});
  /** "RNN". */
  std::string name() const override { return "RNN"; }
  /** `input_dims=<D>, hidden_size=<H>, nonlinearity=<tanh|function>, bias=<True|False>`. */
  std::string extra_repr() const override;
  /** The hidden states of every step, starting without a hidden state. */
  array operator()(const array& x) override { return (*this)(x, std::nullopt); }
  /** The hidden states of every step from the initial `hidden` ((N, H) or (H)), if given. */
  array operator()(const array& x, const std::optional<array>& hidden);

  Param Wxh{this, "Wxh"};
  Param Whh{this, "Whh"};
  Param bias{this, "bias"};

 private:
  int hidden_size_;
  std::function<array(const array&)> nonlinearity_;
  bool custom_nonlinearity_;
};

/** GRU with Wx (3H, D), Wh (3H, H) (gates r, z, n in that order), and biases b (3H) and bhn (H)
 *  (the latter added to the hidden projection of the n gate). */
class GRU : public Module {
 public:
  /** A GRU from input_size features to hidden_size. */
  GRU(int input_size, int hidden_size, bool bias = true);
  /** "GRU". */
  std::string name() const override { return "GRU"; }
  /** `input_dims=<D>, hidden_size=<H>, bias=<True|False>`. */
  std::string extra_repr() const override;
  /** The hidden states of every step, starting without a hidden state. */
  array operator()(const array& x) override { return (*this)(x, std::nullopt); }
  /** The hidden states of every step from the initial `hidden`, if given. */
  array operator()(const array& x, const std::optional<array>& hidden);

  Param Wx{this, "Wx"};
  Param Wh{this, "Wh"};
  Param b{this, "b"};
  Param bhn{this, "bhn"};

 private:
  int hidden_size_;
};

/** LSTM with Wx (4H, D), Wh (4H, H) and bias (4H), gates i, f, g, o in that order. */
class LSTM : public Module {
 public:
  /** An LSTM from input_size features to hidden_size. */
  LSTM(int input_size, int hidden_size, bool bias = true);
  /** "LSTM". */
  std::string name() const override { return "LSTM"; }
  /** `input_dims=<D>, hidden_size=<H>, bias=<True|False>`. */
  std::string extra_repr() const override;
  /** (hidden states, cell states) of every step, each (N, L, H) or (L, H), from the initial
   *  hidden and cell states if given. Called as a plain Module (one array), it throws. */
  std::pair<array, array> operator()(const array& x, const std::optional<array>& hidden = std::nullopt,
                                     const std::optional<array>& cell = std::nullopt);

  Param Wx{this, "Wx"};
  Param Wh{this, "Wh"};
  Param bias{this, "bias"};

 private:
  int hidden_size_;
};

}  // namespace mica::nn
