// The code of docs/guides/training.md: every region between `// [snippet: name]` and `// [end]`
// appears verbatim in the guide, and main() checks what each one computes. Files are written to
// the current directory (the guide test runs this program in a scratch directory).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "guide_check.h"

// [snippet: preamble]
#include "mica/mica.h"

namespace mx = mica;
namespace nn = mica::nn;
namespace optim = mica::optim;
// [end]

namespace {

// [snippet: model]
struct MLP : nn::Module {
  nn::Child<nn::Linear> fc1, fc2;  // stored in the module's state as "fc1" and "fc2"
  MLP(int in, int hidden, int out) : fc1(this, "fc1", in, hidden), fc2(this, "fc2", hidden, out) {}
  mx::array operator()(const mx::array& x) override { return fc2(nn::relu(fc1(x))); }
};
// [end]

// [snippet: data]
struct Dataset {
  mx::array x;  // (n, 2) points
  mx::array y;  // (n,) labels: 1 inside the circle, 0 outside
};

Dataset make_circle(int n, float radius, uint64_t seed) {
  mx::array x = mx::random::uniform(-1.5f, 1.5f, {n, 2}, mx::float32, mx::random::key(seed));
  mx::array y = mx::astype(mx::sum(mx::square(x), 1) < radius * radius, mx::int32);
  return {x, y};
}
// [end]

// [snippet: loss]
mx::array loss_of(MLP& model, const mx::array& x, const mx::array& y) {
  return nn::losses::cross_entropy(model(x), y, {.reduction = nn::losses::Reduction::mean});
}
// [end]

// [snippet: fit]
// Runs steps [first, last) on batches of 64 and returns the last loss.
float fit(MLP& model, optim::Optimizer& opt, const Dataset& data, int first, int last) {
  auto loss_and_grad = nn::value_and_grad(model, [&](const mx::array& x, const mx::array& y) {
    return loss_of(model, x, y);
  });
  const int batch = 64, batches = data.x.shape(0) / batch;
  float last_loss = 0.0f;
  for (int step = first; step < last; ++step) {
    const int start = (step % batches) * batch;  // the batch is a function of the step
    mx::array x = mx::slice(data.x, {start, 0}, {start + batch, 2});
    mx::array y = mx::slice(data.y, {start}, {start + batch});
    auto [loss, grads] = loss_and_grad(x, y);
    opt.update(model, grads);
    mx::eval(mx::Tree(mx::Tree::List{loss, model.parameters(), opt.state()}));
    last_loss = loss.item<float>();
  }
  return last_loss;
}
// [end]

// [snippet: compiled-fit]
// fit, with the step compiled: traced on the first call, replayed after.
float fit_compiled(MLP& model, optim::Optimizer& opt, const Dataset& data, int first, int last) {
  auto loss_and_grad = nn::value_and_grad(model, [&](const mx::array& x, const mx::array& y) {
    return loss_of(model, x, y);
  });
  auto step = mx::compile(
      [&](const std::vector<mx::array>& in) {
        auto [loss, grads] = loss_and_grad(in[0], in[1]);
        opt.update(model, grads);
        return std::vector<mx::array>{loss};
      },
      {.inputs = {model, opt}, .outputs = {model, opt}});  // the state the step reads and writes
  const int batch = 64, batches = data.x.shape(0) / batch;
  float last_loss = 0.0f;
  for (int s = first; s < last; ++s) {
    const int start = (s % batches) * batch;
    mx::array x = mx::slice(data.x, {start, 0}, {start + batch, 2});
    mx::array y = mx::slice(data.y, {start}, {start + batch});
    mx::array loss = step({x, y})[0];
    mx::eval(mx::Tree(mx::Tree::List{loss, model.parameters(), opt.state()}));
    last_loss = loss.item<float>();
  }
  return last_loss;
}
// [end]

// [snippet: accuracy]
float accuracy(MLP& model, const Dataset& data) {
  model.eval();  // inference mode (what dropout and batch norm look at); not mx::eval
  mx::array predicted = mx::argmax(model(data.x), -1);
  float correct = mx::mean(predicted == data.y).item<float>();
  model.train();
  return correct;
}
// [end]

// [snippet: save-checkpoint]
void save_checkpoint(const std::string& path, const nn::Module& model, const optim::Optimizer& opt, int step) {
  std::unordered_map<std::string, mx::array> arrays;
  for (const auto& [key, a] : mx::tree_flatten_arrays(model.parameters())) arrays.emplace("model." + key, a);
  for (const auto& [key, a] : mx::tree_flatten_arrays(opt.state())) arrays.emplace("optimizer." + key, a);
  mx::save_safetensors(path, arrays, {{"step", std::to_string(step)}});
}
// [end]

// [snippet: load-checkpoint]
int load_checkpoint(const std::string& path, nn::Module& model, optim::Optimizer& opt) {
  auto [arrays, metadata] = mx::load_safetensors(path);
  std::vector<std::pair<std::string, mx::array>> weights, state;
  for (const auto& [key, a] : arrays) {
    if (key.starts_with("model.")) weights.emplace_back(key.substr(6), a);
    if (key.starts_with("optimizer.")) state.emplace_back(key.substr(10), a);
  }
  model.load_weights(weights);  // strict: a missing, extra or misshapen weight throws
  opt.set_state(mx::tree_unflatten(state));
  return std::stoi(metadata.at("step"));
}
// [end]

// [snippet: lora-layer]
// out = base(x) + scale * (x down) up, with the base layer frozen: only down and up train.
// up starts at zero, so the adapted model starts out computing exactly what the base did.
struct LoRALinear : nn::Module {
  nn::Child<nn::Module> base;     // the adapted layer, frozen
  nn::Param down{this, "down"};  // (in, rank), set in the constructor
  nn::Param up{this, "up"};      // (rank, out)
  float scale_;                  // configuration, not a parameter: a plain member is fine

