// The model mica-train trains: a GPT-style decoder over bytes, built from mica::nn layers, and
// the LoRA adapter its fine-tuning phase swaps in with Module::update_modules.
#pragma once
#include <memory>
#include <string>

#include "mica/mica.h"

namespace mica_train {

using mica::array;

/** The shape of the decoder. The vocabulary is the 256 byte values unless the data are token ids. */
struct GPTConfig {
  int vocab = 256;
  bool tied = false;  // the output projection is the token embedding's table (GPT-2's), no `head`
  int context = 128;  // longest sequence (learned positions)
  int dims = 256;
  int layers = 4;
  int heads = 4;
  bool checkpoint = false;  // recompute each block's activations in the backward pass (nn::checkpoint)
};

/** Pre-norm block: x + attn(ln1(x)) with causal self-attention (nn::MultiHeadAttention with
 *  biases), then x + mlp_out(gelu(mlp_in(ln2(x)))). */
class Block : public mica::nn::Module {
 public:
  Block(int dims, int heads);
  std::string name() const override { return "Block"; }
  array operator()(const array& x) const;

  mica::nn::Child<mica::nn::LayerNorm> ln1;
  mica::nn::Child<mica::nn::MultiHeadAttention> attn;
  mica::nn::Child<mica::nn::LayerNorm> ln2;
  mica::nn::Child<mica::nn::Linear> mlp_in;
  mica::nn::Child<mica::nn::Linear> mlp_out;
};

/** Token and position embeddings (`wte`, `wpe`), the list `blocks`, a final LayerNorm `ln_f`
 *  and an output projection `head` without bias (with `tied`, wte's table transposed instead). */
class GPT : public mica::nn::Module {
 public:
  /** A decoder with GPT-2's initialization: N(0, 0.02) matrices, zero biases, unit norms. */
  explicit GPT(const GPTConfig& config);
  std::string name() const override { return "GPT"; }
  /** tokens (B, T) int32, T <= context -> logits (B, T, vocab). */
  array operator()(const array& tokens) override;
  const GPTConfig& config() const { return config_; }

 private:
  GPTConfig config_;  // first: the members below are built from it

 public:
  mica::nn::Child<mica::nn::Embedding> wte{this, "wte", config_.vocab, config_.dims};
  mica::nn::Child<mica::nn::Embedding> wpe{this, "wpe", config_.context, config_.dims};
  mica::nn::ChildList<Block> blocks{this, "blocks"};
  mica::nn::Child<mica::nn::LayerNorm> ln_f{this, "ln_f", config_.dims};
  mica::nn::Child<mica::nn::Linear> head{
      this, "head", config_.tied ? nullptr : std::make_shared<mica::nn::Linear>(config_.dims, config_.vocab, false)};
};

/** y = linear(x) + scale (x A) B with the wrapped Linear frozen and A (in, r), B (r, out) trained;
 *  B starts at zero so the adapted layer first computes what the original did. */
class LoRALinear : public mica::nn::Module {
 public:
  LoRALinear(std::shared_ptr<mica::nn::Module> linear, int rank, float alpha = 16.0f);
  std::string name() const override { return "LoRALinear"; }
  std::string extra_repr() const override;
  array operator()(const array& x) override;

 private:
  float scale_;

 public:
  mica::nn::Child<mica::nn::Module> linear;  // the wrapped layer, frozen
  mica::nn::Param lora_a{this, "lora_a"};      // (in, rank)
  mica::nn::Param lora_b{this, "lora_b"};      // (rank, out)
};

/** Replaces each block's query and value projections with LoRALinear adapters of the given rank. */
void add_lora(GPT& model, int rank);

/** Total number of scalars in the arrays of a tree. */
std::size_t count_parameters(const mica::Tree& tree);

}  // namespace mica_train
