// .gguf: a file written by the gguf package with every metadata type and tensor type, quantized
// tensors against MLX's own loading and gguf's dequantization, round trips, the exact bytes
// written, hand-built v2/v3 files, corrupt files and atomic writes.
#include "io/io_test_util.h"

namespace mica {
namespace {
using namespace iotest;

const array& meta_array(const GGUFLoad& g, const std::string& key) { return std::get<array>(g.second.at(key)); }

TEST(Gguf, FixtureWithEveryTypeLoads) {
  auto g = load_gguf((fixtures() / "gguf" / "all.gguf").string());
  auto& meta = g.second;
  EXPECT_EQ(meta.size(), 19u);
  EXPECT_EQ(std::get<std::string>(meta.at("general.architecture")), "mica");
  EXPECT_EQ(std::get<std::string>(meta.at("m.str")), "hello gguf");
  struct Row {
    const char* key;
    Dtype dtype;
    double value;
  };
  const Row scalars[] = {{"m.u8", uint8, 200},        {"m.i8", int8, -100},           {"m.u16", uint16, 60000},
                         {"m.i16", int16, -30000},    {"m.u32", uint32, 4000000000.0}, {"m.i32", int32, -2000000000.0},
                         {"m.f32", float32, 1.25},    {"m.bool", bool_, 1},           {"m.f64", float64, 0.1}};
  for (auto& r : scalars) {
    auto& a = meta_array(g, r.key);
    EXPECT_EQ(a.dtype(), r.dtype) << r.key;
    EXPECT_EQ(a.ndim(), 0u) << r.key;
    EXPECT_EQ(a.item<double>(), r.value) << r.key;
  }
  EXPECT_EQ(meta_array(g, "m.u64").item<uint64_t>(), (uint64_t{1} << 63) + 5);
  EXPECT_EQ(meta_array(g, "m.i64").item<int64_t>(), -(int64_t{1} << 62));
  EXPECT_TRUE(same(meta_array(g, "m.arr_i32"), array({1, -2, 3}, int32)));
  EXPECT_TRUE(same(meta_array(g, "m.arr_f32"), array({0.5f, -1.5f})));
  EXPECT_TRUE(same(meta_array(g, "m.arr_bool"), array({true, false, true})));
  EXPECT_TRUE(same(meta_array(g, "m.arr_u8"), array({1, 2, 255}, uint8)));
  EXPECT_EQ(std::get<std::vector<std::string>>(meta.at("m.arr_str")), (std::vector<std::string>{"a", "bc", ""}));
  EXPECT_TRUE(std::holds_alternative<std::monostate>(meta.at("m.nested")));

  auto& t = g.first;
  EXPECT_EQ(t.size(), 8u);
  EXPECT_TRUE(same(t.at("t.f32"), fixture_array({3, 4}, float32)));
  EXPECT_TRUE(same(t.at("t.f16"), fixture_array({2, 3}, float16)));
  EXPECT_TRUE(same(t.at("t.f64"), fixture_array({2, 2}, float64)));
  EXPECT_TRUE(same(t.at("t.i8"), fixture_array({3, 2}, int8)));
  EXPECT_TRUE(same(t.at("t.i16"), fixture_array({4}, int16)));
  EXPECT_TRUE(same(t.at("t.i32"), fixture_array({2, 1, 3}, int32)));
  EXPECT_TRUE(same(t.at("t.i64"), fixture_array({3}, int64)));
  EXPECT_TRUE(same(t.at("t.bf16"), fixture_array({2, 4}, bfloat16)));
}

// value = scale * q + bias per group of 32, q packed low bits first into uint32 words.
std::vector<double> dequantize_ref(const array& w, const array& scales, const array& biases, int bits) {
  auto words = test::to_vector(w);
  auto s = test::to_vector(scales), b = test::to_vector(biases);
  size_t per_word = 32 / bits, n = s.size() * 32;
  std::vector<double> out(n);
  for (size_t e = 0; e < n; ++e) {
    auto word = static_cast<uint64_t>(words[e / per_word]);
    double q = static_cast<double>((word >> ((e % per_word) * bits)) & ((1u << bits) - 1));
    out[e] = s[e / 32] * q + b[e / 32];
  }
  return out;
}

TEST(Gguf, QuantizedTensorsLoadAsMlxDoes) {
  auto q = load_gguf((fixtures() / "gguf" / "quant.gguf").string()).first;
  auto want = load_safetensors((fixtures() / "gguf" / "quant_mlx.safetensors").string()).first;
  auto deq = load_npz((fixtures() / "gguf" / "quant_dequantized.npz").string());
  ASSERT_EQ(q.size(), 9u);
  for (auto& [name, a] : want) EXPECT_TRUE(same(q.at(name), a)) << name;
  for (const char* t : {"q.Q4_0", "q.Q4_1", "q.Q8_0"}) {
    std::string n = t;
    int bits = n == "q.Q8_0" ? 8 : 4;
    EXPECT_EQ(q.at(n).dtype(), uint32);
    EXPECT_EQ(q.at(n).shape(), (Shape{3, 64 * bits / 32}));
    EXPECT_EQ(q.at(n + ".scales").shape(), (Shape{3, 2}));
    EXPECT_EQ(q.at(n + ".biases").dtype(), float16);
    auto got = dequantize_ref(q.at(n), q.at(n + ".scales"), q.at(n + ".biases"), bits);
    EXPECT_TRUE(test::all_close(got, test::to_vector(deq.at(n)), 1e-6, 1e-6)) << n;
  }
}

// Q4_0, Q4_1 and Q8_0 weights, as loaded, go straight into quantized_matmul (group size 32):
// x @ W^T equals x times the reference dequantization of the file's blocks.
TEST(Gguf, QuantizedTensorsRunThroughQuantizedMatmul) {
  auto q = load_gguf((fixtures() / "gguf" / "quant.gguf").string()).first;
  auto deq = load_npz((fixtures() / "gguf" / "quant_dequantized.npz").string());
  array x = test::random_array({5, 64}, float32, -1, 1, 9);
  for (const char* t : {"q.Q4_0", "q.Q4_1", "q.Q8_0"}) {
    std::string n = t;
    int bits = n == "q.Q8_0" ? 8 : 4;
    array got = quantized_matmul(x, q.at(n), q.at(n + ".scales"), q.at(n + ".biases"), true, 32, bits);
    array want = matmul(x, transpose(astype(deq.at(n), float32)));
    EXPECT_EQ(got.shape(), (Shape{5, 3})) << n;
    EXPECT_TRUE(test::all_close(test::to_vector(astype(got, float32)), test::to_vector(want), 2e-3, 2e-3)) << n;
  }
}

TEST(Gguf, RoundTripDtypesLayoutsAndMetadata) {
  TempDir dir;
  std::unordered_map<std::string, array> arrays;
  for (auto& [name, a] : layout_cases({float32, float16, bfloat16, float64, int8, int16, int32, int64})) {
    arrays.emplace(name, a);
  }
  std::unordered_map<std::string, GGUFMetaData> meta = {
      {"s", std::string("text")},
      {"empty_s", std::string()},
      {"list", std::vector<std::string>{"x", "", "yz"}},
      {"empty_list", std::vector<std::string>{}},
      {"empty_arr", zeros({0}, int32)},
      {"view_arr", slice(array({1, 2, 3, 4, 5, 6}, int64), {1}, {6}, {2})},
      {"general.alignment", array(64u, uint32)},
  };
  for (Dtype d : {uint8, int8, uint16, int16, uint32, int32, float32, bool_, uint64, int64, float64}) {
    double lo = issubdtype(d, unsignedinteger) ? 1 : -9;
    meta.emplace("scalar_" + dtype_to_string(d), test::random_array({}, d, lo, 9, 5));
    meta.emplace("arr_" + dtype_to_string(d), test::random_array({5}, d, lo, 9, 6));
  }
  save_gguf(dir / "m", arrays, meta);  // ".gguf" is appended
  auto [got, gmeta] = load_gguf(dir / "m.gguf");
  ASSERT_EQ(got.size(), arrays.size());
  for (auto& [name, a] : arrays) EXPECT_TRUE(same(got.at(name), a)) << name;
  ASSERT_EQ(gmeta.size(), meta.size());
  for (auto& [key, v] : meta) {
    if (auto* a = std::get_if<array>(&v)) {
      EXPECT_TRUE(same(std::get<array>(gmeta.at(key)), *a)) << key;
    } else if (auto* str = std::get_if<std::string>(&v)) {
      EXPECT_EQ(std::get<std::string>(gmeta.at(key)), *str) << key;
    } else {
      EXPECT_EQ(std::get<std::vector<std::string>>(gmeta.at(key)), std::get<std::vector<std::string>>(v)) << key;
    }
  }
  // With general.alignment 64 every tensor starts 64-aligned, so all load without a copy.
  size_t active = get_active_memory();
  auto again = load_gguf(dir / "m.gguf");
  EXPECT_LT(get_active_memory(), active + 16384);
}

TEST(Gguf, WritesTheGgufLayout) {
  TempDir dir;
  save_gguf(dir / "x.gguf", {{"a", array({1.0f, 2.0f, 3.0f}, {1, 3})}}, {{"k", std::string("v")}});
  ByteBuilder want;
  want.raw("GGUF").u32(3).u64(1).u64(1);
  want.gstr("k").u32(8).gstr("v");
  want.gstr("a").u32(2).u64(3).u64(1).u32(0).u64(0);  // dims innermost first, F32, offset 0
  want.pad_to(32).f32(1).f32(2).f32(3);
  EXPECT_EQ(read_file(dir / "x.gguf"), want.s);
}

TEST(Gguf, HandBuiltVersion2And3FilesLoad) {
  TempDir dir;
  for (uint32_t version : {2u, 3u}) {
    ByteBuilder b;
    b.raw("GGUF").u32(version).u64(2).u64(2);
    b.gstr("general.alignment").u32(4).u32(16);
    b.gstr("arr").u32(9).u32(3).u64(2).u16(7).u16(0xffff);  // int16 [7, -1]
    b.gstr("x").u32(2).u64(2).u64(2).u32(0).u64(16);        // float32 (2, 2) at 16
    b.gstr("y").u32(1).u64(3).u32(24).u64(0);               // int8 (3,) at 0
    b.pad_to(16);
    b.u8(5).u8(0xfb).u8(6).pad_to(16);
    b.f32(1).f32(2).f32(3).f32(4);
    auto p = dir / ("v" + std::to_string(version) + ".gguf");
    write_file(p, b.s);
    auto [t, meta] = load_gguf(p);
    EXPECT_TRUE(same(t.at("x"), array({1.0f, 2.0f, 3.0f, 4.0f}, {2, 2})));
    EXPECT_TRUE(same(t.at("y"), array({5, -5, 6}, int8)));
    EXPECT_TRUE(same(std::get<array>(meta.at("arr")), array({7, -1}, int16)));
    EXPECT_EQ(std::get<array>(meta.at("general.alignment")).item<uint32_t>(), 16u);
  }
}

TEST(Gguf, BadArgumentsToSave) {
  TempDir dir;
  auto p = dir / "x.gguf";
  for (Dtype d : {uint8, uint32, bool_, complex64}) {
    EXPECT_TRUE(test::throws_op<std::invalid_argument>("save_gguf", [&] { save_gguf(p, {{"a", zeros({2}, d)}}); }))
        << d;
  }
  auto bad_meta = [&](GGUFMetaData v) {
    return test::throws_op<std::invalid_argument>("save_gguf", [&] { save_gguf(p, {}, {{"k", v}}); });
  };
  EXPECT_TRUE(bad_meta(zeros({2}, float16)));
  EXPECT_TRUE(bad_meta(zeros({2, 2}, int32)));
  EXPECT_TRUE(bad_meta(std::monostate{}));
  EXPECT_TRUE(test::throws_op<std::invalid_argument>(
      "save_gguf", [&] { save_gguf(p, {}, {{"general.alignment", array(48u, uint32)}}); }));
  EXPECT_TRUE(test::throws_op<std::invalid_argument>(
      "save_gguf", [&] { save_gguf(p, {}, {{"general.alignment", std::string("32")}}); }));
  EXPECT_TRUE(dir.files().empty());
}

// Dtypes GGUF has no tensor type for (MLX refuses these too; mica also writes bfloat16, float64
// and int64, which MLX refuses) fail before anything is evaluated or written, name the dtype and
// the array, and leave an existing file as it was.
TEST(Gguf, RefusedDtypesLeaveNoFileAndKeepAnOldOne) {
  TempDir dir;
  auto fresh = dir / "fresh.gguf";
  auto keep = dir / "keep.gguf";
  save_gguf(keep, {{"x", array({1.5f, -2.0f})}});
  std::string before = read_file(keep);
  for (Dtype d : {bool_, uint8, uint16, uint32, uint64, complex64}) {
    for (const auto& p : {fresh, keep}) {
      try {
        save_gguf(p, {{"ok", array({1, 2}, int32)}, {"bad", zeros({3}, d)}});
        ADD_FAILURE() << d << ": no error";
      } catch (const std::invalid_argument& e) {
        std::string msg = e.what();
        EXPECT_EQ(msg.rfind("[save_gguf] expected ", 0), 0u) << msg;
        EXPECT_NE(msg.find("got " + dtype_to_string(d) + " for 'bad'"), std::string::npos) << msg;
      }
    }
  }
  EXPECT_EQ(dir.files(), std::vector<std::string>{"keep.gguf"});
  EXPECT_EQ(read_file(keep), before);
  auto g = load_gguf(keep);
  EXPECT_TRUE(same(g.first.at("x"), array({1.5f, -2.0f})));
  // The dtypes mica writes round-trip.
  for (Dtype d : {float32, float16, bfloat16, float64, int8, int16, int32, int64}) {
    save_gguf(fresh, {{"t", astype(array({1.0f, -2.0f, 3.0f}), d)}});
    auto r = load_gguf(fresh).first.at("t");
    EXPECT_EQ(r.dtype(), d);
    EXPECT_TRUE(test::matches(r, {3}, {1, -2, 3})) << d;
  }
}

// A valid little file to corrupt: header, one kv, one tensor.
ByteBuilder gguf_prefix(uint64_t n_tensors, uint64_t n_kv) {
  ByteBuilder b;
  b.raw("GGUF").u32(3).u64(n_tensors).u64(n_kv);
  return b;
}

TEST(Gguf, CorruptFilesThrowClearErrors) {
  TempDir dir;
  auto p = dir / "bad.gguf";
  auto check = [&](const std::string& bytes, const std::string& needle) {
    write_file(p, bytes);
    EXPECT_TRUE(fails_with([&] { load_gguf(p); }, "load_gguf", p, needle)) << needle;
  };
  std::string data32(32, '\0');
  check("", "truncated");
  check("GGUX" + ByteBuilder().u32(3).u64(0).u64(0).s, "magic");
  check(ByteBuilder().raw("GGUF").u32(0x03000000u).u64(0).u64(0).s, "big-endian");
  check(ByteBuilder().raw("GGUF").u32(1).u64(0).u64(0).s, "version 2 or 3, got 1");
  check(ByteBuilder().raw("GGUF").u32(4).u64(0).u64(0).s, "version 2 or 3, got 4");
  check(gguf_prefix(0, 1ull << 60).s, "metadata count");
  check(gguf_prefix(1ull << 60, 0).s + data32, "tensor count");
  check(gguf_prefix(0, 1).u64(1ull << 40).raw("k").s + data32, "truncated");
  check(gguf_prefix(0, 1).gstr("k").u32(13).s + data32, "unknown value type 13");
  check(gguf_prefix(0, 1).gstr("k").u32(9).u32(99).u64(1).s + data32, "unknown array element type 99");
  check(gguf_prefix(0, 1).gstr("k").u32(9).u32(4).u64(1ull << 61).s + data32, "runs past the end");
  check(gguf_prefix(0, 1).gstr("k").u32(9).u32(8).u64(1ull << 40).s + data32, "longer than the file");
  check(gguf_prefix(0, 1).gstr("k").u32(8).u64(100).raw("abc").s, "truncated");
  {
    ByteBuilder b = gguf_prefix(0, 1).gstr("k").u32(9);
    for (int i = 0; i < 20; ++i) b.u32(9).u64(1);
    check(b.u32(4).u64(0).s, "nested too deeply");
  }
  check(gguf_prefix(0, 2).gstr("k").u32(4).u32(1).gstr("k").u32(4).u32(2).s, "'k' appears twice");
  check(gguf_prefix(0, 1).gstr("general.alignment").u32(5).u32(32).s, "general.alignment to be a uint32");
  check(gguf_prefix(0, 1).gstr("general.alignment").u32(4).u32(24).s, "power of two");
  check(gguf_prefix(0, 1).gstr("general.alignment").u32(4).u32(0).s, "power of two");
  auto tensor = [&](uint32_t nd, std::vector<uint64_t> ne, uint32_t type, uint64_t offset) {
    ByteBuilder b = gguf_prefix(1, 0).gstr("t").u32(nd);
    for (auto d : ne) b.u64(d);
    b.u32(type).u64(offset);
    b.pad_to(32);
    return b;
  };
  check(tensor(70, std::vector<uint64_t>(70, 1), 0, 0).s + data32, "dimensions");
  check(tensor(1, {1ull << 32}, 0, 0).s + data32, "int32");
  check(tensor(4, {1u << 30, 1u << 30, 1u << 30, 1u << 30}, 0, 0).s + data32, "overflows");
  check(tensor(1, {4}, 6, 0).s + data32, "unsupported tensor type Q5_0 (6)");
  check(tensor(1, {4}, 12345, 0).s + data32, "unsupported tensor type 12345");
  check(tensor(1, {48}, 2, 0).s + data32, "multiple of 32");
  check(tensor(1, {4}, 0, 20).s + data32, "run past the data section");
  check(tensor(1, {4}, 0, ~0ull).s + data32, "run past the data section");
  check(tensor(2, {100000, 100000}, 0, 0).s + data32, "run past the data section");
  check(tensor(1, {32}, 2, 0).s + std::string(17, '\0'), "run past the data section");
  {
    ByteBuilder b = gguf_prefix(2, 0);
    b.gstr("a").u32(1).u64(4).u32(0).u64(0);
    b.gstr("b").u32(1).u64(4).u32(0).u64(8);
    check(b.pad_to(32).s + data32, "tensors 'a' and 'b' overlap");
  }
  {
    ByteBuilder b = gguf_prefix(2, 0);
    b.gstr("a").u32(1).u64(1).u32(0).u64(0);
    b.gstr("a").u32(1).u64(1).u32(0).u64(4);
    check(b.pad_to(32).s + data32, "tensor 'a' appears twice");
  }
  {
    ByteBuilder b = gguf_prefix(2, 0);
    b.gstr("q").u32(1).u64(32).u32(8).u64(0);
    b.gstr("q.scales").u32(1).u64(1).u32(0).u64(64);
    check(b.pad_to(32).s + std::string(96, '\0'), "tensor 'q.scales' appears twice");
  }
  // The files end with padding to the 32-byte alignment, which a prefix may drop and still be
  // valid; every prefix shorter than that cuts into the last tensor.
  for (const char* f : {"all.gguf", "quant.gguf"}) {
    std::string bytes = read_file((fixtures() / "gguf" / f).string());
    expect_truncations_fail(bytes, p, "load_gguf", [](const std::string& x) { load_gguf(x); }, bytes.size() - 32);
  }
}

TEST(Gguf, FailedSavesLeaveTheOldFileAndNoTemp) {
  TempDir dir;
  auto p = dir / "keep.gguf";
  save_gguf(p, {{"x", array({1, 2})}});
  std::string before = read_file(p);
  with_tiny_memory_limit([&] {
    EXPECT_THROW(save_gguf(p, {{"x", array({1})}, {"y", failing_array()}}), std::runtime_error);
  });
  with_file_size_limit(4096, [&] {
    EXPECT_TRUE(fails_with([&] { save_gguf(p, {{"x", zeros({100000}, float32)}}); }, "save_gguf", p, "cannot write"));
  });
  EXPECT_EQ(read_file(p), before);
  EXPECT_EQ(dir.files(), std::vector<std::string>{"keep.gguf"});
}

}  // namespace
}  // namespace mica
