// MultiHeadAttention and the Transformer layers (mica/nn/layers/transformer.h): parameter names
// and repr as MLX, attention against a double-precision loop, every layer against numbers
// printed by MLX 0.32 for fixed weights, gradients against finite differences (inputs and
// parameters, with and without checkpointing), freeze()/unfreeze({.keys = {"bias"}}), and bad
// arguments.
#include "nn/layer_checks.h"
#include "mica/nn/layers/transformer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>
#include <memory>

#include "mica/nn.h"
#include "mica/nn/layers/activations.h"
#include "mica/nn/layers/normalization.h"
#include "reference/reference.h"
#include "reference/transform_checks.h"

using namespace mica;
using mica::layertest::inp;
using mica::layertest::fill;
using mica::test::GradCase;
using mica::test::to_vector;

namespace {

// Printed by MLX 0.32 with the weights of fill() and the inputs of inp().
// clang-format off
const std::map<std::string, std::vector<double>> kMlx = {
    {"mha_vdims", {0.02330523, -0.04856367, -0.09863389, 0.02260602, -0.1020674, -0.180926, 0.02640859, -0.04557727, -0.09710491, -0.02304415, 0.03050762, 0.07036549, -0.04569242, 0.06857456, 0.1520606, -0.003279373, 0.04338513, 0.07057539}},
    {"mha_bias_boolmask", {0.1839116, -0.5011151, -0.02063122, -1.035244, 0.4091822, -0.6612676, 0.05589691, -1.019304, 0.263902, -0.5330559, -0.04043087, -0.9659915, 0.07044015, -0.3763808, -0.1422147, -0.9308608, 0.2298386, -0.5109742, -0.0479793, -0.9738487, 0.459235, -0.6796554, 0.04049483, -0.971892}},
    {"transformer_nf1", {0.6454503, -0.05303034, 0.3716864, -0.61734, 0.3008494, -0.2933645, 0.5468694, -0.4635413, 0.09826255, -0.1850635, 0.4886794, -0.3899032, 0.3160172, -0.06201389, 0.5618114, -0.5417033}},
    {"enc_layer_gelu_nf1", {1.450143, 1.294838, 0.8091992, 0.03674975, 0.1484336, -0.05642271, -0.4086109, -0.8627291, -0.07022685, 0.09714156, 0.1130299, -0.1206735, 1.138326, 1.368134, 1.415086, 0.9112488, 1.606245, 1.497503, 1.146989, 0.3740443, 0.5337241, 0.2211151, -0.1926854, -0.8165917}},
    {"transformer_nf0", {0.3418963, -0.2315643, -0.3829592, -0.180306, 0.4759017, -0.4153133, 0.4867252, -0.4811977, 0.4821796, -0.08540848, -0.6195297, -0.2002808, 0.3722016, -0.04997505, -0.5593395, -0.1849855}},
    {"enc_layer_gelu_nf0", {-0.03876074, 0.1426278, -0.4120891, -0.06819525, -0.07220029, 0.1801075, -0.4171883, -0.08093214, 0.7288328, -0.01272911, -0.4882733, -0.09826967, 0.5667305, 0.08511023, -0.475118, -0.056568, -0.08686385, 0.157749, -0.4119438, -0.08255553, -0.1212642, 0.1914539, -0.4165995, -0.09667313}},
};
// clang-format on

// MLX's repr of Transformer(8, 2, 1, 1, 16).
const char* kTransformerRepr = R"(Transformer(
  (encoder): TransformerEncoder(
    (layers.0): TransformerEncoderLayer(
      (attention): MultiHeadAttention(
        (query_proj): Linear(input_dims=8, output_dims=8, bias=False)
        (key_proj): Linear(input_dims=8, output_dims=8, bias=False)
        (value_proj): Linear(input_dims=8, output_dims=8, bias=False)
        (out_proj): Linear(input_dims=8, output_dims=8, bias=False)
      )
      (ln1): LayerNorm(8, eps=1e-05, affine=True)
      (ln2): LayerNorm(8, eps=1e-05, affine=True)
      (linear1): Linear(input_dims=8, output_dims=16, bias=True)
      (linear2): Linear(input_dims=16, output_dims=8, bias=True)
      (dropout1): Dropout(p=0.0)
      (dropout2): Dropout(p=0.0)
    )
    (ln): LayerNorm(8, eps=1e-05, affine=True)
  )
  (decoder): TransformerDecoder(
    (layers.0): TransformerDecoderLayer(
      (self_attention): MultiHeadAttention(
        (query_proj): Linear(input_dims=8, output_dims=8, bias=False)
        (key_proj): Linear(input_dims=8, output_dims=8, bias=False)
        (value_proj): Linear(input_dims=8, output_dims=8, bias=False)
        (out_proj): Linear(input_dims=8, output_dims=8, bias=False)
      )
      (cross_attention): MultiHeadAttention(
        (query_proj): Linear(input_dims=8, output_dims=8, bias=False)
        (key_proj): Linear(input_dims=8, output_dims=8, bias=False)
        (value_proj): Linear(input_dims=8, output_dims=8, bias=False)
        (out_proj): Linear(input_dims=8, output_dims=8, bias=False)
      )
      (ln1): LayerNorm(8, eps=1e-05, affine=True)
      (ln2): LayerNorm(8, eps=1e-05, affine=True)
      (ln3): LayerNorm(8, eps=1e-05, affine=True)
      (linear1): Linear(input_dims=8, output_dims=16, bias=True)
      (linear2): Linear(input_dims=16, output_dims=8, bias=True)
      (dropout1): Dropout(p=0.0)
      (dropout2): Dropout(p=0.0)
      (dropout3): Dropout(p=0.0)
    )
    (ln): LayerNorm(8, eps=1e-05, affine=True)
  )
))";

