// The code of docs/guides/pitfalls.md: every region between `// [snippet: name]` and `// [end]`
// appears verbatim in the guide, and main() checks that each pitfall behaves as the guide says.
#include <cstdint>
#include <set>
#include <vector>

#include "guide_check.h"
#include "mica/mica.h"

namespace mx = mica;
namespace nn = mica::nn;
namespace optim = mica::optim;

namespace {

bool same(const mx::array& a, const mx::array& b) { return mx::array_equal(a, b).item<bool>(); }

// [snippet: pending-nodes]
// How many not-yet-computed nodes `a` depends on (itself included): 0 once it is evaluated.
std::size_t pending_nodes(const mx::array& a) {
  std::vector<mx::array> todo{a};
  std::set<std::uintptr_t> seen;
  while (!todo.empty()) {
    mx::array node = todo.back();
    todo.pop_back();
    if (!node.has_primitive() || !seen.insert(node.id()).second) continue;
    for (const mx::array& input : node.inputs()) todo.push_back(input);
  }
  return seen.size();
}
// [end]

void growing_graph() {
  // [snippet: no-eval]
  mx::array x = mx::arange(1000.0f);
  for (int i = 0; i < 100; ++i) {
    x = x * 0.99f + 0.01f;       // two new nodes per iteration; nothing runs
  }
  std::size_t waiting = pending_nodes(x);  // 201: arange itself and two per iteration
  mx::eval(x);                            // all 100 iterations run now, at once
  // [end]
  GUIDE_CHECK(waiting == 201, "arange and two pending nodes per iteration");
  GUIDE_CHECK(pending_nodes(x) == 0, "eval leaves nothing pending");

  // [snippet: eval-each-step]
  mx::array y = mx::arange(1000.0f);
  for (int i = 0; i < 100; ++i) {
    y = y * 0.99f + 0.01f;
    mx::eval(y);                 // the graph never holds more than one iteration
  }
  // [end]
  GUIDE_CHECK(same(x, y), "both loops compute the same values");
}

void training_without_eval() {
  mx::random::seed(0);
  mx::array x = mx::random::normal({16, 3});
  mx::array y = mx::random::normal({16, 1});
  nn::Linear layer(3, 1);
  optim::Adam opt(1e-2f);
  auto loss_and_grad = nn::value_and_grad(layer, [&](const mx::array& in, const mx::array& target) {
    return nn::losses::mse_loss(layer(in), target);
  });

  // [snippet: train-no-eval]
  std::vector<std::size_t> sizes;
  for (int step = 0; step < 3; ++step) {
    auto [loss, grads] = loss_and_grad(x, y);
    opt.update(layer, grads);     // the new weight is a formula over every step so far
    sizes.push_back(pending_nodes(layer.param("weight")));
  }
  // sizes grows step after step: each step's graph hangs off the next one
  // [end]
  GUIDE_CHECK(sizes[0] > 0 && sizes[1] > sizes[0] && sizes[2] > sizes[1], "the pending graph grows with each step");

  // [snippet: train-eval]
  for (int step = 0; step < 3; ++step) {
    auto [loss, grads] = loss_and_grad(x, y);
    opt.update(layer, grads);
    mx::eval(mx::Tree(mx::Tree::List{loss, layer.parameters(), opt.state()}));
  }
  // pending_nodes(layer.param("weight")) == 0 after every step
  // [end]
  GUIDE_CHECK(pending_nodes(layer.param("weight")) == 0, "evaluating each step leaves nothing pending");

  // [snippet: lazy-metrics]
  mx::array running = mx::array(0.0f);
  float running_value = 0.0f;
  for (int step = 0; step < 3; ++step) {
    auto [loss, grads] = loss_and_grad(x, y);
    opt.update(layer, grads);
    mx::eval(mx::Tree(mx::Tree::List{layer.parameters(), opt.state()}));
    running = running + loss;                  // wrong: keeps every step's loss graph alive
    running_value += loss.item<float>();       // right: a number, the graph can go
  }
  // [end]
  GUIDE_CHECK(pending_nodes(running) >= 3, "the lazy running sum holds a node per step");
  GUIDE_CHECK(std::abs(running.item<float>() - running_value) < 1e-4f, "both sums agree once evaluated");
}

// [snippet: stale-member]
struct StaleScale : nn::Module {  // wrong: keeps its own copy of the parameter
  mx::array w_;
  StaleScale() : w_(mx::ones({3})) { set("w", w_); }
  mx::array operator()(const mx::array& x) override { return x * w_; }
};

struct Scale : nn::Module {       // right: nn::Param reads the module's state on every use
  nn::Param w{this, "w", mx::ones({3})};
  mx::array operator()(const mx::array& x) override { return x * w; }
};
// [end]

void stale_members() {
  mx::array x = mx::array({1.0f, 2.0f, 3.0f});
  // [snippet: stale-effect]
  StaleScale stale;
  auto stale_step = nn::value_and_grad(stale, [&](const mx::array& in) { return mx::sum(stale(in)); });
  auto [stale_loss, stale_grads] = stale_step(x);  // stale_grads["w"] is all zeros

  Scale good;
  auto good_step = nn::value_and_grad(good, [&](const mx::array& in) { return mx::sum(good(in)); });
  auto [good_loss, good_grads] = good_step(x);     // good_grads["w"] == x

  mx::Tree::Dict halves;
  halves.insert_or_assign("w", mx::full({3}, 0.5f));
  stale.update(mx::Tree(halves));  // stale(x) still multiplies by ones
  good.update(mx::Tree(halves));   // good(x) now multiplies by halves
  // [end]
  GUIDE_CHECK(same(stale_grads["w"].as_array(), mx::zeros({3})), "the stale member gets a zero gradient");
  GUIDE_CHECK(same(good_grads["w"].as_array(), x), "the parameter read through the module gets x");
  GUIDE_CHECK(same(stale(x), x), "the stale member ignores update");
  GUIDE_CHECK(same(good(x), x * 0.5f), "the module parameter follows update");
}

// [snippet: l2]
mx::array l2(const mx::Tree& params) {
  mx::array total = mx::array(0.0f);
  for (const auto& [path, p] : mx::tree_flatten_arrays(params)) total = total + mx::sum(mx::square(p));
  return total;
}
// [end]

void captures() {
  // [snippet: capture-by-value]
  mx::array target = mx::zeros({3});
  auto loss_fn = [target](const mx::array& p) { return mx::sum(mx::square(p - target)); };
  target = mx::ones({3});                           // rebinds the name; the lambda keeps zeros
  float loss = loss_fn(mx::ones({3})).item<float>();  // 3, not 0

  // Pass what changes as an argument instead:
  auto loss_of = [](const mx::array& p, const mx::array& t) { return mx::sum(mx::square(p - t)); };
  float fixed = loss_of(mx::ones({3}), target).item<float>();  // 0
  // [end]
  GUIDE_CHECK(loss == 3.0f, "the captured copy is the old target");
  GUIDE_CHECK(fixed == 0.0f, "the argument is the current target");

  mx::random::seed(1);
  mx::array x = mx::ones({2, 3});
  // [snippet: capture-params]
  nn::Linear layer(3, 1, false);
  mx::Tree snapshot = layer.parameters();  // taken once, outside the differentiated function
  auto wrong = nn::value_and_grad(layer, [&](const mx::array& in) {
    return mx::sum(layer(in)) + l2(snapshot);           // the penalty's gradient is lost
  });
  auto right = nn::value_and_grad(layer, [&](const mx::array& in) {
    return mx::sum(layer(in)) + l2(layer.parameters());  // read inside: the penalty counts
  });
  mx::array g_wrong = wrong(x).second["weight"].as_array();  // sum of x over the batch
  mx::array g_right = right(x).second["weight"].as_array();  // that plus 2 * weight
  // [end]
  mx::array w = layer.param("weight");
  GUIDE_CHECK(mx::allclose(g_wrong, mx::full({1, 3}, 2.0f)).item<bool>(), "the snapshot contributes nothing");
  GUIDE_CHECK(mx::allclose(g_right, mx::full({1, 3}, 2.0f) + 2.0f * w).item<bool>(), "the live tree contributes 2w");
}

void promotion() {
  // [snippet: promotion]
  mx::array h = mx::ones({4}, mx::float16);
  mx::Dtype kept = (h * 0.5f).dtype();                // float16: a C++ scalar adapts to the array
  mx::Dtype widened = (h * mx::array(0.5f)).dtype();  // float32: a float32 array does not

  mx::array counts = mx::array({200, 100}, mx::uint8);
  mx::array wrapped = counts + counts;                // uint8 wraps around: [144, 200]
  mx::array summed = mx::astype(counts, mx::int32) + counts;  // [400, 200]

  mx::Dtype quotient = (mx::array({1, 2, 3}) / 2).dtype();   // float32: / is true division
  int rounded = mx::astype(mx::array({16777217}), mx::float32).item<int>();  // 16777216
  // [end]
  GUIDE_CHECK(kept == mx::float16 && widened == mx::float32, "weak scalars versus arrays");
  GUIDE_CHECK(same(wrapped, mx::array({144, 200}, mx::uint8)), "uint8 wraps");
  GUIDE_CHECK(same(summed, mx::array({400, 200})), "int32 holds the sum");
  GUIDE_CHECK(quotient == mx::float32, "division of ints is float32");
  GUIDE_CHECK(rounded == 16777216, "float32 has a 24-bit mantissa");
}

void eval_names() {
  nn::Linear layer(2, 2);
  // [snippet: two-evals]
  layer.eval();                   // switches to inference mode; computes nothing
  mx::eval(layer.parameters());   // computes the parameters' pending graphs
  layer.train();                  // back to training mode before training again
  // [end]
  GUIDE_CHECK(layer.training(), "train() restores training mode");
}

void update_shapes() {
  // [snippet: update-shapes]
  nn::Linear layer(4, 2);
  mx::Tree::Dict wrong;
  wrong.insert_or_assign("bias", mx::zeros({5}));  // the bias has 2 elements, not 5
  layer.update(mx::Tree(wrong));                   // accepted: update checks names, not shapes
  bool accepted = layer.param("bias").shape(0) == 5;
  // load_weights checks shapes (strict by default) and leaves the layer unchanged on a mismatch:
  bool rejected = false;
  try {
    layer.load_weights({{"weight", mx::zeros({3, 3})}, {"bias", mx::zeros({2})}});
  } catch (const std::exception&) {
    rejected = true;
  }
  // [end]
  GUIDE_CHECK(accepted, "update does not check shapes");
  GUIDE_CHECK(rejected, "load_weights checks shapes");
  GUIDE_CHECK(layer.param("weight").shape() == (mx::Shape{2, 4}), "a failed load_weights writes nothing");
}

void raw_memory() {
  // [snippet: raw-memory]
  mx::array b = mx::broadcast_to(mx::array(1.5f), {1000, 1000});  // one value, zero strides
  mx::eval(b);
  bool one_value = b.data_size() == 1 && b.flags().contiguous && !b.flags().row_contiguous;
  // Reading b.data<float>() as a million floats would read past its buffer. Make it dense first:
  mx::array dense = mx::contiguous(b);  // a row-major copy (or the array itself when it is one)
  mx::eval(dense);
  const float* p = dense.data<float>();
  float last = p[dense.size() - 1];  // every element has its place now
  // [end]
  GUIDE_CHECK(one_value, "broadcast_to is a view of one value");
  GUIDE_CHECK(dense.flags().row_contiguous && dense.data_size() == dense.size(), "contiguous makes it dense");
  GUIDE_CHECK(last == 1.5f, "the last element reads back");
}

}  // namespace

int main() {
  mx::set_default_device(mx::Device::cpu);  // the guides run on machines without a GPU
  guide::run("growing-graph", growing_graph);
  guide::run("training-without-eval", training_without_eval);
  guide::run("stale-member", stale_members);
  guide::run("captures", captures);
  guide::run("promotion", promotion);
  guide::run("two-evals", eval_names);
  guide::run("update-shapes", update_shapes);
  guide::run("raw-memory", raw_memory);
  return guide::finish("pitfalls");
}
