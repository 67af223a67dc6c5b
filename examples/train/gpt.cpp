#include "gpt.h"

#include <cmath>
#include <stdexcept>

namespace mica_train {

namespace mx = mica;
namespace nn = mica::nn;

namespace {
int checked_dims(int dims, int heads) {
  if (heads <= 0 || dims % heads != 0)
    throw std::invalid_argument("[GPT] expected --heads to divide --dims, got dims " + std::to_string(dims) +
                                " and heads " + std::to_string(heads));
  return dims;
}

const GPTConfig& checked(const GPTConfig& c) {
  if (c.vocab <= 0 || c.context <= 0 || c.dims <= 0 || c.layers <= 0)
    throw std::invalid_argument("[GPT] expected positive sizes");
  return c;
}
}  // namespace

Block::Block(int dims, int heads)
    : ln1(this, "ln1", checked_dims(dims, heads)),
      attn(this, "attn", dims, heads, nn::MultiHeadAttentionOptions{.bias = true}),
      ln2(this, "ln2", dims),
      mlp_in(this, "mlp_in", dims, 4 * dims),
      mlp_out(this, "mlp_out", 4 * dims, dims) {}

array Block::operator()(const array& x) const {
  array y = ln1(x);
  // Causal self-attention through the fused kernel: no (T, T) mask or score matrix is formed.
  array h = x + attn(y, y, y, "causal");
  return h + mlp_out(nn::gelu(mlp_in(ln2(h))));
}

GPT::GPT(const GPTConfig& c) : config_(checked(c)) {
  for (int i = 0; i < c.layers; ++i) blocks.emplace_back(c.dims, c.heads);
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
  array x = wte(tokens) + wpe(mx::arange(T));
  for (size_t i = 0; i < blocks.size(); ++i) {
    Block& block = blocks[i];
    if (config_.checkpoint) {
      // Only the block's input is kept; its activations come back by running it again.
      auto run = [&block](const std::vector<array>& in) { return std::vector<array>{block(in[0])}; };
      x = nn::checkpoint(block, run)({x})[0];
    } else {
      x = block(x);
    }
  }
  x = ln_f(x);
  if (config_.tied) return wte->as_linear(x);
  return head(x);
}

namespace {
std::shared_ptr<nn::Module> frozen(std::shared_ptr<nn::Module> m, int rank) {
  if (rank <= 0) throw std::invalid_argument("[LoRALinear] expected a positive rank, got " + std::to_string(rank));
  m->freeze();
  return m;
}
}  // namespace

LoRALinear::LoRALinear(std::shared_ptr<nn::Module> wrapped, int rank, float alpha)
    : scale_(alpha / rank), linear(this, "linear", frozen(std::move(wrapped), rank)) {
  const array w = linear.module().param("weight");  // (out, in)
  const int out = w.shape(0), in = w.shape(1);
  const float bound = 1.0f / std::sqrt(static_cast<float>(in));
  lora_a = mx::random::uniform(-bound, bound, {in, rank});
  lora_b = mx::zeros({rank, out});
}

std::string LoRALinear::extra_repr() const {
  return "rank=" + std::to_string(lora_a.get().shape(1)) + ", scale=" + std::to_string(scale_);
}

array LoRALinear::operator()(const array& x) {
  return linear(x) + mx::matmul(mx::matmul(x, lora_a), lora_b) * scale_;
}

void add_lora(GPT& model, int rank) {
  mx::Tree::List blocks;
  for (size_t i = 0; i < model.blocks.size(); ++i) {
    nn::MultiHeadAttention& attn = *model.blocks[i].attn;
    mx::Tree::Dict swap;
    swap.insert_or_assign("query_proj", std::make_shared<LoRALinear>(attn.query_proj.module_ptr(), rank));
    swap.insert_or_assign("value_proj", std::make_shared<LoRALinear>(attn.value_proj.module_ptr(), rank));
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
