#include "gpt.h"

#include <cmath>
#include <stdexcept>

namespace mica_train {

namespace mx = mica;
namespace nn = mica::nn;

Block::Block(int dims, int heads) {
  if (heads <= 0 || dims % heads != 0)
    throw std::invalid_argument("[GPT] expected --heads to divide --dims, got dims " + std::to_string(dims) +
                                " and heads " + std::to_string(heads));
  set("ln1", std::make_shared<nn::LayerNorm>(dims));
  set("attn", std::make_shared<nn::MultiHeadAttention>(dims, heads, nn::MultiHeadAttentionOptions{.bias = true}));
  set("ln2", std::make_shared<nn::LayerNorm>(dims));
  set("mlp_in", std::make_shared<nn::Linear>(dims, 4 * dims));
  set("mlp_out", std::make_shared<nn::Linear>(4 * dims, dims));
}

array Block::operator()(const array& x) const {
  array y = call("ln1", x);
  // Causal self-attention through the fused kernel: no (T, T) mask or score matrix is formed.
  array h = x + (*child<nn::MultiHeadAttention>("attn"))(y, y, y, "causal");
  return h + call("mlp_out", nn::gelu(call("mlp_in", call("ln2", h))));
}

GPT::GPT(const GPTConfig& c) : config_(c) {
  if (c.vocab <= 0 || c.context <= 0 || c.dims <= 0 || c.layers <= 0)
    throw std::invalid_argument("[GPT] expected positive sizes");
  set("wte", std::make_shared<nn::Embedding>(c.vocab, c.dims));
  set("wpe", std::make_shared<nn::Embedding>(c.context, c.dims));
  mx::Tree::List blocks;
  for (int i = 0; i < c.layers; ++i) blocks.push_back(std::make_shared<Block>(c.dims, c.heads));
  set("blocks", std::move(blocks));
  set("ln_f", std::make_shared<nn::LayerNorm>(c.dims));
  if (!c.tied) set("head", std::make_shared<nn::Linear>(c.dims, c.vocab, false));
  // GPT-2's initialization: matrices N(0, 0.02), biases zero (LayerNorms keep ones and zeros).
  apply([](const array& p) { return p.ndim() == 2 ? mx::random::normal(p.shape(), 0.0f, 0.02f) : p; });
  apply_to_modules([](const std::string&, nn::Module& m) {
    if (m.name() == "Linear" && m.contains("bias")) m.set("bias", mx::zeros_like(m.param("bias")));
  });
}

array GPT::operator()(const array& tokens) {
  if (tokens.ndim() != 2 || tokens.shape(1) > config_.context)
    throw std::invalid_argument("[GPT] expected tokens (batch, time) with time <= " + std::to_string(config_.context));
  const int T = tokens.shape(1);
  array x = call("wte", tokens) + call("wpe", mx::arange(T));
  for (const auto& b : (*this)["blocks"].as_list()) {
    const auto* block = b.is_module() ? dynamic_cast<const Block*>(&b.as_module()) : nullptr;
    if (!block) throw std::invalid_argument("[GPT] expected every entry of blocks to be a Block, got " + b.kind_name());
    if (config_.checkpoint) {
      // Only the block's input is kept; its activations come back by running it again.
      auto run = [block](const std::vector<array>& in) { return std::vector<array>{(*block)(in[0])}; };
      x = nn::checkpoint(b.as_module(), run)({x})[0];
    } else {
      x = (*block)(x);
    }
  }
  x = call("ln_f", x);
  if (config_.tied) return child<nn::Embedding>("wte")->as_linear(x);
  return call("head", x);
}

LoRALinear::LoRALinear(std::shared_ptr<nn::Module> linear, int rank, float alpha) : scale_(alpha / rank) {
  if (rank <= 0) throw std::invalid_argument("[LoRALinear] expected a positive rank, got " + std::to_string(rank));
  const array w = linear->param("weight");  // (out, in)
  const int out = w.shape(0), in = w.shape(1);
  const float bound = 1.0f / std::sqrt(static_cast<float>(in));
  linear->freeze();
  set("linear", linear);
  set("lora_a", mx::random::uniform(-bound, bound, {in, rank}));
  set("lora_b", mx::zeros({rank, out}));
}

std::string LoRALinear::extra_repr() const {
  return "rank=" + std::to_string(param("lora_a").shape(1)) + ", scale=" + std::to_string(scale_);
}

array LoRALinear::operator()(const array& x) {
  return call("linear", x) + mx::matmul(mx::matmul(x, param("lora_a")), param("lora_b")) * scale_;
}

void add_lora(GPT& model, int rank) {
  mx::Tree::List blocks;
  for (const auto& b : model["blocks"].as_list()) {
    auto attn = b.as_module().child("attn");
    mx::Tree::Dict swap;
    for (const char* proj : {"query_proj", "value_proj"})
      swap.insert_or_assign(proj, std::make_shared<LoRALinear>(attn->child(proj), rank));
    mx::Tree::Dict block;
    block.insert_or_assign("attn", mx::Tree(std::move(swap)));
    blocks.push_back(mx::Tree(std::move(block)));
  }
  mx::Tree::Dict root;
  root.insert_or_assign("blocks", mx::Tree(std::move(blocks)));
  model.update_modules(mx::Tree(std::move(root)));
}

std::size_t count_parameters(const mx::Tree& tree) {
  std::size_t n = 0;
  for (const auto& [path, a] : mx::tree_flatten_arrays(tree)) n += a.size();
  return n;
}

}  // namespace mica_train