testing::AssertionResult like_mlx(const std::string& key, const array& got, double tol = 3e-5) {
  auto r = test::all_close(to_vector(got), kMlx.at(key), tol, tol);
  if (!r) return testing::AssertionFailure() << key << ": " << r.message();
  return r;
}

std::vector<std::string> names(const Tree& params) {
  std::vector<std::string> out;
  for (auto& [p, a] : tree_flatten_arrays(params)) out.push_back(p);
  return out;
}

std::vector<std::string> encoder_layer_names(const std::string& prefix) {
  std::vector<std::string> n;
  for (auto p : {"query_proj", "key_proj", "value_proj", "out_proj"})
    n.push_back(prefix + "attention." + p + ".weight");
  for (auto p : {"ln1", "ln2", "linear1", "linear2"}) {
    n.push_back(prefix + p + ".weight");
    n.push_back(prefix + p + ".bias");
  }
  return n;
}

std::vector<std::string> decoder_layer_names(const std::string& prefix) {
  std::vector<std::string> n;
  for (auto a : {"self_attention", "cross_attention"})
    for (auto p : {"query_proj", "key_proj", "value_proj", "out_proj"}) n.push_back(prefix + a + "." + p + ".weight");
  for (auto p : {"ln1", "ln2", "ln3", "linear1", "linear2"}) {
    n.push_back(prefix + p + ".weight");
    n.push_back(prefix + p + ".bias");
  }
  return n;
}

// softmax(q k^T / sqrt(dh) + mask) v per head, from the definition, with all projections.
// q (B, Lq, Dq), k (B, Lk, Dk), v (B, Lk, Dv); w* (out, in) row-major; mask (Lq, Lk) additive.
struct Proj {
  std::vector<double> w, b;
  int out, in;
  std::vector<double> apply(const std::vector<double>& x, size_t row) const {
    std::vector<double> y(out, 0.0);
    for (int o = 0; o < out; ++o) {
      y[o] = b.empty() ? 0.0 : b[o];
      for (int i = 0; i < in; ++i) y[o] += w[o * in + i] * x[row * in + i];
    }
    return y;
  }
};

Proj proj_of(const nn::MultiHeadAttention& m, const char* key) {
  auto lin = m.child(key);
  array w = lin->param("weight");
  Proj p{to_vector(w), {}, w.shape(0), w.shape(1)};
  if (lin->contains("bias")) p.b = to_vector(lin->param("bias"));
  return p;
}

std::vector<double> mha_ref(const nn::MultiHeadAttention& m, int heads, const std::vector<double>& q,
                            const std::vector<double>& k, const std::vector<double>& v, int B, int Lq, int Lk,
                            const std::vector<double>& mask) {
  Proj pq = proj_of(m, "query_proj"), pk = proj_of(m, "key_proj"), pv = proj_of(m, "value_proj");
  Proj po = proj_of(m, "out_proj");
  int dq = pq.out / heads, dv = pv.out / heads;
  std::vector<double> out;
  for (int b = 0; b < B; ++b) {
    std::vector<std::vector<double>> Q, K, V;
    for (int i = 0; i < Lq; ++i) Q.push_back(pq.apply(q, b * Lq + i));
    for (int j = 0; j < Lk; ++j) K.push_back(pk.apply(k, b * Lk + j));
    for (int j = 0; j < Lk; ++j) V.push_back(pv.apply(v, b * Lk + j));
    for (int i = 0; i < Lq; ++i) {
      std::vector<double> merged(pv.out, 0.0);
      for (int h = 0; h < heads; ++h) {
        std::vector<double> s(Lk);
        double mx = -std::numeric_limits<double>::infinity();
        for (int j = 0; j < Lk; ++j) {
          double dot = 0;
          for (int d = 0; d < dq; ++d) dot += Q[i][h * dq + d] * K[j][h * dq + d];
          s[j] = dot / std::sqrt(static_cast<double>(dq)) + (mask.empty() ? 0.0 : mask[i * Lk + j]);
          mx = std::max(mx, s[j]);
        }
        double z = 0;
        for (int j = 0; j < Lk; ++j) z += std::exp(s[j] - mx);
        for (int j = 0; j < Lk; ++j)
          for (int d = 0; d < dv; ++d) merged[h * dv + d] += std::exp(s[j] - mx) / z * V[j][h * dv + d];
      }
      auto o = po.apply(merged, 0);
      out.insert(out.end(), o.begin(), o.end());
    }
  }
  return out;
}

