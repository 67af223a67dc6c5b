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
  GPTConfig config_;
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
};

/** Replaces each block's query and value projections with LoRALinear adapters of the given rank. */
void add_lora(GPT& model, int rank);

/** Total number of scalars in the arrays of a tree. */
std::size_t count_parameters(const mica::Tree& tree);

}  // namespace mica_train
