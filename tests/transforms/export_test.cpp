// export_function / exporter / import_function: imported results equal the original function's
// (an MLP, several outputs, captured constants, named inputs, a compiled function inside, one
// function over every primitive family), shapeless import on new shapes, an exporter with two
// traces, grad and vmap of an imported function, random ops, every primitive's saved parameters
// read back equal, and the errors: missing, damaged, truncated and other-version files, inputs
// matching no trace, primitives that cannot be exported, a failed export keeping the old file.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "mica/export.h"
#include "mica/mica.h"
#include "mica/primitives/all.h"
#include "mica/primitives/registry.h"
#include "mica/primitives/serialize.h"
#include "reference/reference.h"

using namespace mica;
using mica::test::close;
using mica::test::random_array;
using mica::test::to_vector;
namespace fs = std::filesystem;

namespace {

testing::AssertionResult all_close(const std::vector<array>& got, const std::vector<array>& want, double rtol = 1e-6) {
  if (got.size() != want.size()) return testing::AssertionFailure() << got.size() << " outputs, want " << want.size();
  for (size_t i = 0; i < got.size(); ++i) {
    auto r = close(got[i], want[i], rtol);
    if (!r) return testing::AssertionFailure() << "output " << i << ": " << r.message();
  }
  return testing::AssertionSuccess();
}

// The message of the exception `f` throws (of type E), or "" when it throws none.
template <class E, class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  return "";
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}
void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}
// Puts a valid checksum into the trailer of a hand-edited file.
void fix_checksum(std::string& bytes) {
  uint64_t h = detail::export_checksum(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size() - 16);
  std::memcpy(bytes.data() + bytes.size() - 16, &h, 8);
}

struct ExportTest : testing::Test {
  fs::path dir;
  Device saved = default_device();
  void SetUp() override {
    static std::atomic<int> n{0};
    dir = fs::temp_directory_path() / ("mica_export_test_" + std::to_string(getpid()) + "_" + std::to_string(n++));
    fs::create_directories(dir);
    set_default_device(Device::cpu);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir, ec);
    set_default_device(saved);
  }
  std::string path(const std::string& name) const { return (dir / name).string(); }
  size_t files_in_dir() const {
    size_t n = 0;
    for ([[maybe_unused]] auto& e : fs::directory_iterator(dir)) ++n;
    return n;
  }
};

// ---- real functions ----

TEST_F(ExportTest, MlpForwardEqualsTheOriginal) {
  array w1 = random_array({8, 16}, float32, -1, 1, 1), b1 = random_array({16}, float32, -1, 1, 2);
  array w2 = random_array({16, 4}, float32, -1, 1, 3), b2 = random_array({4}, float32, -1, 1, 4);
  auto mlp = [=](const Args& in) {
    array h = maximum(matmul(in[0], w1) + b1, array(0.0f));
    return Args{softmax(matmul(h, w2) + b2, -1)};
  };
  export_function(path("mlp.micafn"), mlp, {random_array({5, 8}, float32)});
  EXPECT_EQ(files_in_dir(), 1u) << "no temporary file is left behind";
  auto f = import_function(path("mlp.micafn"));
  EXPECT_EQ(f.num_traces(), 1);
  EXPECT_FALSE(f.shapeless());
  for (uint32_t seed : {10u, 11u}) {
    array x = random_array({5, 8}, float32, -2, 2, seed);
    EXPECT_TRUE(all_close(f({x}), mlp({x})));
  }
}

TEST_F(ExportTest, SeveralOutputsAndAnInputReturnedAsIs) {
  auto fun = [](const Args& in) {
    return Args{in[0] + in[1], in[0] * in[1], sum(in[0], 0), in[1]};
  };
  Args ex{random_array({3, 4}, float32), random_array({3, 4}, float32)};
  export_function(path("multi.micafn"), fun, ex);
  auto f = import_function(path("multi.micafn"));
  Args x{random_array({3, 4}, float32, -1, 1, 7), random_array({3, 4}, float32, -1, 1, 8)};
  auto got = f(x);
  ASSERT_EQ(got.size(), 4u);
  EXPECT_TRUE(all_close(got, fun(x)));
}

TEST_F(ExportTest, ConstantsAreStoredWithTheirValuesAtExport) {
  array c = random_array({4}, float32, -1, 1, 5);
  array c_at_export = copy(c);
  eval(c_at_export);
  std::function<std::vector<array>(const Args&)> fun = [&c](const Args& in) {
    // exp(c) depends on no input: computed once while exporting, stored as a constant
    return Args{in[0] * exp(c) + c, in[0] - array({1.0f, 2.0f, 3.0f, 4.0f})};
  };
  export_function(path("const.micafn"), fun, {zeros({4})});
  c = ones({4});  // the exported file keeps the value it had
  auto f = import_function(path("const.micafn"));
  array x = random_array({4}, float32, -1, 1, 9);
  auto got = f({x});
  EXPECT_TRUE(close(got[0], x * exp(c_at_export) + c_at_export));
  EXPECT_TRUE(close(got[1], x - array({1.0f, 2.0f, 3.0f, 4.0f})));
  // Several dtypes of constants, including bool and integers.
  array mask = array({true, false, true, false});
  array idx = array({3, 2, 1, 0}, int32);
  auto g = [=](const Args& in) { return Args{where(mask, take(in[0], idx, 0), array(0.5f))}; };
  export_function(path("dtypes.micafn"), g, {zeros({4})});
  EXPECT_TRUE(all_close(import_function(path("dtypes.micafn"))({x}), g({x})));
}