// A GradCase over the listed parameters of m (written with update) and extra inputs.
GradCase param_case(const std::string& name, std::shared_ptr<nn::Module> m,
                    std::function<array(const std::vector<array>&)> run, std::vector<std::string> only = {},
                    std::vector<Shape> extra = {}) {
  std::vector<std::string> paths;
  std::vector<Shape> shapes;
  for (auto& [p, a] : tree_flatten_arrays(m->parameters())) {
    if (!only.empty() && std::find(only.begin(), only.end(), p) == only.end()) continue;
    paths.push_back(p);
    shapes.push_back(a.shape());
  }
  size_t np = paths.size();
  shapes.insert(shapes.end(), extra.begin(), extra.end());
  GradCase c{name,
             [m, run, paths, np](const std::vector<array>& in) {
               std::vector<std::pair<std::string, array>> items;
               for (size_t i = 0; i < np; ++i) items.emplace_back(paths[i], in[i]);
               m->update(tree_unflatten(items));
               return run(std::vector<array>(in.begin() + static_cast<std::ptrdiff_t>(np), in.end()));
             },
             shapes};
  c.lo = -1.0;
  c.hi = 1.0;
  c.rtol = 1e-5;
  c.atol = 1e-7;
  return c;
}

std::shared_ptr<nn::Transformer> tiny_transformer(bool norm_first = true, bool checkpoint = false,
                                                  int encoder_layers = 2) {
  return std::make_shared<nn::Transformer>(nn::TransformerOptions{.dims = 4,
                                                                  .num_heads = 2,
                                                                  .num_encoder_layers = encoder_layers,
                                                                  .num_decoder_layers = 1,
                                                                  .mlp_dims = 8,
                                                                  .norm_first = norm_first,
                                                                  .checkpoint = checkpoint});
}

}  // namespace

// -- MultiHeadAttention -------------------------------------------------------------------------

TEST(MultiHeadAttention, ParametersAndDefaults) {
  nn::MultiHeadAttention m(8, 2);
  EXPECT_EQ(m.num_heads(), 2);
  EXPECT_EQ(names(m.parameters()),
            (std::vector<std::string>{"query_proj.weight", "key_proj.weight", "value_proj.weight", "out_proj.weight"}));
  for (auto k : {"query_proj", "key_proj", "value_proj", "out_proj"})
    EXPECT_EQ(m.child(k)->param("weight").shape(), (Shape{8, 8}));
  nn::MultiHeadAttention b(
      4, 2, {.query_input_dims = 3, .key_input_dims = 5, .value_dims = 6, .value_output_dims = 7, .bias = true});
  EXPECT_EQ(b.child("query_proj")->param("weight").shape(), (Shape{4, 3}));
  EXPECT_EQ(b.child("key_proj")->param("weight").shape(), (Shape{4, 5}));
  EXPECT_EQ(b.child("value_proj")->param("weight").shape(), (Shape{6, 5}));  // value_input_dims = key_input_dims
  EXPECT_EQ(b.child("out_proj")->param("weight").shape(), (Shape{7, 6}));
  EXPECT_EQ(b.child("out_proj")->param("bias").shape(), (Shape{7}));
  EXPECT_EQ(tree_flatten(b.parameters()).size(), 8u);
}

TEST(MultiHeadAttention, CausalMask) {
  array m = nn::MultiHeadAttention::create_additive_causal_mask(3);
  EXPECT_EQ(m.dtype(), float32);
  double lo = -3.4028234663852886e38;
  EXPECT_TRUE(test::matches(m, {3, 3}, {0, lo, lo, 0, 0, lo, 0, 0, 0}, 1e-7, 0));
  array h = nn::MultiHeadAttention::create_additive_causal_mask(2, float16);
  EXPECT_EQ(h.dtype(), float16);
  EXPECT_TRUE(test::matches(h, {2, 2}, {0, -65504, 0, 0}, 0, 0));
}

