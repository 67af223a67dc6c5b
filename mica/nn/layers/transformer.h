// Attention and transformer layers, as MLX's mlx.nn.MultiHeadAttention,
// TransformerEncoderLayer, TransformerEncoder, TransformerDecoderLayer, TransformerDecoder and
// Transformer, with MLX's state layout (query_proj/key_proj/value_proj/out_proj;
// attention, ln1, ln2, linear1, linear2, dropout1, ...; layers + ln; encoder + decoder).
#pragma once
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "mica/dtype.h"
#include "mica/nn/activations.h"
#include "mica/nn/layers/dropout.h"
#include "mica/nn/layers/linear.h"
#include "mica/nn/layers/normalization.h"
#include "mica/nn/member.h"

namespace mica::nn {

/** Options of MultiHeadAttention (unset dims default as in MLX). */
struct MultiHeadAttentionOptions {
  std::optional<int> query_input_dims;   // default dims
  std::optional<int> key_input_dims;     // default dims
  std::optional<int> value_input_dims;   // default key_input_dims
  std::optional<int> value_dims;         // default dims
  std::optional<int> value_output_dims;  // default dims
  bool bias = false;                     // biases in the four projections
};

/** Multi-head scaled dot-product attention: queries (B, Lq, Dq), keys (B, Lk, Dk) and values
 *  (B, Lk, Dv) are projected, split into num_heads heads, attended with scale
 *  1/sqrt(head dims) and an optional mask (fast::scaled_dot_product_attention), merged and
 *  projected by out_proj. */
class MultiHeadAttention : public Module {
 public:
  /** Attention with model dims `dims` (divisible by num_heads). */
  MultiHeadAttention(int dims, int num_heads, const MultiHeadAttentionOptions& options = {});
  /** "MultiHeadAttention". */
  std::string name() const override { return "MultiHeadAttention"; }
  /** (B, Lq, value_output_dims). The mask broadcasts to (B, num_heads, Lq, Lk): a bool mask
   *  keeps the true positions, any other mask is added to the scores (-inf or a very negative
   *  number excludes a position). */
  array operator()(const array& queries, const array& keys, const array& values,
                   const std::optional<array>& mask = std::nullopt);
  /** The same with mask_mode "causal" (query i sees keys j <= i + Lk - Lq, as MLX's
   *  mask="causal"; no mask array is formed) or "" (no mask). */
  array operator()(const array& queries, const array& keys, const array& values, const std::string& mask_mode);
  /** The (N, N) additive mask with 0 on and below the diagonal and finfo(dtype).min above it. */
  static array create_additive_causal_mask(int N, Dtype dtype = float32);
  /** The number of heads. */
  int num_heads() const { return num_heads_; }

  Child<Linear> query_proj{this, "query_proj", nullptr};
  Child<Linear> key_proj{this, "key_proj", nullptr};
  Child<Linear> value_proj{this, "value_proj", nullptr};
  Child<Linear> out_proj{this, "out_proj", nullptr};

 private:
  array attend(const array& queries, const array& keys, const array& values, const std::optional<array>& mask,
               const std::string& mask_mode);
  int num_heads_;
};

/** The activation of a transformer MLP: a function of one array (default relu). */
using Activation = std::function<array(const array&)>;

/** Options of TransformerEncoderLayer and TransformerDecoderLayer. */
struct TransformerLayerOptions {
  std::optional<int> mlp_dims;       // hidden size of the MLP; default 4 dims
  double dropout = 0.0;              // probability of the dropout layers
  Activation activation = nn::relu;  // applied between linear1 and linear2
  bool norm_first = true;            // pre-norm (true) or post-norm (false)
};

/** Options of TransformerEncoder and TransformerDecoder. */
struct TransformerStackOptions {
  std::optional<int> mlp_dims;       // hidden size of the MLP; default 4 dims
  double dropout = 0.0;              // probability of the dropout layers
  Activation activation = nn::relu;  // applied between linear1 and linear2
  bool norm_first = true;            // pre-norm (true) or post-norm (false)
  bool checkpoint = false;           // recompute each layer's activations in the backward pass
};

/** Self-attention then an MLP, each with a residual connection and a LayerNorm. */
class TransformerEncoderLayer : public Module {
 public:
  /** A layer of model size dims with num_heads heads (attention without biases, as MLX). */
  TransformerEncoderLayer(int dims, int num_heads, const TransformerLayerOptions& options = {});
  /** "TransformerEncoderLayer". */
  std::string name() const override { return "TransformerEncoderLayer"; }
  /** The layer without a mask. */
  array operator()(const array& x) override { return (*this)(x, std::nullopt); }
  /** x: (B, L, dims) -> (B, L, dims); mask as MultiHeadAttention's. */
  virtual array operator()(const array& x, const std::optional<array>& mask);

