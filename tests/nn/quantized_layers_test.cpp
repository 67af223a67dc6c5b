// Quantized layers and nn::quantize: parameter layout and freezing as MLX's QuantizedLinear /
// QuantizedEmbedding, outputs against the float layers within the quantization error, swaps
// through update_modules honoured by the parent's forward, the class predicate, and a
// safetensors round trip of a quantized model.
#include <filesystem>
#include <unistd.h>

#include "mica/primitives/primitive.h"
#include "nn/layer_checks.h"

namespace mica::layertest {
namespace {

// A parent whose forward reads its children from the state (so swapped layers are used).
struct TinyLM : nn::Module {
  TinyLM() {
    set("embed", std::make_shared<nn::Embedding>(50, 64));
    set("layers", Tree::List{Tree(std::make_shared<nn::Linear>(64, 128)), Tree(std::make_shared<nn::ReLU>()),
                             Tree(std::make_shared<nn::Linear>(128, 64, false))});
    set("head", std::make_shared<nn::Linear>(64, 10));
    set("odd", std::make_shared<nn::Linear>(64, 48));  // weight (48, 64): its last dim divides by 64
  }
  array operator()(const array& tokens) override {
    array h = call("embed", tokens);
    const Tree& layers = (*this)["layers"];
    for (size_t i = 0; i < layers.as_list().size(); ++i) h = layers.as_list()[i].as_module()(h);
    return call("head", h) + sum(call("odd", h), -1, true);
  }
};

// |a - b| <= tol * max|b| everywhere.
bool close_relative(const array& a, const array& b, double tol) {
  double scale = max(abs(b)).item<float>();
  return all(less_equal(abs(a - b), array(float(tol * scale)))).item<bool>();
}

TEST(QuantizedLinear, LayoutFreezingAndRepr) {
  nn::QuantizedLinear q(128, 16);
  EXPECT_EQ(param_shapes(q), (std::vector<std::pair<std::string, Shape>>{
                                 {"weight", {16, 16}}, {"scales", {16, 2}}, {"biases", {16, 2}}, {"bias", {16}}}));
  EXPECT_EQ(q.param("weight").dtype(), uint32);
  EXPECT_EQ(q.param("scales").dtype(), float32);
  // Frozen on construction, and still frozen after unfreeze() (MLX's QuantizedLinear too).
  EXPECT_TRUE(keys(q.trainable_parameters()).empty());
  q.unfreeze();
  EXPECT_TRUE(keys(q.trainable_parameters()).empty());
  EXPECT_EQ(q.repr(), "QuantizedLinear(input_dims=128, output_dims=16, bias=True, group_size=64, bits=4)");
  nn::QuantizedLinear q8(64, 8, {.bias = false, .group_size = 32, .bits = 8});
  EXPECT_EQ(param_shapes(q8), (std::vector<std::pair<std::string, Shape>>{
                                  {"weight", {8, 16}}, {"scales", {8, 2}}, {"biases", {8, 2}}}));
  EXPECT_TRUE(rejects("quantize", [] { nn::QuantizedLinear(100, 4); }));  // 100 is not a multiple of 64
}

TEST(QuantizedLinear, FromLinearMatchesTheFloatLayer) {
  auto lin = std::make_shared<nn::Linear>(256, 32);
  array x = test::random_array({4, 256}, float32, -1, 1, 1);
  array want = (*lin)(x);
  for (int bits : {4, 8}) {
    auto q = nn::QuantizedLinear::from_linear(*lin, {.group_size = 64, .bits = bits});
    array got = (*q)(x);
    EXPECT_EQ(got.shape(), Shape({4, 32}));
    // The exact answer for its own (dequantized) weights ...
    array wd = dequantize(q->param("weight"), q->param("scales"), q->param("biases"), 64, bits);
    EXPECT_TRUE(allclose(got, matmul(x, transpose(wd)) + lin->param("bias"), 1e-4, 1e-4).item<bool>());
    // ... and within the quantization error of the float layer.
    EXPECT_TRUE(close_relative(got, want, bits == 4 ? 0.15 : 0.01)) << bits;
    EXPECT_FALSE(close_relative(got, want, bits == 4 ? 1e-4 : 1e-5)) << "quantization should change something";
    EXPECT_TRUE(allclose(q->param("bias"), lin->param("bias")).item<bool>());
  }
}

TEST(QuantizedLinear, MicroscalingModes) {
  // mxfp4 / mxfp8 / nvfp4 layers hold weight and uint8 scales (no biases).
  auto lin = std::make_shared<nn::Linear>(64, 8);
  array x = test::random_array({3, 64}, float32, -1, 1, 9);
  struct M {
    const char* mode;
    int gs, bits, words;
    double tol;
  };
  for (M m : {M{"mxfp4", 32, 4, 8, 0.3}, M{"mxfp8", 32, 8, 16, 0.05}, M{"nvfp4", 16, 4, 8, 0.3}}) {
    auto q = nn::QuantizedLinear::from_linear(*lin, {.group_size = m.gs, .bits = m.bits, .mode = m.mode});
    EXPECT_EQ(param_shapes(*q), (std::vector<std::pair<std::string, Shape>>{
                                    {"weight", {8, m.words}}, {"scales", {8, 64 / m.gs}}, {"bias", {8}}}))
        << m.mode;
    EXPECT_EQ(q->param("scales").dtype(), uint8);
    EXPECT_TRUE(close_relative((*q)(x), (*lin)(x), m.tol)) << m.mode;
  }
}

TEST(QuantizedEmbedding, LookupAndAsLinear) {
  nn::Embedding e(20, 64);
  auto q = nn::QuantizedEmbedding::from_embedding(e, {.group_size = 32, .bits = 8});
  EXPECT_EQ(param_shapes(*q), (std::vector<std::pair<std::string, Shape>>{
                                  {"weight", {20, 16}}, {"scales", {20, 2}}, {"biases", {20, 2}}}));
  EXPECT_TRUE(keys(q->trainable_parameters()).empty());
  EXPECT_EQ(q->repr(), "QuantizedEmbedding(20, 64, group_size=32, bits=8)");
  array idx = array({3, 19, 0, 3}, {2, 2}, int32);
  array got = (*q)(idx);
  EXPECT_EQ(got.shape(), Shape({2, 2, 64}));
  EXPECT_TRUE(close_relative(got, e(idx), 0.01));
  array wd = dequantize(q->param("weight"), q->param("scales"), q->param("biases"), 32, 8);
  EXPECT_TRUE(allclose(got, take(wd, idx, 0), 1e-6, 1e-6).item<bool>());
  array x = test::random_array({3, 64}, float32, -1, 1, 2);
  EXPECT_TRUE(allclose(q->as_linear(x), matmul(x, transpose(wd)), 1e-4, 1e-4).item<bool>());
  EXPECT_TRUE(close_relative(q->as_linear(x), e.as_linear(x), 0.02));
  nn::QuantizedEmbedding fresh(10, 128);
  EXPECT_EQ(fresh(array({1, 2}, int32)).shape(), Shape({2, 128}));
  EXPECT_TRUE(rejects("QuantizedEmbedding", [&] { fresh(array({1.0f})); }));
}

TEST(Quantize, SwapsLayersInPlaceAndTheParentUsesThem) {
  random::seed(3);
  TinyLM model;
  array tokens = array({1, 7, 49, 0, 3, 3}, {2, 3}, int32);
  array want = model(tokens);
  nn::quantize(model);  // group 64, 4 bits
  // Every Linear/Embedding whose weight's last dim divides by 64 was swapped.
  EXPECT_EQ(model["embed"].as_module().name(), "QuantizedEmbedding");
  EXPECT_EQ(model["layers"].as_list()[0].as_module().name(), "QuantizedLinear");
  EXPECT_EQ(model["layers"].as_list()[1].as_module().name(), "ReLU");
  EXPECT_EQ(model["layers"].as_list()[2].as_module().name(), "QuantizedLinear");
  EXPECT_EQ(model["head"].as_module().name(), "QuantizedLinear");
  Keys ks = keys(model.parameters());
  for (const char* k : {"embed.weight", "embed.scales", "embed.biases", "layers.0.weight", "layers.0.scales",
                        "layers.0.biases", "layers.0.bias", "layers.2.weight", "head.bias"}) {
    EXPECT_NE(std::find(ks.begin(), ks.end(), k), ks.end()) << k;
  }
  EXPECT_TRUE(keys(model.trainable_parameters()).empty());
  array got = model(tokens);
  // 4 bits through four quantized layers: ~15% of the largest output.
  EXPECT_TRUE(close_relative(got, want, 0.25)) << max(abs(got - want)) << max(abs(want));
  EXPECT_FALSE(close_relative(got, want, 1e-5));
  // The forward went through the fused quantized product.
  array h = model["layers"].as_list()[0].as_module()(array(std::vector<float>(64, 0.5f).begin(), {1, 64}, float32));
  EXPECT_STREQ(h.primitive().name(), "Add");
  EXPECT_STREQ(h.inputs()[0].primitive().name(), "QuantizedMatmul");
}

TEST(Quantize, ClassPredicateChoosesLayersAndParameters) {
  TinyLM model;
  std::vector<std::string> seen;
  nn::quantize(model, {.group_size = 32,
                       .bits = 8,
                       .class_predicate = [&](const std::string& path, const nn::Module& m) -> std::variant<bool, nn::QuantizeParams> {
                         seen.push_back(path);
                         if (path == "head") return nn::QuantizeParams{.group_size = 64, .bits = 2};
                         return path == "layers.0";
                       }});
  // The predicate saw every leaf module by its path.
  for (const char* p : {"embed", "layers.0", "layers.1", "layers.2", "head", "odd"}) {
    EXPECT_NE(std::find(seen.begin(), seen.end(), p), seen.end()) << p;
  }
  EXPECT_EQ(model["embed"].as_module().name(), "Embedding");
  auto l0 = std::dynamic_pointer_cast<nn::QuantizedLinear>(model["layers"].as_list()[0].module_ptr());
  ASSERT_TRUE(l0);
  EXPECT_EQ(l0->bits(), 8);
  EXPECT_EQ(l0->group_size(), 32);
  auto head = std::dynamic_pointer_cast<nn::QuantizedLinear>(model["head"].module_ptr());
  ASSERT_TRUE(head);
  EXPECT_EQ(head->bits(), 2);
  EXPECT_EQ(model["layers"].as_list()[2].as_module().name(), "Linear");
  // Only the float layers remain trainable.
  Keys tk = keys(model.trainable_parameters());
  EXPECT_EQ(std::find(tk.begin(), tk.end(), "layers.0.weight"), tk.end());
  EXPECT_NE(std::find(tk.begin(), tk.end(), "layers.2.weight"), tk.end());
  // Selecting a module that cannot be quantized is an error.
  TinyLM other;
  EXPECT_TRUE(rejects("quantize", [&] { nn::quantize(other, 64, 4, [](const std::string& p, const nn::Module&) {
                                         return p == "layers.1";
                                       }); }));
  // Layers whose weight's last dim is not a multiple of the group size stay float by default.
  nn::Sequential seq(std::make_shared<nn::Linear>(96, 64), std::make_shared<nn::Linear>(64, 8));
  nn::quantize(seq, 64, 4);
  EXPECT_EQ(seq["layers"].as_list()[0].as_module().name(), "Linear");
  EXPECT_EQ(seq["layers"].as_list()[1].as_module().name(), "QuantizedLinear");
}

TEST(Quantize, TrainingTheFloatLayersAroundQuantizedOnes) {
  // A frozen quantized layer inside a model: gradients reach the float layer's parameters and
  // pass through the quantized one (its x cotangent is the fused transposed product).
  nn::Sequential seq(std::make_shared<nn::Linear>(32, 64), std::make_shared<nn::Linear>(64, 8));
  nn::quantize(seq, {.class_predicate = [](const std::string& p, const nn::Module&) { return p == "layers.1"; }});
  array x = test::random_array({5, 32}, float32, -1, 1, 8);
  auto loss = [&](const std::vector<array>& in) { return sum(square(seq(in[0]))); };
  auto [value, grads] = nn::value_and_grad(seq, loss)(std::vector<array>{x});
  Keys gk = keys(grads);
  EXPECT_EQ(gk, (Keys{"layers.0.weight", "layers.0.bias"}));
  // Against the float composition with the quantized layer's dequantized weight.
  auto& q = seq["layers"].as_list()[1].as_module();
  array wd = dequantize(q.param("weight"), q.param("scales"), q.param("biases"), 64, 4);
  auto ref = grad(
      [&](const std::vector<array>& in) {
        array h = matmul(x, transpose(in[0])) + in[1];
        return sum(square(matmul(h, transpose(wd)) + q.param("bias")));
      },
      std::vector<int>{0, 1})({seq["layers"].as_list()[0].as_module().param("weight"),
                               seq["layers"].as_list()[0].as_module().param("bias")});
  EXPECT_TRUE(allclose(grads["layers"][0]["weight"].as_array(), ref[0], 1e-3, 1e-3).item<bool>());
}

TEST(Quantize, SafetensorsRoundTrip) {
  random::seed(5);
  TinyLM model;
  nn::quantize(model);
  array tokens = array({4, 2, 8}, {1, 3}, int32);
  array want = model(tokens);
  auto dir = std::filesystem::temp_directory_path() / ("mica_quantized_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "q.safetensors").string();
  model.save_weights(path);
  // A fresh model, quantized the same way (different random weights), then loaded.
  random::seed(6);
  TinyLM fresh;
  nn::quantize(fresh);
  EXPECT_FALSE(allclose(fresh(tokens), want).item<bool>());
  fresh.load_weights(path);
  EXPECT_EQ(fresh["head"].as_module().param("weight").dtype(), uint32);
  EXPECT_TRUE(array_equal(fresh(tokens), want).item<bool>());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace mica::layertest