TEST(MultiHeadAttention, MatchesDoubleLoop) {
  const int B = 2, Lq = 3, Lk = 4;
  nn::MultiHeadAttention m(
      6, 3, {.key_input_dims = 5, .value_input_dims = 2, .value_dims = 9, .value_output_dims = 4, .bias = true});
  m.set_dtype(float64);
  array q = test::random_array({B, Lq, 6}, float64, -1.0, 1.0, 50);
  array k = test::random_array({B, Lk, 5}, float64, -1.0, 1.0, 51);
  array v = test::random_array({B, Lk, 2}, float64, -1.0, 1.0, 52);
  auto qv = to_vector(q), kv = to_vector(k), vv = to_vector(v);
  EXPECT_TRUE(test::matches(m(q, k, v), {B, Lq, 4}, mha_ref(m, 3, qv, kv, vv, B, Lq, Lk, {}), 1e-12, 1e-12));
  // Additive mask (Lq, Lk).
  array mask = test::random_array({Lq, Lk}, float64, -3.0, 0.0, 53);
  EXPECT_TRUE(
      test::matches(m(q, k, v, mask), {B, Lq, 4}, mha_ref(m, 3, qv, kv, vv, B, Lq, Lk, to_vector(mask)), 1e-12, 1e-12));
  // A bool mask keeps the true positions: the same as -inf at the false ones.
  array keep = array({true, false, true, true, false, true, false, true, true, true, false, false}, {Lq, Lk});
  std::vector<double> add_mask;
  for (double b : to_vector(keep)) add_mask.push_back(b ? 0.0 : -1e300);
  EXPECT_TRUE(
      test::matches(m(q, k, v, keep), {B, Lq, 4}, mha_ref(m, 3, qv, kv, vv, B, Lq, Lk, add_mask), 1e-12, 1e-12));
}

TEST(MultiHeadAttention, MatchesMlx) {
  array q = inp({2, 3, 4}, 0.0), k = inp({2, 5, 4}, 1.0), v = inp({2, 5, 6}, 2.0);
  nn::MultiHeadAttention m(4, 2, {.bias = true});
  fill(m);
  array keep =
      array({true, false, true, true, false, false, true, true, false, true, true, true, false, false, false}, {3, 5});
  EXPECT_TRUE(like_mlx("mha_bias_boolmask", m(q, k, k, keep)));
  nn::MultiHeadAttention m2(4, 2, {.value_input_dims = 6, .value_dims = 8, .value_output_dims = 3});
  fill(m2);
  array y = m2(q, k, v);
  EXPECT_EQ(y.shape(), (Shape{2, 3, 3}));
  EXPECT_TRUE(like_mlx("mha_vdims", y));
}

TEST(MultiHeadAttention, GradientsMatchFiniteDifferences) {
  auto m = std::make_shared<nn::MultiHeadAttention>(4, 2, nn::MultiHeadAttentionOptions{.bias = true});
  m->set_dtype(float64);
  array mask = nn::MultiHeadAttention::create_additive_causal_mask(3, float64);
  GradCase inputs{"mha_qkv",
                  [m, mask](const std::vector<array>& in) { return (*m)(in[0], in[1], in[2], mask); },
                  {{2, 3, 4}, {2, 3, 4}, {2, 3, 4}}};
  EXPECT_TRUE(test::vjp_matches_finite_differences(inputs));
  array q = test::random_array({2, 3, 4}, float64, -1.0, 1.0, 60);
  array kv = test::random_array({2, 2, 4}, float64, -1.0, 1.0, 61);
  EXPECT_TRUE(test::vjp_matches_finite_differences(
      param_case("mha_params", m, [m, q, kv](const std::vector<array>&) { return (*m)(q, kv, kv); })));
}

TEST(MultiHeadAttention, CausalModeMatchesTheCausalMask) {
  // mask "causal" (fused, no mask array) equals the additive causal mask, values and gradients;
  // with fewer queries than keys the last query aligns with the last key, as MLX's.
  nn::MultiHeadAttention m(6, 3, {.bias = true});
  m.set_dtype(float64);
  array x = test::random_array({2, 5, 6}, float64, -1.0, 1.0, 60);
  array mask = nn::MultiHeadAttention::create_additive_causal_mask(5, float64);
  EXPECT_TRUE(test::matches(m(x, x, x, "causal"), {2, 5, 6}, to_vector(m(x, x, x, mask)), 1e-12, 1e-12));
  auto loss = [&](bool causal) {
    return [&, causal](const std::vector<array>& in) { return sum(square(causal ? m(in[0], in[0], in[0], "causal")
                                                                                 : m(in[0], in[0], in[0], mask))); };
  };
  EXPECT_TRUE(test::matches(grad(loss(true))({x})[0], {2, 5, 6}, to_vector(grad(loss(false))({x})[0]), 1e-10, 1e-12));
  array kv = test::random_array({2, 7, 6}, float64, -1.0, 1.0, 61);
  array shifted = concatenate({zeros({5, 2}, float64), mask}, 1);  // query i sees keys j <= i + 2
  EXPECT_TRUE(test::matches(m(x, kv, kv, "causal"), {2, 5, 6}, to_vector(m(x, kv, kv, shifted)), 1e-12, 1e-12));
  EXPECT_TRUE(test::matches(m(x, kv, kv, ""), {2, 5, 6}, to_vector(m(x, kv, kv)), 0, 0));
  EXPECT_TRUE(test::throws_op<std::invalid_argument>("MultiHeadAttention", [&] { m(x, x, x, "upper"); }));
}