TEST_F(ExportTest, NamedInputs) {
  std::function<std::vector<array>(const Kwargs&)> fun = [](const Kwargs& kw) {
    return Args{kw.at("x") * kw.at("scale") + kw.at("bias")};
  };
  Kwargs ex{{"x", zeros({2, 3})}, {"scale", zeros({3})}, {"bias", zeros({2, 3})}};
  export_function(path("kw.micafn"), fun, ex);
  auto f = import_function(path("kw.micafn"));
  Kwargs in{{"x", random_array({2, 3}, float32, -1, 1, 1)},
            {"scale", random_array({3}, float32, -1, 1, 2)},
            {"bias", random_array({2, 3}, float32, -1, 1, 3)}};
  EXPECT_TRUE(all_close(f(in), fun(in)));
  // A missing or extra name, or positional inputs, match no trace.
  Kwargs fewer{{"x", in.at("x")}, {"scale", in.at("scale")}};
  EXPECT_NE(error_of<std::invalid_argument>([&] { f(fewer); }).find("[import_function] expected inputs matching"),
            std::string::npos);
  EXPECT_NE(error_of<std::invalid_argument>([&] { f({in.at("x"), in.at("scale"), in.at("bias")}); }), "");

  // Positional and named together.
  std::function<std::vector<array>(const Args&, const Kwargs&)> both = [](const Args& a, const Kwargs& kw) {
    return Args{a[0] - kw.at("y"), a[1] * 2.0f};
  };
  export_function(path("both.micafn"), both, {zeros({3}), zeros({2})}, {{"y", zeros({3})}});
  auto g = import_function(path("both.micafn"));
  Args a{random_array({3}, float32, -1, 1, 4), random_array({2}, float32, -1, 1, 5)};
  Kwargs k{{"y", random_array({3}, float32, -1, 1, 6)}};
  EXPECT_TRUE(all_close(g(a, k), both(a, k)));
  // A function of positional inputs only refuses named ones while exporting.
  std::function<std::vector<array>(const Args&)> pos = [](const Args& a) { return a; };
  auto e = exporter(path("pos.micafn"), pos);
  EXPECT_NE(error_of<std::invalid_argument>([&] { e(Args{zeros({1})}, Kwargs{{"z", zeros({1})}}); })
                .find("expected positional inputs only"),
            std::string::npos);
}

TEST_F(ExportTest, ShapelessImportRunsOnNewShapes) {
  array w = random_array({6}, float32, -1, 1, 3);
  auto fun = [=](const Args& in) {
    array h = exp(in[0]) * 2.0f - in[1];
    // mean divides by the size of the shape it runs on (a number_of_elements node).
    // Reductions that drop their axes end in Squeeze nodes; expand_dims is one too.
    return Args{softmax(h, -1) + sum(h, -1, true), fast::layer_norm(in[0], std::nullopt, std::nullopt, 1e-5f),
                mean(in[0], 0, true), mean(in[0], 0), expand_dims(max(h, -1), 0)};
  };
  export_function(path("sl.micafn"), fun, {zeros({2, 3}), zeros({1, 3})}, /*shapeless=*/true);
  auto f = import_function(path("sl.micafn"));
  EXPECT_TRUE(f.shapeless());
  for (auto shape : {Shape{2, 3}, Shape{5, 7}, Shape{1, 1}}) {
    Args x{random_array(shape, float32, -1, 1, 1), random_array({1, shape[1]}, float32, -1, 1, 2)};
    EXPECT_TRUE(all_close(f(x), fun(x))) << shape[0] << "x" << shape[1];
  }
  // Another number of dimensions or dtype matches no trace; shapes that do not broadcast throw.
  EXPECT_NE(error_of<std::invalid_argument>([&] { f({zeros({3}), zeros({1, 3})}); }).find("[import_function] expected"),
            std::string::npos);
  EXPECT_NE(error_of<std::invalid_argument>([&] { f({zeros({2, 3}, float16), zeros({1, 3})}); }), "");
  EXPECT_NE(error_of<std::invalid_argument>([&] { f({zeros({2, 3}), zeros({4, 5})}); }), "");
  // A function whose output shape is a parameter cannot be exported shapeless.
  auto reshaping = [](const Args& in) { return Args{reshape(in[0], {-1})}; };
  EXPECT_NE(error_of<std::invalid_argument>([&] {
              export_function(path("bad.micafn"), reshaping, {zeros({2, 3})}, true);
            }).find("[export_function] expected"),
            std::string::npos);
  EXPECT_FALSE(fs::exists(path("bad.micafn")));
  (void)w;
}