  Child<MultiHeadAttention> attention{this, "attention", nullptr};
  Child<LayerNorm> ln1{this, "ln1", nullptr};
  Child<LayerNorm> ln2{this, "ln2", nullptr};
  Child<Linear> linear1{this, "linear1", nullptr};
  Child<Linear> linear2{this, "linear2", nullptr};
  Child<Dropout> dropout1{this, "dropout1", nullptr};
  Child<Dropout> dropout2{this, "dropout2", nullptr};

 private:
  Activation activation_;
  bool norm_first_;
};

/** num_layers encoder layers (the list `layers`) and a final LayerNorm `ln`. */
class TransformerEncoder : public Module {
 public:
  /** An encoder of num_layers identical-shaped layers. */
  TransformerEncoder(int num_layers, int dims, int num_heads, const TransformerStackOptions& options = {});
  /** "TransformerEncoder". */
  std::string name() const override { return "TransformerEncoder"; }
  /** The encoder without a mask. */
  array operator()(const array& x) override { return (*this)(x, std::nullopt); }
  /** Each layer of `layers` in turn on (x, mask), then `ln`. */
  virtual array operator()(const array& x, const std::optional<array>& mask);

 private:
  bool checkpoint_;
};

/** Self-attention, cross-attention over `memory`, then an MLP, each with a residual
 *  connection and a LayerNorm. */
class TransformerDecoderLayer : public Module {
 public:
  /** A layer of model size dims with num_heads heads. */
  TransformerDecoderLayer(int dims, int num_heads, const TransformerLayerOptions& options = {});
  /** "TransformerDecoderLayer". */
  std::string name() const override { return "TransformerDecoderLayer"; }
  /** x: (B, L, dims), memory: (B, S, dims) -> (B, L, dims). */
  virtual array operator()(const array& x, const array& memory, const std::optional<array>& x_mask,
                           const std::optional<array>& memory_mask);

  Child<MultiHeadAttention> self_attention{this, "self_attention", nullptr};
  Child<MultiHeadAttention> cross_attention{this, "cross_attention", nullptr};
  Child<LayerNorm> ln1{this, "ln1", nullptr};
  Child<LayerNorm> ln2{this, "ln2", nullptr};
  Child<LayerNorm> ln3{this, "ln3", nullptr};
  Child<Linear> linear1{this, "linear1", nullptr};
  Child<Linear> linear2{this, "linear2", nullptr};
  Child<Dropout> dropout1{this, "dropout1", nullptr};
  Child<Dropout> dropout2{this, "dropout2", nullptr};
  Child<Dropout> dropout3{this, "dropout3", nullptr};

 private:
  Activation activation_;
  bool norm_first_;
};

/** num_layers decoder layers (the list `layers`) and a final LayerNorm `ln`. */
class TransformerDecoder : public Module {
 public:
  /** A decoder of num_layers layers. */
  TransformerDecoder(int num_layers, int dims, int num_heads, const TransformerStackOptions& options = {});
  /** "TransformerDecoder". */
  std::string name() const override { return "TransformerDecoder"; }
  /** Each layer of `layers` in turn on (x, memory, x_mask, memory_mask), then `ln`. */
  virtual array operator()(const array& x, const array& memory, const std::optional<array>& x_mask,
                           const std::optional<array>& memory_mask);

 private:
  bool checkpoint_;
};

/** Options of Transformer (MLX's defaults). */
struct TransformerOptions {
  int dims = 512;                                      // model size
  int num_heads = 8;                                   // attention heads
  int num_encoder_layers = 6;                          // layers of the encoder
  int num_decoder_layers = 6;                          // layers of the decoder
  std::optional<int> mlp_dims;                         // default 4 dims
  double dropout = 0.0;                                // dropout probability
  Activation activation = nn::relu;                    // MLP activation
  std::shared_ptr<TransformerEncoder> custom_encoder;  // used instead of a new encoder if set
  std::shared_ptr<TransformerDecoder> custom_decoder;  // used instead of a new decoder if set
  bool norm_first = true;                              // pre-norm layers
  bool checkpoint = false;                             // gradient checkpointing per layer
};

/** An encoder-decoder Transformer: state `encoder` and `decoder`. */
class Transformer : public Module {
 public:
  /** A Transformer with the given options (MLX's defaults: 512 dims, 8 heads, 6 + 6 layers). */
  explicit Transformer(const TransformerOptions& options = {});
  /** "Transformer". */
  std::string name() const override { return "Transformer"; }
  /** decoder(tgt, encoder(src, src_mask), tgt_mask, memory_mask). */
  array operator()(const array& src, const array& tgt, const std::optional<array>& src_mask = std::nullopt,
                   const std::optional<array>& tgt_mask = std::nullopt,
                   const std::optional<array>& memory_mask = std::nullopt);
};

}  // namespace mica::nn