TEST(MultiHeadAttention, BadArguments) {
  EXPECT_TRUE(test::throws_op<std::invalid_argument>("MultiHeadAttention", [] { nn::MultiHeadAttention(5, 2); }));
  EXPECT_TRUE(test::throws_op<std::invalid_argument>("MultiHeadAttention", [] { nn::MultiHeadAttention(4, 0); }));
  EXPECT_TRUE(test::throws_op<std::invalid_argument>("MultiHeadAttention", [] { nn::MultiHeadAttention(0, 1); }));
  nn::MultiHeadAttention m(4, 2);
  array x = zeros({2, 3, 4});
  EXPECT_TRUE(test::throws_op<std::invalid_argument>("MultiHeadAttention", [&] { m(zeros({3, 4}), x, x); }));
  EXPECT_TRUE(test::throws_op<std::invalid_argument>("MultiHeadAttention", [&] { m(x, zeros({2, 3, 4, 1}), x); }));
  EXPECT_TRUE(test::throws_op<std::invalid_argument>("MultiHeadAttention", [&] { m(x, x, zeros({2, 5, 4})); }));
  EXPECT_THROW(m(x, x, zeros({2, 3, 5})), std::invalid_argument);  // value features != value_proj input
  EXPECT_THROW(m(x, x, x, zeros({4, 4})), std::invalid_argument);  // mask does not broadcast to (.., 3, 3)
  nn::MultiHeadAttention odd(4, 2, {.value_dims = 3});
  EXPECT_TRUE(test::throws_op<std::invalid_argument>("MultiHeadAttention", [&] { odd(x, x, x); }));
  EXPECT_TRUE(test::throws_op<std::invalid_argument>(
      "MultiHeadAttention", [] { nn::MultiHeadAttention::create_additive_causal_mask(3, int32); }));
  nn::Module& base = m;  // no one-array call
  EXPECT_THROW(base(x), std::invalid_argument);
}

// -- Encoder / decoder layers and the Transformer -------------------------------------------------

TEST(Transformer, ParameterNamesAndReprAsMlx) {
  auto t = tiny_transformer();
  std::vector<std::string> want;
  for (int i = 0; i < 2; ++i) {
    auto n = encoder_layer_names("encoder.layers." + std::to_string(i) + ".");
    want.insert(want.end(), n.begin(), n.end());
  }
  want.insert(want.end(), {"encoder.ln.weight", "encoder.ln.bias"});
  auto d = decoder_layer_names("decoder.layers.0.");
  want.insert(want.end(), d.begin(), d.end());
  want.insert(want.end(), {"decoder.ln.weight", "decoder.ln.bias"});
  EXPECT_EQ(names(t->parameters()), want);
  EXPECT_EQ(
      nn::Transformer({.dims = 8, .num_heads = 2, .num_encoder_layers = 1, .num_decoder_layers = 1, .mlp_dims = 16})
          .repr(),
      kTransformerRepr);
  // MLX's defaults: 512 dims, 6 + 6 layers, MLP of 4 * 512.
  nn::Transformer big;
  auto p = tree_flatten_arrays(big.parameters());
  EXPECT_EQ(p.size(), 6u * 12 + 2 + 6u * 18 + 2);
  EXPECT_EQ(big.child("encoder")->child("ln")->param("weight").shape(), (Shape{512}));
  array w1 = big["decoder"].as_module()["layers"][5].as_module()["linear1"].as_module().param("weight");
  EXPECT_EQ(w1.shape(), (Shape{2048, 512}));
}