TEST_F(ExportTest, ExporterWritesTwoTraces) {
  array b = random_array({1}, float32, -1, 1, 1);
  std::function<std::vector<array>(const Args&)> fun = [=](const Args& in) {
    return Args{sum(in[0] * in[0], -1) + b};
  };
  {
    auto ex = exporter(path("two.micafn"), fun);
    ex({zeros({2, 3})});
    ex({zeros({4})});
    ex({zeros({4})});  // covered already: adds nothing
    ex.close();
    EXPECT_NE(error_of<std::invalid_argument>([&] { ex({zeros({5})}); }).find("closed"), std::string::npos);
  }
  auto f = import_function(path("two.micafn"));
  EXPECT_EQ(f.num_traces(), 2);
  array x23 = random_array({2, 3}, float32, -1, 1, 2), x4 = random_array({4}, float32, -1, 1, 3);
  EXPECT_TRUE(all_close(f({x23}), fun({x23})));
  EXPECT_TRUE(all_close(f({x4}), fun({x4})));
  std::string msg = error_of<std::invalid_argument>([&] { f({zeros({5})}); });
  EXPECT_NE(msg.find("expected inputs matching a trace"), std::string::npos) << msg;
  EXPECT_NE(msg.find("float32 (2, 3)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("got [float32 (5,)]"), std::string::npos) << msg;
  EXPECT_NE(error_of<std::invalid_argument>([&] { f({zeros({4}, int32)}); }), "");
  EXPECT_NE(error_of<std::invalid_argument>([&] { f({zeros({4}), zeros({4})}); }), "");
}

TEST_F(ExportTest, ImportedFunctionsAreDifferentiableAndVectorizable) {
  array w = random_array({3, 3}, float32, -1, 1, 1);
  std::function<std::vector<array>(const Args&)> fun = [=](const Args& in) {
    return Args{tanh(matmul(in[0], w)) * in[1]};
  };
  export_function(path("g.micafn"), fun, {zeros({2, 3}), zeros({2, 3})});
  auto f = import_function(path("g.micafn"));
  auto loss_of = [](auto g) {
    return [g](const std::vector<array>& in) { return sum(g(in)[0]); };
  };
  Args x{random_array({2, 3}, float32, -1, 1, 2), random_array({2, 3}, float32, -1, 1, 3)};
  auto want = grad(std::function<array(const std::vector<array>&)>(loss_of(fun)), std::vector<int>{0, 1})(x);
  auto got = grad(std::function<array(const std::vector<array>&)>(loss_of(f)), std::vector<int>{0, 1})(x);
  EXPECT_TRUE(all_close(got, want, 1e-5));
  // vmap: the trace takes (2, 3) inputs; mapped over a leading axis of 4.
  Args xb{random_array({4, 2, 3}, float32, -1, 1, 4), random_array({4, 2, 3}, float32, -1, 1, 5)};
  auto vf = vmap([f](const std::vector<array>& in) { return f(in); });
  auto vo = vmap([fun](const std::vector<array>& in) { return fun(in); });
  EXPECT_TRUE(all_close(vf(xb), vo(xb), 1e-6));
  // jvp, and compile of the imported function.
  auto [out1, tan1] = jvp([f](const std::vector<array>& in) { return f(in); }, x, {ones({2, 3}), zeros({2, 3})});
  auto [out2, tan2] = jvp([fun](const std::vector<array>& in) { return fun(in); }, x, {ones({2, 3}), zeros({2, 3})});
  EXPECT_TRUE(all_close(tan1, tan2, 1e-5));
  auto cf = compile([f](const std::vector<array>& in) { return f(in); });
  EXPECT_TRUE(all_close(cf(x), fun(x), 1e-6));
}

TEST_F(ExportTest, CompiledFunctionsAreExportedAsTheirGraph) {
  auto inner = compile([](const std::vector<array>& in) {
    array x = in[0];
    return std::vector<array>{x * (tanh((x + x * x * x * 0.044715f) * 0.7978845608f) + 1.0f) * 0.5f};
  });
  std::function<std::vector<array>(const Args&)> fun = [inner](const Args& in) {
    return Args{inner({in[0] + 1.0f})[0] * 3.0f};
  };
  export_function(path("c.micafn"), fun, {zeros({64, 32})});
  std::string bytes = read_bytes(path("c.micafn"));
  EXPECT_EQ(bytes.find("Compiled"), std::string::npos) << "fused nodes are written as their steps";
  auto f = import_function(path("c.micafn"));
  array x = random_array({64, 32}, float32, -2, 2, 3);
  EXPECT_TRUE(all_close(f({x}), fun({x}), 1e-6));
}

TEST_F(ExportTest, RandomKeysFromTheGlobalSequenceAreCapturedAtExport) {
  std::function<std::vector<array>(const Args&)> fun = [](const Args& in) {
    return Args{in[0] + random::normal({4}, float32, 0.0f, 1.0f)};
  };
  export_function(path("r.micafn"), fun, {zeros({4})});
  auto f = import_function(path("r.micafn"));
  array a = f({zeros({4})})[0], b = f({zeros({4})})[0];
  EXPECT_TRUE(close(a, b, 0)) << "the key is a constant of the file";
  EXPECT_GT(to_vector(abs(a)).at(0) + to_vector(abs(a)).at(1), 0.0);
  // A key passed in: fresh numbers per key, equal to the original function's.
  std::function<std::vector<array>(const Args&)> keyed = [](const Args& in) {
    return Args{random::uniform({3, 2}, float32, in[0]), random::bits({5}, 1, in[0])};
  };
  export_function(path("k.micafn"), keyed, {random::key(0)});
  auto g = import_function(path("k.micafn"));
  for (uint64_t seed : {1u, 2u}) EXPECT_TRUE(all_close(g({random::key(seed)}), keyed({random::key(seed)}), 0));
}

// One function over every primitive family; the file must hold each family's node (none folded
// into a constant) and the imported results equal the original's.
TEST_F(ExportTest, EveryPrimitiveFamilyRoundTrips) {
  array w = random_array({8, 8}, float32, -1, 1, 11);
  array cw = random_array({4, 3, 8}, float32, -1, 1, 12);  // conv1d weight (C_out, K, C_in)
  array qw_f = random_array({16, 64}, float32, -1, 1, 13);
  auto q = quantize(qw_f, 32, 4);
  array ln_w = random_array({8}, float32, 0.5, 1.5, 14), ln_b = random_array({8}, float32, -1, 1, 15);
  nn::RoPE rope(8);
  std::function<std::vector<array>(const Args&)> fun = [=, &rope](const Args& in) mutable {
    array x = in[0];   // (4, 8)
    array key = in[1];  // a random key
    Args out;
    // unary, binary, ternary
    out.push_back(exp(sin(x)) + sqrt(abs(x) + 1.0f) * tanh(x) - sigmoid(x) / (log1p(abs(x)) + 1.0f));
    out.push_back(where(greater(x, array(0.0f)), maximum(x, array(0.3f)), minimum(x, array(-0.3f))));
    out.push_back(astype(floor(x * 4.0f), int32) % 3);
    out.push_back(divmod(x, array(0.7f))[0]);
    // reductions, scans, softmax family
    out.push_back(sum(x, 1) + sum(reshape(max(x, 0), {8, 1})));
    out.push_back(astype(argmax(x, 1), float32) + sum(cumsum(x, 1), 1));
    out.push_back(logsumexp(x, 1) + var(x, 1) + sum(softmax(x, 1), 1));
    // movement
    array t = transpose(x, {1, 0});  // (8, 4)
    array moved = concatenate({slice(t, {0, 0}, {8, 2}), pad(slice(t, {0, 2}, {8, 4}), {{0, 0}, {1, 0}})}, 1);
    out.push_back(slice_update(moved, ones({2, 2}), {1, 1}, {3, 3}));
    out.push_back(broadcast_to(reshape(x, {1, 32}), {2, 32}));
    out.push_back(slice(x, array({1}, int32), {0}, {2, 8}));
    // indexing
    array idx = astype(abs(floor(x * 2.0f)), int32) % 8;
    out.push_back(take_along_axis(x, idx, 1) + sum(take(x, array({3, 0, 2}, int32), 0)));
    out.push_back(put_along_axis(x, idx, x * 2.0f, 1));
    out.push_back(scatter_add(zeros({10}), array({1, 3, 3}, int32), reshape(slice(x, {0, 0}, {3, 1}), {3, 1}), 0));
    // sort
    out.push_back(sort(x, 1) + astype(argsort(x, 0), float32));
    out.push_back(sum(partition(x, 3, 1), 1) + sum(astype(argpartition(x, 2, 1), float32), 1));
    // matmul, addmm, conv
    out.push_back(matmul(x, w) + addmm(x, x, w, 0.5f, 2.0f));
    out.push_back(conv1d(reshape(x, {1, 4, 8}), cw, 1, 1));
    // linalg
    array spd = matmul(transpose(x), x) + eye(8) * 8.0f;
    out.push_back(linalg::inv(spd));
    out.push_back(linalg::cholesky(spd));
    auto [qq, rr] = linalg::qr(x);
    out.push_back(abs(matmul(qq, rr)));
    // fft
    out.push_back(abs(fft::rfft(x, -1)));
    out.push_back(fft::irfft(fft::rfft(x, -1), 8, -1));
    // fused
    out.push_back(fast::layer_norm(x, ln_w, ln_b, 1e-5f) + fast::rms_norm(x, ln_w, 1e-5f) + fast::gelu(x));
    array qkv = reshape(x, {1, 1, 4, 8});
    out.push_back(fast::scaled_dot_product_attention(qkv, qkv * 0.5f, qkv + 1.0f, 0.35f, "causal"));
    out.push_back(rope(reshape(x, {1, 4, 8})));
    // quantized
    out.push_back(quantized_matmul(reshape(concatenate({x, x, x, x, x, x, x, x}, 1), {4, 64}), q[0], q[1], q[2], true,
                                   32, 4));
    // random (key as an input)
    out.push_back(random::normal({4, 8}, float32, 0.0f, 1.0f, key) + x);
    return out;
  };
  Args ex{zeros({4, 8}), random::key(0)};
  export_function(path("all.micafn"), fun, ex);
  std::string bytes = read_bytes(path("all.micafn"));
  for (const char* name : {"Exp", "Sin", "Sqrt", "Sigmoid", "Add", "Select", "Remainder", "DivMod", "Reduce",
                           "ArgReduce", "Scan", "LogSumExp", "Variance", "Softmax", "Transpose", "Concatenate", "Pad",
                           "Slice", "SliceUpdate", "Broadcast", "Reshape", "DynamicSlice", "GatherAxis",
                           "ScatterAxis", "Scatter", "Gather", "Sort", "ArgSort", "Partition", "ArgPartition", "Matmul",
                           "AddMM", "Convolution", "Inverse", "Cholesky", "QRF", "FFT", "LayerNorm", "RMSNorm", "Gelu",
                           "ScaledDotProductAttention", "QuantizedMatmul", "RandomBits", "AsType"}) {
    EXPECT_NE(bytes.find(name), std::string::npos) << name << " is not in the exported graph";
  }
  auto f = import_function(path("all.micafn"));
  Args x{random_array({4, 8}, float32, -2, 2, 21), random::key(5)};
  auto got = f(x);
  auto want = fun(x);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_TRUE(close(got[i], want[i], 1e-5)) << "output " << i;
}

// Files written by format version 1 (tests/io/fixtures, also the fuzz seeds) keep importing.
TEST_F(ExportTest, FixturesOfFormatVersion1Import) {
  const fs::path fixtures = fs::path(__FILE__).parent_path().parent_path() / "io" / "fixtures";
  auto f = import_function((fixtures / "scale_shift.micafn").string());
  auto out = f({array({1.0f, 2.0f, 3.0f})});
  ASSERT_EQ(out.size(), 2u);
  EXPECT_TRUE(close(out[0], array({2.0f, 5.0f, 10.0f})));
  EXPECT_TRUE(close(out[1], array(6.0f)));
  auto g = import_function((fixtures / "norm_two_traces.micafn").string());
  EXPECT_EQ(g.num_traces(), 2);
  EXPECT_TRUE(g.shapeless());
  EXPECT_TRUE(close(g(Kwargs{{"x", zeros({3, 5})}, {"y", zeros({1, 5})}})[0], full({3, 5}, array(0.2f))));
  EXPECT_TRUE(close(g(Kwargs{{"x", zeros({6})}, {"y", ones({6})}})[0], full({6}, array(1.0f / 6))));
}

// A function that takes gradients: the fused backward nodes (LayerNormVjp, RMSNormVjp, the
// attention's backward, cross-entropy's, GELU's derivative) export and import too.
TEST_F(ExportTest, GradientsInsideTheFunctionExport) {
  array lw = random_array({8}, float32, 0.5, 1.5, 1), lb = random_array({8}, float32, -1, 1, 2);
  array sinks = random_array({2}, float32, -1, 1, 3);
  array mask = astype(random_array({1, 1, 4, 4}, float32, -1, 1, 4) > array(-0.5f), bool_);
  auto loss = [=](const std::vector<array>& in) {
    array x = in[0], w = in[1], t = in[2];
    array h = fast::gelu(fast::layer_norm(x, lw, lb, 1e-5f));
    h = fast::rms_norm(matmul(h, w), lw, 1e-5f);  // (8, 8)
    array q = reshape(h, {1, 2, 4, 8});
    array a = fast::scaled_dot_product_attention(q, q * 0.5f, q, 0.3f, "array", mask, sinks);
    return sum(fast::cross_entropy(reshape(a, {8, 8}), t, 0.1f));
  };
  std::function<std::vector<array>(const Args&)> fun = [loss](const Args& in) {
    auto [value, grads] = value_and_grad(std::function<array(const std::vector<array>&)>(loss), {0, 1})(in);
    // and one fused Adam step of w
    auto adam = fast::adam_step(in[1], grads[1], zeros({8, 8}), zeros({8, 8}), array({0.01f, 1.0f, 0.999f}), 0.9,
                                0.999, 1e-8);
    return Args{value, grads[0], grads[1], adam[0], adam[2]};
  };
  Args ex{zeros({8, 8}), zeros({8, 8}), zeros({8}, int32)};
  export_function(path("grads.micafn"), fun, ex);
  std::string bytes = read_bytes(path("grads.micafn"));
  for (const char* name : {"LayerNormVjp", "RMSNormVjp", "ScaledDotProductAttentionVjp", "CrossEntropyVjp", "Gelu",
                           "AdamStep"}) {
    EXPECT_NE(bytes.find(name), std::string::npos) << name << " is not in the exported graph";
  }
  auto f = import_function(path("grads.micafn"));
  Args x{random_array({8, 8}, float32, -1, 1, 5), random_array({8, 8}, float32, -1, 1, 6),
         array({0, 3, 7, 1, 2, 5, 4, 6}, int32)};
  EXPECT_TRUE(all_close(f(x), fun(x), 1e-5));
}

// ---- every primitive's parameters read back equal ----

TEST(ExportParams, EveryRegisteredPrimitiveHasALoaderOrAReason) {
  const auto& unsaved = detail::unsaved_primitives();
  for (const char* name : primitive_names()) {
    bool opted_out = false;
    for (const auto& [n, reason] : unsaved) opted_out |= n == name;
    EXPECT_TRUE(detail::primitive_loader(name).loader || opted_out) << name << " has no loader";
    EXPECT_FALSE(detail::primitive_loader(name).loader && opted_out) << name << " has a loader and an opt-out";
  }
}

TEST(ExportParams, SaveThenLoadGivesAnEquivalentPrimitive) {
  Stream s = default_stream(Device::cpu);
  std::vector<std::shared_ptr<Primitive>> prims = {
      std::make_shared<Arange>(s, 0.5, 7.25, 0.75),
      std::make_shared<Log>(s, Log::ten),
      std::make_shared<Sqrt>(s, true),
      std::make_shared<AsType>(s, bfloat16),
      std::make_shared<Exp>(s),
      std::make_shared<Equal>(s, true),
      std::make_shared<BitwiseBinary>(s, BitwiseBinary::RightShift),
      std::make_shared<DivMod>(s),
      std::make_shared<Reduce>(s, Reduce::Prod, std::vector<int>{0, 2}),
      std::make_shared<ArgReduce>(s, ArgReduce::ArgMax, 1),
      std::make_shared<Scan>(s, Scan::LogAddExp, 2, true, false),
      std::make_shared<Softmax>(s, true),
      std::make_shared<LogSumExp>(s),
      std::make_shared<Variance>(s, 1),
      std::make_shared<NumberOfElements>(s, std::vector<int>{0, 2}, true, float16),
      std::make_shared<CustomKernel>(s, CustomKernel::Spec{"cuda_kernel", "k", "out[0] = a[0];", "", "mica_custom_k",
                                                           {64, 2, 1}, {32, 2, 1}, 256, 1.5f, false, {0, 3},
                                                           {true, 7, 2.5f}}),
      std::make_shared<Reshape>(s, Shape{2, -1, 3}),
      std::make_shared<Transpose>(s, std::vector<int>{2, 0, 1}),
      std::make_shared<Broadcast>(s, Shape{4, 5}),
      std::make_shared<Copy>(s, Copy::if_needed, true),
      std::make_shared<AsStrided>(s, Shape{2, 2}, Strides{3, -1}, size_t{5}),
      std::make_shared<View>(s, uint16),
      std::make_shared<Slice>(s, Shape{0, 5}, Shape{3, 1}, Shape{1, -2}),
      std::make_shared<SliceUpdate>(s, Shape{1}, Shape{4}, Shape{2}),
      std::make_shared<DynamicSlice>(s, std::vector<int>{0, 2}, Shape{1, 2, 3}),
      std::make_shared<DynamicSliceUpdate>(s, std::vector<int>{1}),
      std::make_shared<Concatenate>(s, -1),
      std::make_shared<Pad>(s, std::vector<int>{0, 1}, Shape{1, 2}, Shape{3, 0}, Pad::Reflect),
      std::make_shared<Gather>(s, std::vector<int>{0}, Shape{1, 4}),
      std::make_shared<Scatter>(s, Scatter::Max, std::vector<int>{1}),
      std::make_shared<GatherAxis>(s, 1),
      std::make_shared<ScatterAxis>(s, ScatterAxis::Sum, 0),
      std::make_shared<MaskedScatter>(s),
      std::make_shared<Matmul>(s),
      std::make_shared<AddMM>(s, 0.25f, -3.0f),
      std::make_shared<Convolution>(s, std::vector<int>{2}, std::vector<int>{1}, std::vector<int>{0},
                                    std::vector<int>{3}, std::vector<int>{1}, 2, true),
      std::make_shared<Sort>(s, 1),
      std::make_shared<ArgPartition>(s, 0, 3),
      std::make_shared<RandomBits>(s, Shape{3, 4}, 2),
      std::make_shared<Inverse>(s, "linalg::tri_inv", true, true),
      std::make_shared<Cholesky>(s, "linalg::cholesky", true),
      std::make_shared<SolveTriangular>(s, "linalg::solve_triangular", false, true),
      std::make_shared<LUF>(s, "linalg::lu"),
      std::make_shared<QRF>(s, "linalg::qr"),
      std::make_shared<SVD>(s, "linalg::svd", false),
      std::make_shared<Eig>(s, "linalg::eig", true),
      std::make_shared<Eigh>(s, "linalg::eigh", true, false),
      std::make_shared<FFT>(s, std::vector<int>{0, 2}, true, true, 9),
      std::make_shared<QuantizedMatmul>(s, 32, 8, false),
      std::make_shared<LayerNorm>(s, 1e-3f, true, false),
      std::make_shared<LayerNormVjp>(s, 2e-5f, true),
      std::make_shared<RMSNorm>(s, 3e-6f, false),
      std::make_shared<RMSNormVjp>(s, 4e-6f, true),
      std::make_shared<Gelu>(s, 1),
      std::make_shared<AdamStep>(s, 0.8, 0.95, 1e-7),
      std::make_shared<CrossEntropy>(s, 0.1f),
      std::make_shared<CrossEntropyVjp>(s, 0.2f),
      std::make_shared<ScaledDotProductAttention>(s, 0.125f, true, false, true),
      std::make_shared<ScaledDotProductAttentionVjp>(s, 0.5f, false, true, false),
  };
  for (const auto& p : prims) {
    ParamWriter w;
    p->save(w);
    auto entry = detail::primitive_loader(p->name());
    ASSERT_TRUE(entry.loader) << p->name();
    EXPECT_EQ(entry.type, std::type_index(typeid(*p))) << p->name();
    ParamReader r(reinterpret_cast<const uint8_t*>(w.bytes().data()), w.bytes().size(), p->name());
    auto back = entry.loader(r, s);
    r.finish();
    EXPECT_STREQ(back->name(), p->name());
    EXPECT_TRUE(back->is_equivalent(*p)) << p->name() << " came back with other parameters";
    // Every parameter byte matters: a truncated list throws a clear error, never crashes.
    if (!w.bytes().empty()) {
      ParamReader cut(reinterpret_cast<const uint8_t*>(w.bytes().data()), w.bytes().size() - 1, p->name());
      std::string msg = error_of<std::runtime_error>([&] {
        entry.loader(cut, s);
        cut.finish();
      });
      EXPECT_NE(msg.find("[import_function] expected"), std::string::npos) << p->name() << ": " << msg;
    }
  }
  // Out-of-range enumerators and bools are refused.
  uint8_t bad_enum[] = {9};
  ParamReader r1(bad_enum, 1, "Log");
  EXPECT_NE(error_of<std::runtime_error>([&] { detail::primitive_loader("Log").loader(r1, s); }).find("enumerator"),
            std::string::npos);
  uint8_t bad_bool[] = {2};
  ParamReader r2(bad_bool, 1, "Sqrt");
  EXPECT_NE(error_of<std::runtime_error>([&] { detail::primitive_loader("Sqrt").loader(r2, s); }).find("bool"),
            std::string::npos);
}

// A user's primitive opts in with save and a registered loader.
class ScaleBy : public UnaryPrimitive {
 public:
  ScaleBy(Stream s, float k) : UnaryPrimitive(s), k_(k) {}
  void eval_cpu(const std::vector<array>& in, array& out) override {
    // test-only kernel: a row-contiguous float32 input (the output of an Add here)
    if (!in[0].flags().row_contiguous || in[0].dtype() != float32) throw std::runtime_error("ScaleBy: layout");
    out.set_data(allocator::malloc(out.nbytes()));
    for (size_t i = 0; i < out.size(); ++i) out.data<float>()[i] = in[0].data<float>()[i] * k_;
  }
  void eval_gpu(const std::vector<array>& in, array& out) override { eval_cpu(in, out); }
  const char* name() const override { return "ScaleBy"; }
  void save(ParamWriter& w) const override { w.f32(k_); }
  bool is_equivalent(const Primitive& o) const override {
    auto* p = dynamic_cast<const ScaleBy*>(&o);
    return p && p->k_ == k_;
  }

 private:
  float k_;
};

TEST_F(ExportTest, UserPrimitivesWithASavedFormExport) {
  detail::register_primitive_loader("ScaleBy", typeid(ScaleBy), [](ParamReader& r, Stream s) -> std::shared_ptr<Primitive> {
    return std::make_shared<ScaleBy>(s, r.f32());
  });
  std::function<std::vector<array>(const Args&)> fun = [](const Args& in) {
    array x = in[0] + 1.0f;
    return Args{array(x.shape(), x.dtype(), std::make_shared<ScaleBy>(default_stream(Device::cpu), 2.5f), {x})};
  };
  export_function(path("user.micafn"), fun, {zeros({3})});
  auto f = import_function(path("user.micafn"));
  EXPECT_TRUE(close(f({array({0.0f, 1.0f, -1.0f})})[0], array({2.5f, 5.0f, 0.0f})));
  // Another class cannot take a registered name.
  EXPECT_THROW(detail::register_primitive_loader("ScaleBy", typeid(int),
                                                 [](ParamReader&, Stream s) -> std::shared_ptr<Primitive> {
                                                   return std::make_shared<ScaleBy>(s, 1.0f);
                                                 }),
               std::invalid_argument);
}

// ---- errors ----

TEST_F(ExportTest, MissingDamagedTruncatedAndOtherVersionFiles) {
  EXPECT_NE(error_of<std::runtime_error>([&] { import_function(path("none.micafn")); }).find("[import_function]"),
            std::string::npos);
  std::function<std::vector<array>(const Args&)> fun = [](const Args& in) {
    return Args{in[0] * array({1.0f, 2.0f, 3.0f})};
  };
  export_function(path("f.micafn"), fun, {zeros({3})});
  const std::string good = read_bytes(path("f.micafn"));
  auto refused = [&](std::string bytes, const std::string& part) {
    write_bytes(path("bad.micafn"), bytes);
    std::string msg = error_of<std::runtime_error>([&] { import_function(path("bad.micafn")); });
    EXPECT_NE(msg.find("[import_function] expected"), std::string::npos) << msg;
    EXPECT_NE(msg.find(part), std::string::npos) << msg;
  };
  // A flipped byte anywhere is caught by the checksum.
  for (size_t at : {size_t{40}, good.size() / 2, good.size() - 20}) {
    std::string b = good;
    b[at] ^= 0x5a;
    refused(b, "damaged");
  }
  // Truncated at every length.
  for (size_t n = 0; n < good.size(); n += (n < 64 ? 1 : 7)) refused(good.substr(0, n), "got");
  refused(good.substr(0, good.size() - 1), "truncated");
  // Not a mica function file.
  refused(std::string(good.size(), 'x'), "MICAFUNC");
  // Another version (with a valid checksum).
  std::string v = good;
  v[8] = 2;
  fix_checksum(v);
  refused(v, "got version 2");
  refused(v, "expected format version 1");
  // An unknown primitive (with a valid checksum).
  std::string u = good;
  auto at = u.find("Multiply");
  ASSERT_NE(at, std::string::npos);
  u[at] = 'Q';
  fix_checksum(u);
  refused(u, "got \"Qultiply\"");
  // A node whose primitive reads another number of inputs (Negative takes 1, Multiply had 2).
  std::string arity = good;
  arity.replace(arity.find("Multiply"), 8, "Negative");
  fix_checksum(arity);
  refused(arity, "expected 1 input for Negative in");
  refused(arity, "got 2");
  // Random bytes in the metadata with a valid checksum: refused cleanly, never a crash.
  for (size_t at2 = 32; at2 < 200 && at2 < good.size() - 16; ++at2) {
    for (uint8_t x : {uint8_t{0xff}, uint8_t{0x01}, uint8_t{0x80}}) {
      std::string b = good;
      b[at2] ^= static_cast<char>(x);
      fix_checksum(b);
      write_bytes(path("fuzz.micafn"), b);
      try {
        auto f = import_function(path("fuzz.micafn"));
        (void)f;
      } catch (const std::runtime_error&) {
      } catch (const std::invalid_argument&) {
      }
    }
  }
  // The same bytes through the in-memory entry.
  EXPECT_EQ(detail::import_function_bytes(reinterpret_cast<const uint8_t*>(good.data()), good.size(), "mem").num_traces(),
            1);
}

TEST_F(ExportTest, FunctionsThatCannotBeExported) {
  // custom_function's rules are C++ functions.
  auto custom = custom_vjp([](const std::vector<array>& in) { return std::vector<array>{in[0] * 2.0f}; },
                           [](const std::vector<array>&, const std::vector<array>& ct, const std::vector<array>&) {
                             return ct;
                           });
  std::function<std::vector<array>(const Args&)> f1 = [custom](const Args& in) { return custom(in); };
  std::string msg = error_of<std::invalid_argument>([&] { export_function(path("c.micafn"), f1, {zeros({2})}); });
  EXPECT_NE(msg.find("[export_function] expected primitives that can be exported, got CustomTransforms"),
            std::string::npos)
      << msg;
  // A user's primitive without a saved form.
  struct Mine : UnaryPrimitive {
    using UnaryPrimitive::UnaryPrimitive;
    void eval_cpu(const std::vector<array>& in, array& out) override { out.copy_shared_buffer(in[0]); }
    void eval_gpu(const std::vector<array>& in, array& out) override { eval_cpu(in, out); }
    const char* name() const override { return "MyOwnPrimitive"; }
  };
  std::function<std::vector<array>(const Args&)> f2 = [](const Args& in) {
    return Args{array(in[0].shape(), in[0].dtype(), std::make_shared<Mine>(default_stream(Device::cpu)), {in[0]})};
  };
  msg = error_of<std::invalid_argument>([&] { export_function(path("m.micafn"), f2, {zeros({2})}); });
  EXPECT_NE(msg.find("got MyOwnPrimitive"), std::string::npos) << msg;
  // No outputs.
  std::function<std::vector<array>(const Args&)> f3 = [](const Args&) { return Args{}; };
  EXPECT_NE(error_of<std::invalid_argument>([&] { export_function(path("e.micafn"), f3, {zeros({2})}); }), "");
  // A failed export leaves the earlier file as it was, and no temporary file.
  std::function<std::vector<array>(const Args&)> ok = [](const Args& in) { return Args{in[0] + 1.0f}; };
  export_function(path("keep.micafn"), ok, {zeros({2})});
  const std::string before = read_bytes(path("keep.micafn"));
  EXPECT_NE(error_of<std::invalid_argument>([&] { export_function(path("keep.micafn"), f1, {zeros({2})}); }), "");
  EXPECT_EQ(read_bytes(path("keep.micafn")), before);
  for (auto& e : fs::directory_iterator(dir)) {
    EXPECT_EQ(e.path().string().find(".tmp."), std::string::npos) << e.path();
  }
  EXPECT_TRUE(close(import_function(path("keep.micafn"))({array({1.0f, 2.0f})})[0], array({2.0f, 3.0f})));
}

}  // namespace
