// average_gradients and sum_gradients (mlx.nn.utils / mlx.nn.layers.distributed).
// average_gradients packs as MLX does: arrays join a pack in tree order until it holds at least
// all_reduce_size bytes, so a model's many small gradients cost few messages and a large one goes
// alone. Unlike MLX, arrays of different dtypes are not sent one by one: each dtype gets its own
// packs (a concatenation needs one dtype).
#include "mica/nn/distributed.h"

#include <map>

#include "mica/ops.h"
#include "mica/transforms.h"

namespace mica::nn {

namespace {
array divide_by(const array& x, int n) {
  if (is_inexact(x.dtype())) return divide(x, array(n, x.dtype()));
  return divide(x, array(static_cast<float>(n)));
}
}  // namespace

Tree average_gradients(const Tree& gradients, const AverageGradientsOptions& options) {
  distributed::Group group = options.group ? *options.group : distributed::init();
  const int n = group.size();
  if (n == 1) return gradients;
  std::vector<std::pair<std::string, array>> flat = tree_flatten_arrays(gradients);
  if (flat.empty()) return gradients;
  const StreamOrDevice& s = options.communication_stream;
  auto comm_type = [&](const array& a) { return options.communication_type.value_or(a.dtype()); };
  std::vector<std::optional<array>> out(flat.size());

  // One message: the leaves `pack` (of one communication dtype) flattened and concatenated.
  auto send_pack = [&](const std::vector<size_t>& pack) {
    if (pack.size() == 1) {
      const array& g = flat[pack[0]].second;
      out[pack[0]] = divide_by(astype(distributed::all_sum(astype(g, comm_type(g), s), group, s), g.dtype(), s), n);
      return;
    }
    std::vector<array> pieces;
    Shape offsets;
    int64_t total = 0;
    for (size_t i : pack) {
      const array& g = flat[i].second;
      pieces.push_back(astype(reshape(g, {static_cast<int32_t>(g.size())}, s), comm_type(g), s));
      total += static_cast<int64_t>(g.size());
      offsets.push_back(static_cast<int32_t>(total));
    }
    offsets.pop_back();
    array sum = distributed::all_sum(concatenate(std::move(pieces), 0, s), group, s);
    std::vector<array> parts = split(sum, offsets, 0, s);
    for (size_t k = 0; k < pack.size(); ++k) {
      const array& g = flat[pack[k]].second;
      out[pack[k]] = divide_by(astype(reshape(parts[k], g.shape(), s), g.dtype(), s), n);
    }
  };

  if (options.all_reduce_size <= 0) {
    for (size_t i = 0; i < flat.size(); ++i) send_pack({i});
  } else {
    // Packs per communication dtype, each filled in tree order.
    std::vector<std::pair<Dtype, std::vector<size_t>>> by_dtype;
    for (size_t i = 0; i < flat.size(); ++i) {
      Dtype d = comm_type(flat[i].second);
      auto it = std::find_if(by_dtype.begin(), by_dtype.end(), [&](const auto& e) { return e.first == d; });
      if (it == by_dtype.end()) by_dtype.push_back({d, {i}});
      else it->second.push_back(i);
    }
    for (auto& [dtype, indices] : by_dtype) {
      std::vector<size_t> pack;
      int64_t bytes = 0;
      for (size_t i : indices) {
        pack.push_back(i);
        bytes += static_cast<int64_t>(flat[i].second.size()) * dtype.size;
        if (bytes >= options.all_reduce_size) {
          send_pack(pack);
          pack.clear();
          bytes = 0;
        }
      }
      if (!pack.empty()) send_pack(pack);
    }
  }
  // The same structure back: tree_map visits the leaves in tree_flatten's order.
  size_t k = 0;
  return tree_map([&](const Tree&) -> Tree { return *out[k++]; }, gradients);
}

Tree average_gradients(const Tree& gradients, const distributed::Group& group, AverageGradientsOptions options) {
  options.group = group;
  return average_gradients(gradients, options);
}

std::function<array(const array&)> sum_gradients(const distributed::Group& group) {
  if (group.size() == 1) return [](const array& x) { return x; };
  auto f = custom_vjp([](const std::vector<array>& args) { return std::vector<array>{args[0]}; },
                      [group](const std::vector<array>&, const std::vector<array>& cotangents,
                              const std::vector<array>&) {
                        return std::vector<array>{distributed::all_sum(cotangents[0], group)};
                      });
  return [f](const array& x) { return f({x})[0]; };
}

}  // namespace mica::nn