TEST(Transformer, MatchesMlx) {
  array src = inp({2, 3, 4}, 0.5), tgt = inp({2, 2, 4}, 1.5);
  array tgt_mask = nn::MultiHeadAttention::create_additive_causal_mask(2);
  for (bool nf : {true, false}) {
    auto t = tiny_transformer(nf);
    fill(*t);
    EXPECT_TRUE(like_mlx(nf ? "transformer_nf1" : "transformer_nf0", (*t)(src, tgt, std::nullopt, tgt_mask)));
    nn::TransformerEncoderLayer enc(4, 2, {.mlp_dims = 8, .activation = nn::gelu, .norm_first = nf});
    fill(enc);
    EXPECT_TRUE(like_mlx(nf ? "enc_layer_gelu_nf1" : "enc_layer_gelu_nf0",
                         enc(src, nn::MultiHeadAttention::create_additive_causal_mask(3))));
  }
}

TEST(Transformer, EncoderLayerMatchesPlainOps) {
  // Pre-norm: h = x + attn(ln1(x)); y = h + linear2(relu(linear1(ln2(h)))), with LayerNorm and
  // attention written here with plain ops (mean/var, and the MHA already checked above).
  nn::TransformerEncoderLayer layer(4, 2, {.mlp_dims = 6});
  fill(layer);
  layer.set_dtype(float64);
  array x = test::random_array({2, 3, 4}, float64, -1.0, 1.0, 70);
  auto ln = [&](const char* key, const array& v) {
    auto m = layer.child(key);
    array mu = mean(v, -1, true);
    array var_ = mean(square(subtract(v, mu)), -1, true);
    array n = divide(subtract(v, mu), sqrt(add(var_, array(1e-5, float64))));
    return add(multiply(n, m->param("weight")), m->param("bias"));
  };
  auto lin = [&](const char* key, const array& v) {
    auto m = layer.child(key);
    return add(matmul(v, transpose(m->param("weight"))), m->param("bias"));
  };
  auto& attn = *layer.child<nn::MultiHeadAttention>("attention");
  array y1 = ln("ln1", x);
  array h = add(x, attn(y1, y1, y1));
  array want = add(h, lin("linear2", maximum(lin("linear1", ln("ln2", h)), array(0.0, float64))));
  EXPECT_TRUE(test::matches(layer(x), {2, 3, 4}, to_vector(want), 1e-10, 1e-10));
  EXPECT_TRUE(test::matches(layer(x, std::nullopt), {2, 3, 4}, to_vector(want), 1e-10, 1e-10));
}

TEST(Transformer, GradientsMatchFiniteDifferences) {
  // Inputs (src, tgt) through the whole model, then every parameter, pre-norm and post-norm.
  for (bool nf : {true, false}) {
    auto t = tiny_transformer(nf, false, 1);
    t->set_dtype(float64);
    array tgt_mask = nn::MultiHeadAttention::create_additive_causal_mask(2, float64);
    GradCase c{"transformer_inputs",
               [t, tgt_mask](const std::vector<array>& in) { return (*t)(in[0], in[1], std::nullopt, tgt_mask); },
               {{1, 3, 4}, {1, 2, 4}}};
    c.rtol = 1e-5;
    c.atol = 1e-7;
    EXPECT_TRUE(test::vjp_matches_finite_differences(c)) << "norm_first=" << nf;
    array src = test::random_array({1, 3, 4}, float64, -1.0, 1.0, 80);
    array tgt = test::random_array({1, 2, 4}, float64, -1.0, 1.0, 81);
    // Every parameter pre-norm; post-norm, one of each kind (to keep the test fast).
    std::vector<std::string> only;
    if (!nf) {
      only = {"encoder.layers.0.attention.query_proj.weight",
              "encoder.layers.0.ln2.weight",
              "encoder.layers.0.linear1.bias",
              "encoder.ln.bias",
              "decoder.layers.0.cross_attention.key_proj.weight",
              "decoder.layers.0.ln3.bias",
              "decoder.layers.0.linear2.weight"};
    }
    EXPECT_TRUE(test::vjp_matches_finite_differences(param_case(
        "transformer_params", t,
        [t, src, tgt, tgt_mask](const std::vector<array>&) { return (*t)(src, tgt, std::nullopt, tgt_mask); }, only)))
        << "norm_first=" << nf;
  }
}

