// What MLX's docs show for nn.Module, in C++: build a Transformer, freeze it, unfreeze only the
// biases, list what is trainable, train a few steps, and check that only the biases moved.
#include <cstdio>
#include <iostream>
#include <string>

#include "mica/mica.h"

namespace mx = mica;
namespace nn = mica::nn;

namespace {

std::size_t count(const mx::Tree& tree) {
  std::size_t n = 0;
  for (const auto& [path, a] : mx::tree_flatten_arrays(tree)) n += a.size();
  return n;
}

}  // namespace

int main() {
  mx::random::seed(0);
  // A small encoder-decoder Transformer; MultiHeadAttention has no biases, the LayerNorms and
  // the MLP's Linear layers do.
  nn::Transformer model({.dims = 32, .num_heads = 4, .num_encoder_layers = 2, .num_decoder_layers = 2, .mlp_dims = 64});

  model.freeze();
  model.unfreeze({.keys = {"bias"}});

  auto trainable = mx::tree_flatten_arrays(model.trainable_parameters());
  std::cout << "trainable parameters:\n";
  for (const auto& [path, a] : trainable) {
    std::cout << "  " << path << " ";
    mx::operator<<(std::cout, a.shape()) << "\n";
  }
  std::size_t n_train = count(model.trainable_parameters()), n_total = count(model.parameters());
  std::printf("%zu arrays, %zu of %zu parameters trainable (%.2f%%)\n", trainable.size(), n_train, n_total,
              100.0 * double(n_train) / double(n_total));

  // Learn to copy a random target from a random source (any loss does for the demonstration).
  auto src = mx::random::normal({4, 6, 32});
  auto tgt = mx::random::normal({4, 5, 32});
  auto goal = mx::random::normal({4, 5, 32});
  auto mask = nn::MultiHeadAttention::create_additive_causal_mask(5);
  auto loss_fn = [&](const mx::array& s, const mx::array& t) {
    return nn::losses::mse_loss(model(s, t, std::nullopt, mask), goal);
  };
  auto step = nn::value_and_grad(model, loss_fn);
  mx::optim::Adam opt(1e-2f);

  auto before = mx::tree_flatten_arrays(model.parameters());
  for (int i = 0; i < 5; ++i) {
    auto [loss, grads] = step(src, tgt);
    opt.update(model, grads);
    mx::eval(model.parameters());
    std::printf("step %d  loss %.5f\n", i, loss.item<float>());
  }

  int changed = 0, changed_non_bias = 0;
  auto after = mx::tree_flatten_arrays(model.parameters());
  for (std::size_t i = 0; i < after.size(); ++i) {
    bool same = mx::array_equal(before[i].second, after[i].second).item<bool>();
    if (same) continue;
    ++changed;
    const std::string& path = after[i].first;
    if (path.size() < 4 || path.compare(path.size() - 4, 4, "bias") != 0) ++changed_non_bias;
  }
  std::printf("%d arrays changed, %d of them not biases\n", changed, changed_non_bias);
  return changed_non_bias == 0 && changed == static_cast<int>(trainable.size()) ? 0 : 1;
}
