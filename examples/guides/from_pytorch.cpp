// The code of docs/guides/from_pytorch.md: every region between `// [snippet: name]` and
// `// [end]` appears verbatim in the guide, and main() checks what each one computes.
#include <cmath>
#include <iostream>
#include <memory>
#include <vector>

#include "guide_check.h"
#include "mica/mica.h"

namespace mx = mica;
namespace nn = mica::nn;
namespace optim = mica::optim;

namespace {

bool same(const mx::array& a, const mx::array& b) { return mx::array_equal(a, b).item<bool>(); }

void laziness() {
  // [snippet: lazy]
  mx::array x = mx::random::normal({256, 256});
  mx::array y = mx::matmul(x, mx::transpose(x));  // returns at once: a node, no arithmetic yet
  mx::array trace = mx::sum(mx::diagonal(y));     // still nothing computed
  bool pending = !trace.is_available();           // true
  float value = trace.item<float>();              // the whole graph runs here
  // [end]
  GUIDE_CHECK(pending, "nothing ran before item()");
  GUIDE_CHECK(value > 0.0f, "the trace of x x^T is a sum of squares");
}

void immutability() {
  // [snippet: immutable]
  mx::array a = mx::zeros({4});
  mx::array alias = a;        // a second handle to the same array (like a tensor reference)
  a = a + 1.0f;               // a now names a new array; alias still sees zeros

  // PyTorch's a[1] = 5 and a[a > 3] = 0 become ops that return new arrays:
  mx::array b = mx::slice_update(a, mx::array({5.0f}), {1}, {2});  // [1, 5, 1, 1]
  mx::array c = mx::where(b > 3.0f, mx::array(0.0f), b);           // [1, 0, 1, 1]
  // [end]
  GUIDE_CHECK(same(alias, mx::zeros({4})), "the alias is unchanged");
  GUIDE_CHECK(same(b, mx::array({1.0f, 5.0f, 1.0f, 1.0f})), "slice_update changed one element");
  GUIDE_CHECK(same(c, mx::array({1.0f, 0.0f, 1.0f, 1.0f})), "where replaced the large element");
  GUIDE_CHECK(same(a, mx::ones({4})), "a itself was never written");
}

void gradients() {
  // [snippet: grad]
  // PyTorch: w.requires_grad_(); loss = f(w); loss.backward(); w.grad
  auto loss_fn = [](const mx::array& w) { return mx::sum(mx::square(w - 3.0f)); };
  auto [loss, dw] = mx::value_and_grad(loss_fn)(mx::array({1.0f, 2.0f}));
  // loss = 4 + 1 = 5, dw = 2 (w - 3) = [-4, -2]
  // [end]
  GUIDE_CHECK(loss.item<float>() == 5.0f, "the loss is 5");
  GUIDE_CHECK(same(dw, mx::array({-4.0f, -2.0f})), "the gradient is 2(w - 3)");

  // [snippet: grad-many]
  // Several inputs: pass them as a vector and say which ones to differentiate.
  auto f = [](const std::vector<mx::array>& in) { return mx::sum(in[0] * in[1]); };
  auto [value, grads] = mx::value_and_grad(f, {0, 1})({mx::array({2.0f}), mx::array({5.0f})});
  // grads[0] = d/da = b = 5, grads[1] = d/db = a = 2
  // [end]
  GUIDE_CHECK(value.item<float>() == 10.0f, "2 * 5");
  GUIDE_CHECK(grads.size() == 2 && grads[0].item<float>() == 5.0f && grads[1].item<float>() == 2.0f,
              "each gradient is the other factor");

  // [snippet: stop-gradient]
  // No torch.no_grad() or .detach(): only what you differentiate is differentiated, and
  // stop_gradient marks a value as a constant inside a differentiated function.
  auto g = mx::grad([](const mx::array& w) { return mx::sum(w * mx::stop_gradient(w)); });
  mx::array dg = g(mx::array({3.0f}));  // 3, not 6: the second factor is treated as constant
  // [end]
  GUIDE_CHECK(dg.item<float>() == 3.0f, "stop_gradient blocks the second path");
}

void training_step() {
  mx::random::seed(1);
  mx::array x = mx::random::normal({32, 3});
  mx::array y = mx::matmul(x, mx::array({1.0f, -2.0f, 0.5f}, {3, 1}));

  // [snippet: module-step]
  nn::Linear layer(3, 1);
  optim::SGD sgd(0.1f);
  // loss.backward() + optimizer.step() + optimizer.zero_grad() become:
  auto loss_and_grad = nn::value_and_grad(layer, [&](const mx::array& in, const mx::array& target) {
    return nn::losses::mse_loss(layer(in), target);
  });
  for (int step = 0; step < 100; ++step) {
    auto [loss, grads] = loss_and_grad(x, y);  // fresh gradients: nothing to zero
    sgd.update(layer, grads);                  // writes the new parameters into the layer
    mx::eval(layer.parameters());              // run this step before building the next
  }
  // [end]
  GUIDE_CHECK(mx::allclose(layer.param("weight"), mx::array({1.0f, -2.0f, 0.5f}, {1, 3}), 1e-2, 1e-2).item<bool>(),
              "SGD recovers the weights");

  // [snippet: modes]
  layer.eval();                  // model.eval() in PyTorch: inference mode, computes nothing
  bool inference = !layer.training();
  layer.train();                 // back to training mode
  mx::eval(layer.parameters());  // mx::eval is the one that computes arrays
  // [end]
  GUIDE_CHECK(inference && layer.training(), "eval()/train() switch the mode");
}

void updating_parameters() {
  // [snippet: update]
  nn::Linear layer(3, 2);
  // with torch.no_grad(): layer.weight.copy_(...) becomes an update of the parameter tree:
  mx::Tree::Dict values;
  values.insert_or_assign("weight", mx::ones({2, 3}));
  layer.update(mx::Tree(std::move(values)));

  layer.apply([](const mx::array& p) { return p * 0.5f; });  // every parameter, mapped
  layer.set_dtype(mx::bfloat16);                              // model.to(torch.bfloat16)

  // state_dict(): the flattened parameter tree, with dotted names
  for (const auto& [name, p] : mx::tree_flatten_arrays(layer.parameters())) {
    std::cout << name << " " << p.dtype() << "\n";  // weight bfloat16, bias bfloat16
  }
  // [end]
  GUIDE_CHECK(layer.param("weight").dtype() == mx::bfloat16, "set_dtype cast the weight");
  GUIDE_CHECK(same(mx::astype(layer.param("weight"), mx::float32), mx::full({2, 3}, 0.5f)), "update then apply");
}

void autocast() {
  mx::random::seed(2);
  // [snippet: autocast]
  nn::Linear proj(8, 8);
  mx::array x = mx::random::normal({4, 8});
  auto loss_and_grad = nn::value_and_grad(proj, [&](const mx::array& in) {
    mx::Autocast bf16(mx::bfloat16);  // torch.autocast(device_type, dtype=torch.bfloat16)
    mx::array h = proj(in);           // the matrix product runs in bfloat16: h is bfloat16
    mx::array residual = in + h;      // float32 + bfloat16 promotes back to float32
    return mx::mean(mx::square(residual));
  });
  auto [loss, grads] = loss_and_grad(x);
  // The weights stay float32 and so do their gradients: no GradScaler is needed for bfloat16.
  // [end]
  GUIDE_CHECK(loss.dtype() == mx::float32, "the loss is float32");
  GUIDE_CHECK(grads["weight"].as_array().dtype() == mx::float32, "the weight's gradient is float32");
  GUIDE_CHECK(proj.param("weight").dtype() == mx::float32, "the weight stays float32");
  {
    mx::Autocast bf16(mx::bfloat16);
    GUIDE_CHECK(proj(x).dtype() == mx::bfloat16, "inside the scope the product is bfloat16");
  }
  GUIDE_CHECK(proj(x).dtype() == mx::float32, "outside the scope it is float32 again");
  GUIDE_CHECK(!mx::autocast_dtype().has_value(), "the scope ended");
}

void devices() {
  // [snippet: devices]
  // No .to(device) or .cuda(): arrays are not tied to a device; each op runs on one.
  mx::set_default_device(mx::Device::cpu);           // torch.set_default_device("cpu")
  mx::array a = mx::ones({2, 2});
  mx::array b = mx::exp(a, mx::Device::cpu);         // this op on the CPU, whatever the default
  if (mx::is_available(mx::Device::gpu)) {
    mx::array c = mx::exp(a, mx::Device::gpu);       // the same input, used on the GPU
    mx::eval(c);
  }
  // [end]
  GUIDE_CHECK(std::fabs(mx::take(b, 0).item<float>() - std::exp(1.0f)) < 1e-6f, "exp(1)");
}

void losses() {
  // [snippet: reductions]
  mx::array logits = mx::array({2.0f, 0.0f, 0.0f, 2.0f}, {2, 2});
  mx::array labels = mx::array({0, 1});
  mx::array per_example = nn::losses::cross_entropy(logits, labels);  // shape (2): Reduction::none is the default
  mx::array mean = nn::losses::cross_entropy(logits, labels, {.reduction = nn::losses::Reduction::mean});
  // [end]
  GUIDE_CHECK(per_example.shape() == (mx::Shape{2}), "one loss per example by default");
  GUIDE_CHECK(mean.ndim() == 0, "mean reduces to a scalar");
}

}  // namespace

int main() {
  mx::set_default_device(mx::Device::cpu);  // the guides run on machines without a GPU
  guide::run("lazy", laziness);
  guide::run("immutable", immutability);
  guide::run("grad", gradients);
  guide::run("module-step", training_step);
  guide::run("update", updating_parameters);
  guide::run("autocast", autocast);
  guide::run("devices", devices);
  guide::run("reductions", losses);
  return guide::finish("from_pytorch");
}