  LoRALinear(std::shared_ptr<nn::Module> layer, int rank, float scale) : base(this, "base", layer), scale_(scale) {
    const mx::array w = layer->param("weight");  // (out, in)
    layer->freeze();
    down = mx::random::normal({w.shape(1), rank}, mx::float32, 0.0f, 0.1f);
    up = mx::zeros({rank, w.shape(0)});
  }
  mx::array operator()(const mx::array& x) override {
    return base(x) + mx::matmul(mx::matmul(x, down), up) * scale_;
  }
};
// [end]

std::vector<std::string> paths_of(const mx::Tree& tree) {
  std::vector<std::string> paths;
  for (const auto& [path, a] : mx::tree_flatten_arrays(tree)) paths.push_back(path);
  return paths;
}

bool same(const mx::array& a, const mx::array& b) { return mx::array_equal(a, b).item<bool>(); }

void train_and_evaluate() {
  mx::random::seed(0);
  Dataset train = make_circle(512, 1.0f, 1);
  Dataset test = make_circle(256, 1.0f, 2);

  // [snippet: grads]
  MLP model(2, 32, 2);
  auto loss_and_grad = nn::value_and_grad(model, [&](const mx::array& x, const mx::array& y) {
    return loss_of(model, x, y);
  });
  auto [loss, grads] = loss_and_grad(train.x, train.y);
  // grads has the shape of model.trainable_parameters():
  // {fc1: {weight, bias}, fc2: {weight, bias}}
  mx::array g = grads["fc1"]["weight"].as_array();  // (32, 2), like the weight
  // [end]
  GUIDE_CHECK(g.shape() == (mx::Shape{32, 2}), "the gradient of fc1.weight is shaped like it");
  GUIDE_CHECK(paths_of(grads) == paths_of(model.trainable_parameters()), "grads mirror the parameters");
  GUIDE_CHECK(loss.ndim() == 0 && loss.item<float>() > 0.0f, "the loss is a positive scalar");

  // [snippet: train]
  optim::AdamW opt(1e-2f);  // learning rate 0.01; weight decay 0.01 by default
  float before = accuracy(model, test);
  float last_loss = fit(model, opt, train, 0, 300);
  float after = accuracy(model, test);
  std::printf("loss %.3f, test accuracy %.2f -> %.2f\n", last_loss, before, after);
  // [end]
  GUIDE_CHECK(after > 0.9f, "the classifier learns the circle");
  GUIDE_CHECK(after > before, "training improves the accuracy");
  GUIDE_CHECK(opt.step().item<uint64_t>() == 300, "the optimizer counted 300 steps");

  // [snippet: save-weights]
  model.save_weights("circle.safetensors");  // parameters() under their dotted paths
  MLP restored(2, 32, 2);                    // fresh random weights ...
  restored.load_weights("circle.safetensors");  // ... replaced by the saved ones
  // [end]
  GUIDE_CHECK(same(restored(test.x), model(test.x)), "the restored model computes the same outputs");

  // [snippet: export-model]
  model.eval();  // the inference-mode forward is what gets exported
  mx::export_function(
      "circle.micafn", [&model](const mx::Args& in) { return std::vector<mx::array>{model(in[0])}; },
      {mx::zeros({256, 2})});  // example inputs: only their shapes and dtypes matter
  model.train();
  // Later, or in another program without the MLP class: the weights are in the file.
  auto classify = mx::import_function("circle.micafn");
  mx::array logits = classify({test.x})[0];  // inputs must match the exported (256, 2) float32
  // [end]
  GUIDE_CHECK(same(logits, model(test.x)), "the imported function computes the model's outputs");
  bool refused = false;
  try {
    classify({mx::zeros({3, 2})});
  } catch (const std::invalid_argument&) {
    refused = true;
  }
  GUIDE_CHECK(refused, "inputs of another shape match no trace and throw");
}

void checkpoint_and_resume() {
  Dataset train = make_circle(512, 1.0f, 1);
  mx::random::seed(3);
  MLP model(2, 16, 2);
  optim::AdamW opt(1e-2f);
  fit(model, opt, train, 0, 20);

  // [snippet: checkpoint]
  save_checkpoint("checkpoint.safetensors", model, opt, 20);
  fit(model, opt, train, 20, 40);  // the run goes on ...

  // ... and another process picks it up from step 20:
  MLP resumed(2, 16, 2);
  optim::AdamW resumed_opt(1e-2f);
  int start = load_checkpoint("checkpoint.safetensors", resumed, resumed_opt);
  fit(resumed, resumed_opt, train, start, 40);
  // [end]
  GUIDE_CHECK(start == 20, "the checkpoint remembers its step");
  GUIDE_CHECK(resumed_opt.step().item<uint64_t>() == 40, "the optimizer's step counter was restored");
  auto a = mx::tree_flatten_arrays(model.parameters());
  auto b = mx::tree_flatten_arrays(resumed.parameters());
  bool identical = a.size() == b.size();
  for (std::size_t i = 0; identical && i < a.size(); ++i) identical = a[i].first == b[i].first && same(a[i].second, b[i].second);
  GUIDE_CHECK(identical, "the resumed run ends with exactly the parameters of the uninterrupted one");
}

void freeze_and_finetune() {
  mx::random::seed(4);
  MLP model(2, 32, 2);
  optim::AdamW opt(1e-2f);
  fit(model, opt, make_circle(512, 1.0f, 1), 0, 100);
  mx::array w1 = model.child("fc1")->param("weight");

  // [snippet: freeze]
  model.freeze();                      // nothing is trainable ...
  model.unfreeze({.keys = {"bias"}});  // ... except the biases
  // trainable_parameters(): {fc1: {bias}, fc2: {bias}}; parameters() still lists all four

  optim::AdamW finetune_opt(1e-2f);    // a fresh optimizer for the new set of parameters
  Dataset wider = make_circle(512, 1.2f, 5);
  fit(model, finetune_opt, wider, 0, 50);
  model.unfreeze();                    // everything trainable again
  // [end]
  GUIDE_CHECK(same(model.child("fc1")->param("weight"), w1), "a frozen weight does not move");
  GUIDE_CHECK(paths_of(model.trainable_parameters()).size() == 4, "unfreeze() makes all four trainable again");

  // [snippet: update]
  mx::Tree::Dict fc2;
  fc2.insert_or_assign("bias", mx::zeros({2}));
  mx::Tree::Dict changes;
  changes.insert_or_assign("fc2", mx::Tree(std::move(fc2)));
  model.update(mx::Tree(std::move(changes)));  // writes fc2.bias; the rest stays
  // [end]
  GUIDE_CHECK(same(model.child("fc2")->param("bias"), mx::zeros({2})), "update wrote the bias");
  GUIDE_CHECK(same(model.child("fc1")->param("weight"), w1), "update left fc1 alone");
}

void lora() {
  mx::random::seed(5);
  MLP model(2, 32, 2);
  optim::AdamW opt(1e-2f);
  Dataset train = make_circle(512, 1.0f, 1);
  fit(model, opt, train, 0, 100);
  Dataset wider = make_circle(512, 1.2f, 5);
  mx::array base_out = model(wider.x);
  mx::array fc1_weight = model.child("fc1")->param("weight");
  mx::array fc2_weight = model.child("fc2")->param("weight");

  // [snippet: lora-swap]
  model.freeze();  // the whole base model stays as it is
  mx::Tree::Dict swap;
  swap.insert_or_assign("fc1", std::make_shared<LoRALinear>(model.child("fc1"), 4, 1.0f));
  model.update_modules(mx::Tree(std::move(swap)));
  // trainable_parameters(): {fc1: {down, up}}; the base weights sit under fc1.base

  optim::AdamW lora_opt(1e-2f);
  fit(model, lora_opt, wider, 0, 50);
  // [end]
  auto trainable = paths_of(model.trainable_parameters());
  GUIDE_CHECK((trainable == std::vector<std::string>{"fc1.down", "fc1.up"}), "only the adapter trains");
  GUIDE_CHECK(same(model.child("fc1")->child("base")->param("weight"), fc1_weight), "the wrapped weight is untouched");
  GUIDE_CHECK(same(model.child("fc2")->param("weight"), fc2_weight), "fc2 is untouched");
  GUIDE_CHECK(!same(model(wider.x), base_out), "the adapter changed what the model computes");
}

}  // namespace

void compile_the_step() {
  Dataset train = make_circle(512, 1.0f, 1);
  mx::random::seed(5);
  MLP a(2, 16, 2);
  mx::random::seed(5);
  MLP b(2, 16, 2);
  optim::AdamW opt_a(1e-2f), opt_b(1e-2f);
  float plain = fit(a, opt_a, train, 0, 30);
  float compiled = fit_compiled(b, opt_b, train, 0, 30);
  GUIDE_CHECK(std::abs(plain - compiled) <= 1e-5f * std::max(1.0f, std::abs(plain)),
              "the compiled step trains as the plain one");
  GUIDE_CHECK(opt_b.step().item<uint64_t>() == 30, "the optimizer state was written back every step");
}

int main() {
  mx::set_default_device(mx::Device::cpu);  // the guides run on machines without a GPU
  guide::run("train", train_and_evaluate);
  guide::run("compile", compile_the_step);
  guide::run("checkpoint", checkpoint_and_resume);
  guide::run("freeze", freeze_and_finetune);
  guide::run("lora", lora);
  return guide::finish("training");
}