TEST(Transformer, CheckpointGivesTheSameValuesAndGradients) {
  array src = inp({2, 3, 4}, 0.5), tgt = inp({2, 2, 4}, 1.5);
  array tgt_mask = nn::MultiHeadAttention::create_additive_causal_mask(2);
  auto plain = tiny_transformer(true, false);
  auto ckpt = tiny_transformer(true, true);
  fill(*plain);
  fill(*ckpt);
  auto loss = [&](nn::Transformer& t) {
    return [&t, src, tgt, tgt_mask](const array& scale) {
      return sum(multiply((t)(src, tgt, std::nullopt, tgt_mask), scale));
    };
  };
  array scale = inp({2, 2, 4}, 2.5);
  std::vector<uintptr_t> ids;
  for (auto& [path, a] : tree_flatten_arrays(ckpt->parameters())) ids.push_back(a.id());
  auto [v1, g1] = nn::value_and_grad(*plain, loss(*plain))(scale);
  auto [v2, g2] = nn::value_and_grad(*ckpt, loss(*ckpt))(scale);
  EXPECT_NEAR(v1.item<float>(), v2.item<float>(), 1e-5);
  auto f1 = tree_flatten_arrays(g1), f2 = tree_flatten_arrays(g2);
  ASSERT_EQ(f1.size(), f2.size());
  ASSERT_EQ(f1.size(), tree_flatten(plain->parameters()).size());
  for (size_t i = 0; i < f1.size(); ++i) {
    EXPECT_EQ(f1[i].first, f2[i].first);
    EXPECT_TRUE(test::matches(f2[i].second, f1[i].second.shape(), to_vector(f1[i].second), 1e-5, 1e-6)) << f1[i].first;
  }
  // Gradients reach the encoder (through memory) and the checkpointed model is restored.
  EXPECT_GT(max(abs(g2["encoder"]["layers"][0]["linear1"]["weight"].as_array())).item<float>(), 0.0f);
  auto p1 = tree_flatten_arrays(ckpt->parameters());
  ASSERT_EQ(p1.size(), ids.size());
  for (size_t i = 0; i < ids.size(); ++i) EXPECT_EQ(p1[i].second.id(), ids[i]) << p1[i].first;
  // Checkpointed decoder with a bool memory mask runs too.
  array keep = array({true, true, false, true, false, true}, {2, 3});
  array out = (*ckpt)(src, tgt, std::nullopt, tgt_mask, keep);
  EXPECT_TRUE(test::matches(out, {2, 2, 4}, to_vector((*plain)(src, tgt, std::nullopt, tgt_mask, keep)), 1e-6, 1e-6));
}

TEST(Transformer, FreezeThenUnfreezeBiasLeavesOnlyBiasesTrainable) {
  auto t = std::make_shared<nn::Transformer>(nn::TransformerOptions{
      .dims = 8, .num_heads = 2, .num_encoder_layers = 1, .num_decoder_layers = 1, .mlp_dims = 16});
  t->freeze();
  EXPECT_TRUE(tree_flatten(t->trainable_parameters()).empty());
  t->unfreeze({.keys = {"bias"}});
  // MLX's list: the attention projections have no bias (MultiHeadAttention's bias=False).
  std::vector<std::string> want = {"encoder.layers.0.ln1.bias",
                                   "encoder.layers.0.ln2.bias",
                                   "encoder.layers.0.linear1.bias",
                                   "encoder.layers.0.linear2.bias",
                                   "encoder.ln.bias",
                                   "decoder.layers.0.ln1.bias",
                                   "decoder.layers.0.ln2.bias",
                                   "decoder.layers.0.ln3.bias",
                                   "decoder.layers.0.linear1.bias",
                                   "decoder.layers.0.linear2.bias",
                                   "decoder.ln.bias"};
  EXPECT_EQ(names(t->trainable_parameters()), want);
  // A training step changes the biases only.
  array src = inp({2, 3, 8}, 0.1), tgt = inp({2, 2, 8}, 0.2);
  auto before = tree_flatten_arrays(t->parameters());
  auto [loss, g] = nn::value_and_grad(*t, [&](const array& s) { return sum(square((*t)(s, tgt))); })(src);
  EXPECT_EQ(names(g), want);
  t->update(tree_map(
                [](const Tree& p, const std::vector<Tree>& rest) {
                  return Tree(subtract(p.as_array(), multiply(rest[0].as_array(), array(0.1f))));
                },
                t->trainable_parameters(), std::vector<Tree>{g}),
            false);
  auto after = tree_flatten_arrays(t->parameters());
  ASSERT_EQ(before.size(), after.size());
  int changed = 0;
  for (size_t i = 0; i < before.size(); ++i) {
    bool same = to_vector(before[i].second) == to_vector(after[i].second);
    bool is_bias = before[i].first.size() >= 4 && before[i].first.substr(before[i].first.size() - 4) == "bias";
    EXPECT_EQ(same, !is_bias) << before[i].first;
    changed += !same;
  }
  EXPECT_EQ(changed, 11);
}

