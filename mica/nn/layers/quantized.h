// Quantized layers and nn::quantize, as MLX's mlx.nn.QuantizedLinear, QuantizedEmbedding and
// mlx.nn.quantize (affine mode: weights packed into uint32 with per-group scales and biases).
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "mica/nn/member.h"

namespace mica::nn {

class Linear;
class Embedding;

/** How to quantize a layer's weight: groups of `group_size` values along its last axis at `bits`
 *  bits (see mica::quantize). */
struct QuantizeParams {
  int group_size = 64;
  int bits = 4;
  std::string mode = "affine";
};

/** Options of QuantizedLinear. */
struct QuantizedLinearOptions {
  bool bias = true;
  int group_size = 64;
  int bits = 4;
  std::string mode = "affine";
};

/** y = x W^T + b with W stored quantized: weight (output_dims, input_dims * bits / 32) uint32,
 *  scales and biases (output_dims, input_dims / group_size), and an optional float bias
 *  (output_dims). The whole layer is frozen (its arrays are not trainable) and stays frozen
 *  after unfreeze(), as in MLX. */
class QuantizedLinear : public Module {
 public:
  /** A layer with a random weight (uniform in +-1/sqrt(input_dims), as Linear) quantized, and a
   *  zero bias. */
  QuantizedLinear(int input_dims, int output_dims, const QuantizedLinearOptions& options = {});
  /** The quantized copy of a Linear layer (its bias, if any, is kept in float). */
  static std::shared_ptr<QuantizedLinear> from_linear(const Linear& linear, const QuantizeParams& params = {});
  /** "QuantizedLinear". */
  std::string name() const override { return "QuantizedLinear"; }
  /** `input_dims=<in>, output_dims=<out>, bias=<True|False>, group_size=<g>, bits=<b>`. */
  std::string extra_repr() const override;
  /** x: (..., input_dims) -> (..., output_dims) through quantized_matmul. */
  array operator()(const array& x) override;
  int group_size() const { return group_size_; }
  int bits() const { return bits_; }
  const std::string& mode() const { return mode_; }

  Param weight{this, "weight"};  // (output_dims, input_dims * bits / 32) uint32
  Param scales{this, "scales"};  // (output_dims, input_dims / group_size)
  Param biases{this, "biases"};  // like scales; absent in the modes without biases
  Param bias{this, "bias"};      // (output_dims) float, optional

 protected:
  /** Unfreezing leaves this layer's own arrays frozen. */
  void unfreeze_self(const std::vector<std::string>& keys) override;

 private:
  explicit QuantizedLinear(const QuantizeParams& params);
  int group_size_, bits_;
  std::string mode_;
};

/** An Embedding whose table is stored quantized: weight (num_embeddings, dims * bits / 32)
 *  uint32, scales and biases (num_embeddings, dims / group_size); frozen as QuantizedLinear. */
class QuantizedEmbedding : public Module {
 public:
  /** A table drawn N(0, 1/sqrt(dims)) as Embedding, then quantized. */
  QuantizedEmbedding(int num_embeddings, int dims, const QuantizeParams& params = {});
  /** The quantized copy of an Embedding. */
  static std::shared_ptr<QuantizedEmbedding> from_embedding(const Embedding& embedding, const QuantizeParams& params = {});
  /** "QuantizedEmbedding". */
  std::string name() const override { return "QuantizedEmbedding"; }
  /** `<num_embeddings>, <dims>, group_size=<g>, bits=<b>`. */
  std::string extra_repr() const override;
  /** Integer indices x (any shape) -> dequantized rows: shape x.shape + (dims,). */
  array operator()(const array& x) override;
  /** x @ table^T through quantized_matmul: (..., dims) -> (..., num_embeddings). */
  array as_linear(const array& x) const;
  int group_size() const { return group_size_; }
  int bits() const { return bits_; }
  const std::string& mode() const { return mode_; }

  Param weight{this, "weight"};  // (num_embeddings, dims * bits / 32) uint32
  Param scales{this, "scales"};  // (num_embeddings, dims / group_size)
  Param biases{this, "biases"};  // like scales; absent in the modes without biases

 protected:
  void unfreeze_self(const std::vector<std::string>& keys) override;

 private:
  explicit QuantizedEmbedding(const QuantizeParams& params);
  int group_size_, bits_;
  std::string mode_;
};

/** A module type that nn::quantize can replace (MLX: a module with a `to_quantized` method).
 *  Linear and Embedding are handled by nn::quantize directly. */
class Quantizable {
 public:
  virtual ~Quantizable() = default;
  /** The quantized replacement of this module. */
  virtual std::shared_ptr<Module> to_quantized(const QuantizeParams& params) const = 0;
};

/** The quantized replacement of m (Linear, Embedding or a Quantizable); throws
 *  std::invalid_argument for other modules. */
std::shared_ptr<Module> to_quantized(const Module& m, const QuantizeParams& params = {});

/** Chooses the layers nn::quantize replaces: given a leaf module's dotted path and the module,
 *  false keeps it, true quantizes it with the call's parameters, QuantizeParams with these. */
using QuantizePredicate = std::function<std::variant<bool, QuantizeParams>(const std::string& path, const Module& m)>;

/** Options of nn::quantize. */
struct QuantizeOptions {
  int group_size = 64;
  int bits = 4;
  std::string mode = "affine";
  /** Empty: every leaf Linear or Embedding whose weight's last axis is a multiple of
   *  group_size, and every Quantizable leaf. */
  QuantizePredicate class_predicate = {};
};

/** Replaces the leaf modules of `model` that the predicate selects by their quantized versions,
 *  in place through update_modules (so the parents' forward code uses them). */
void quantize(Module& model, const QuantizeOptions& options = {});
/** quantize(model, {group_size, bits, "affine", class_predicate}). */
void quantize(Module& model, int group_size, int bits = 4, QuantizePredicate class_predicate = {});

}  // namespace mica::nn