TEST(Transformer, DropoutOnlyInTrainingAndActivationOption) {
  auto t = std::make_shared<nn::Transformer>(nn::TransformerOptions{
      .dims = 4, .num_heads = 2, .num_encoder_layers = 1, .num_decoder_layers = 1, .dropout = 0.5});
  auto t0 = std::make_shared<nn::Transformer>(
      nn::TransformerOptions{.dims = 4, .num_heads = 2, .num_encoder_layers = 1, .num_decoder_layers = 1});
  fill(*t);
  fill(*t0);
  array src = inp({2, 3, 4}, 0.5), tgt = inp({2, 2, 4}, 1.5);
  auto ref = to_vector((*t0)(src, tgt));
  EXPECT_NE(to_vector((*t)(src, tgt)), ref);  // training: dropout active
  t->eval();
  EXPECT_TRUE(test::matches((*t)(src, tgt), {2, 2, 4}, ref, 1e-6, 1e-6));
  EXPECT_EQ(t->child("encoder")->repr().find("Dropout(p=0.5)") != std::string::npos, true);
  // mlp_dims defaults to 4 dims; the activation option changes the output.
  nn::TransformerEncoderLayer relu_layer(4, 2), silu_layer(4, 2, {.activation = nn::silu});
  EXPECT_EQ(relu_layer.child("linear1")->param("weight").shape(), (Shape{16, 4}));
  fill(relu_layer);
  fill(silu_layer);
  EXPECT_NE(to_vector(relu_layer(src)), to_vector(silu_layer(src)));
}

TEST(Transformer, CustomEncoderAndSwappedModulesAreCalled) {
  // A custom encoder replaces the default one; the Transformer calls it.
  struct Zero : nn::TransformerEncoder {
    Zero() : nn::TransformerEncoder(0, 4, 2) {}
    array operator()(const array& x, const std::optional<array>&) override { return zeros_like(x); }
  };
  auto zero = std::make_shared<Zero>();
  nn::Transformer t(
      {.dims = 4, .num_heads = 2, .num_encoder_layers = 1, .num_decoder_layers = 1, .custom_encoder = zero});
  EXPECT_EQ(t["encoder"].module_ptr(), zero);
  array src = inp({1, 3, 4}, 0.5), tgt = inp({1, 2, 4}, 1.5);
  auto& dec = *t.child<nn::TransformerDecoder>("decoder");
  EXPECT_TRUE(test::matches(t(src, tgt), {1, 2, 4}, to_vector(dec(tgt, zeros({1, 3, 4}), std::nullopt, std::nullopt)),
                            1e-6, 1e-6));
  // update_modules: a layer swapped in is what the encoder calls next.
  nn::TransformerEncoder enc(1, 4, 2);
  array before = enc(src);
  auto other = std::make_shared<nn::TransformerEncoderLayer>(4, 2);
  enc.update_modules(Tree::Dict{{"layers", Tree::List{other}}});
  array after = enc(src);
  EXPECT_NE(to_vector(before), to_vector(after));
  EXPECT_TRUE(test::matches(after, {1, 3, 4}, to_vector(enc.call("ln", (*other)(src))), 1e-6, 1e-6));
}

TEST(Transformer, BadArguments) {
  EXPECT_TRUE(test::throws_op<std::invalid_argument>("MultiHeadAttention", [] { nn::TransformerEncoderLayer(6, 4); }));
  EXPECT_TRUE(
      test::throws_op<std::invalid_argument>("TransformerEncoderLayer", [] { nn::TransformerEncoderLayer(0, 1); }));
  EXPECT_TRUE(test::throws_op<std::invalid_argument>("TransformerDecoderLayer",
                                                     [] { nn::TransformerDecoderLayer(4, 2, {.mlp_dims = -3}); }));
  EXPECT_TRUE(test::throws_op<std::invalid_argument>("TransformerEncoder", [] { nn::TransformerEncoder(-1, 4, 2); }));
  EXPECT_TRUE(test::throws_op<std::invalid_argument>("TransformerDecoder", [] { nn::TransformerDecoder(-2, 4, 2); }));
  EXPECT_TRUE(
      test::throws_op<std::invalid_argument>("Dropout", [] { nn::TransformerEncoderLayer(4, 2, {.dropout = 1.0}); }));
  EXPECT_THROW(nn::Transformer({.dims = 6, .num_heads = 4}), std::invalid_argument);
  nn::TransformerEncoderLayer layer(4, 2);
  EXPECT_TRUE(test::throws_op<std::invalid_argument>("MultiHeadAttention", [&] { layer(zeros({3, 4})); }));
  EXPECT_THROW(layer(zeros({1, 3, 5})), std::invalid_argument);
  nn::TransformerDecoderLayer dec(4, 2);
  EXPECT_THROW(dec(zeros({1, 3, 4}), zeros({1, 2, 5}), std::nullopt, std::nullopt), std::invalid_argument);
  nn::TransformerEncoder enc(1, 4, 2);
  enc.update_modules(Tree::Dict{{"layers", Tree::List{std::make_shared<nn::Linear>(4, 4)}}});
  EXPECT_TRUE(test::throws_op<std::invalid_argument>("TransformerEncoder", [&] { enc(zeros({1, 3, 4})); }));
}
