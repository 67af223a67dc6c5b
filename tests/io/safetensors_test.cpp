// .safetensors: files written by the safetensors package and MLX, round trips over dtypes and
// layouts with metadata, the exact bytes written, hand-built files (F8 dtypes, unaligned data),
// corrupt headers, atomic writes and zero-copy loading.
#include "io/io_test_util.h"

namespace mica {
namespace {
using namespace iotest;

TEST(Safetensors, FixturesWrittenByTheReferenceAndMlxLoad) {
  auto [arrays, meta] = load_safetensors((fixtures() / "safetensors" / "numpy.safetensors").string());
  const std::pair<const char*, Dtype> rows[] = {
      {"t_bool", bool_},   {"t_uint8", uint8},   {"t_int8", int8},   {"t_uint16", uint16},
      {"t_int16", int16},  {"t_uint32", uint32}, {"t_int32", int32}, {"t_uint64", uint64},
      {"t_int64", int64},  {"t_float16", float16}, {"t_float32", float32}, {"t_float64", float64}};
  for (auto& [name, d] : rows) EXPECT_TRUE(same(arrays.at(name), fixture_array({2, 3}, d))) << name;
  EXPECT_TRUE(same(arrays.at("scalar"), fixture_array({}, float32)));
  EXPECT_TRUE(same(arrays.at("empty"), fixture_array({0, 4}, float32)));
  EXPECT_EQ(arrays.size(), 14u);
  EXPECT_EQ(meta, (std::unordered_map<std::string, std::string>{{"format", "np"}, {"note", "fixture"}}));

  auto [m, mmeta] = load_safetensors((fixtures() / "safetensors" / "mlx.safetensors").string());
  EXPECT_TRUE(same(m.at("bf16"), fixture_array({2, 3}, bfloat16)));
  EXPECT_TRUE(same(m.at("c64"), fixture_array({3}, complex64)));
  EXPECT_TRUE(same(m.at("f32"), fixture_array({4, 2}, float32)));
  EXPECT_TRUE(same(m.at("b"), fixture_array({3}, bool_)));
  EXPECT_EQ(mmeta.at("framework"), "mlx");
}

TEST(Safetensors, RoundTripEveryDtypeLayoutAndMetadata) {
  TempDir dir;
  std::unordered_map<std::string, array> arrays;
  for (auto& [name, a] : layout_cases({all_dtypes, all_dtypes + Dtype::num_types})) arrays.emplace(name, a);
  std::unordered_map<std::string, std::string> meta = {{"format", "mlx"}, {"unicode", "\xc3\xa9t\xc3\xa9"}, {"empty", ""}};
  save_safetensors(dir / "m", arrays, meta);  // ".safetensors" is appended
  auto [got, gmeta] = load_safetensors(dir / "m.safetensors");
  ASSERT_EQ(got.size(), arrays.size());
  for (auto& [name, a] : arrays) EXPECT_TRUE(same(got.at(name), a)) << name;
  EXPECT_EQ(gmeta, meta);
  // Written widest dtype first from an 8-aligned start: every tensor loads without a copy.
  size_t active = get_active_memory();
  auto again = load_safetensors(dir / "m.safetensors").first;
  EXPECT_LT(get_active_memory(), active + 4096);
  // No arrays at all.
  save_safetensors(dir / "none.safetensors", {});
  EXPECT_TRUE(load_safetensors(dir / "none.safetensors").first.empty());
}

TEST(Safetensors, WritesTheReferenceLayout) {
  TempDir dir;
  save_safetensors(dir / "x.safetensors", {{"b", array({3, -4}, int8)}, {"a", array({1.0f, 2.0f})}},
                   {{"k", "v"}});
  std::string got = read_file(dir / "x.safetensors");
  std::string header =
      R"({"__metadata__":{"k":"v"},"a":{"data_offsets":[0,8],"dtype":"F32","shape":[2]},)"
      R"("b":{"data_offsets":[8,10],"dtype":"I8","shape":[2]}})";
  header.append((8 - header.size() % 8) % 8, ' ');
  ByteBuilder want;
  want.u64(header.size()).raw(header).f32(1.0f).f32(2.0f).u8(3).u8(0xfc);
  EXPECT_EQ(got, want.s);
}

std::string safetensors_file(const std::string& header, const std::string& data) {
  ByteBuilder b;
  b.u64(header.size()).raw(header).raw(data);
  return b.s;
}

TEST(Safetensors, HandBuiltFilesLoad) {
  TempDir dir;
  auto p = dir / "h.safetensors";
  // F8 dtypes load as their bytes (uint8), as MLX; "x" sits at an odd offset and is copied.
  ByteBuilder data;
  data.u8(0x38).u8(0x7f).u8(9).f32(1.5f).f32(-2.25f);
  // MLX writes "__metadata__": null when there is none.
  write_file(p, safetensors_file(R"({"__metadata__":null,"e4":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]},)"
                                 R"("e8":{"dtype":"F8_E8M0","shape":[],"data_offsets":[2,3]},)"
                                 R"("x":{"dtype":"F32","shape":[1,2],"data_offsets":[3,11],"extra":1}})",
                                 data.s));
  auto [a, meta] = load_safetensors(p);
  EXPECT_TRUE(same(a.at("e4"), array({0x38, 0x7f}, uint8)));
  EXPECT_TRUE(same(a.at("e8"), array(9, uint8)));
  EXPECT_TRUE(same(a.at("x"), array({1.5f, -2.25f}, {1, 2})));
  EXPECT_TRUE(meta.empty());
}

TEST(Safetensors, CorruptFilesThrowClearErrors) {
  TempDir dir;
  auto p = dir / "bad.safetensors";
  auto check = [&](const std::string& bytes, const std::string& needle) {
    write_file(p, bytes);
    EXPECT_TRUE(fails_with([&] { load_safetensors(p); }, "load_safetensors", p, needle)) << needle;
  };
  auto tensor = [](const std::string& dtype, const std::string& shape, const std::string& offsets) {
    return R"({"t":{"dtype":")" + dtype + R"(","shape":)" + shape + R"(,"data_offsets":)" + offsets + "}}";
  };
  const std::string d16(16, '\1');
  check("", "at least 8 bytes");
  check(std::string("\x10\0\0\0", 4), "at least 8 bytes");
  check(ByteBuilder().u64(1000).raw("{}").s, "runs past the end");
  check(ByteBuilder().u64(~0ull).raw("{}").s, "runs past the end");
  check(safetensors_file("{\"t\": [", d16), "not valid JSON");
  check(safetensors_file("{} trailing", d16), "not valid JSON");
  check(safetensors_file("[1, 2]", d16), "expected a JSON object");
  check(safetensors_file(R"({"t": 5})", d16), "expected an object");
  check(safetensors_file(R"({"t": {"dtype": "F32", "shape": [4]}})", d16), "expected dtype, shape and data_offsets");
  check(safetensors_file(tensor("F8_E5M2", "[4]", "[0,4]"), d16), "unsupported dtype F8_E5M2");
  check(safetensors_file(tensor("Q4", "[4]", "[0,4]"), d16), "unsupported dtype Q4");
  check(safetensors_file(R"({"t":{"dtype":5,"shape":[4],"data_offsets":[0,16]}})", d16), "expected a string dtype");
  check(safetensors_file(tensor("F32", "4", "[0,16]"), d16), "expected a list as shape");
  check(safetensors_file(tensor("F32", "[-4]", "[0,16]"), d16), "non-negative integer");
  check(safetensors_file(tensor("F32", "[4.0]", "[0,16]"), d16), "non-negative integer");
  check(safetensors_file(tensor("F32", "[[4]]", "[0,16]"), d16), "nests deeper");
  check(safetensors_file(tensor("F32", "[4294967296]", "[0,16]"), d16), "int32");
  check(safetensors_file(tensor("F64", "[2147483647,2147483647,2147483647,8]", "[0,16]"), d16), "overflows");
  std::string many = "[1";
  for (int i = 0; i < 69; ++i) many += ",1";
  check(safetensors_file(tensor("F32", many + "]", "[0,4]"), d16), "dimensions");
  check(safetensors_file(tensor("F32", "[4]", "[0]"), d16), "expected data_offsets [begin, end]");
  check(safetensors_file(tensor("F32", "[4]", "[8,0]"), d16), "outside the data section");
  check(safetensors_file(tensor("F32", "[4]", "[0,20]"), d16), "outside the data section");
  check(safetensors_file(tensor("F32", "[4]", "[0,18446744073709551615]"), d16), "outside the data section");
  check(safetensors_file(tensor("F32", "[3]", "[0,16]"), d16), "expected 12 bytes for its shape and dtype, got 16");
  check(safetensors_file(tensor("F32", "[100000,100000]", "[0,16]"), d16), "expected 40000000000 bytes");
  check(safetensors_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                         R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                         d16),
        "tensors 'a' and 'b' overlap");
  check(safetensors_file(R"({"__metadata__":{"k":1}})", d16), "metadata 'k': expected a string");
  check(safetensors_file(R"({"__metadata__":[]})", d16), "__metadata__");
  check(safetensors_file(R"({"t":{"dtype":"F32","shape":[[[[[1]]]]],"data_offsets":[0,4]}})", d16), "nests deeper");
  check(safetensors_file(std::string(100000, '[') + std::string(100000, ']'), d16), "nests deeper");
  check(safetensors_file("{\"\xff\":1}", d16), "not valid JSON");

  TempDir src;
  save_safetensors(src / "v.safetensors", {{"a", fixture_array({3, 5}, float32)}, {"b", fixture_array({7}, int16)}},
                   {{"k", "v"}});
  expect_truncations_fail(read_file(src / "v.safetensors"), p, "load_safetensors",
                          [](const std::string& f) { load_safetensors(f); });
}

TEST(Safetensors, BadArgumentsToSave) {
  TempDir dir;
  EXPECT_TRUE(test::throws_op<std::invalid_argument>(
      "save_safetensors", [&] { save_safetensors(dir / "x", {{"__metadata__", array({1})}}); }));
  EXPECT_TRUE(test::throws_op<std::invalid_argument>(
      "save_safetensors", [&] { save_safetensors(dir / "x", {{"bad\xff", array({1})}}); }));
  EXPECT_TRUE(test::throws_op<std::invalid_argument>(
      "save_safetensors", [&] { save_safetensors(dir / "x", {{"a", array({1})}}, {{"k", "\xc3"}}); }));
  EXPECT_TRUE(dir.files().empty());
}

TEST(Safetensors, FailedSavesLeaveTheOldFileAndNoTemp) {
  TempDir dir;
  auto p = dir / "keep.safetensors";
  save_safetensors(p, {{"x", array({1, 2})}});
  std::string before = read_file(p);
  with_tiny_memory_limit([&] {
    EXPECT_THROW(save_safetensors(p, {{"x", array({1})}, {"y", failing_array()}}), std::runtime_error);
  });
  with_file_size_limit(4096, [&] {
    EXPECT_TRUE(fails_with([&] { save_safetensors(p, {{"x", zeros({100000}, float32)}}); }, "save_safetensors", p,
                           "cannot write"));
  });
  EXPECT_EQ(read_file(p), before);
  EXPECT_EQ(dir.files(), std::vector<std::string>{"keep.safetensors"});
}

TEST(Safetensors, LoadingSharesTheFile) {
  TempDir dir;
  auto p = dir / "big.safetensors";
  save_safetensors(p, {{"w", test::random_array({1024, 1024}, float32, -1, 1, 2)},
                       {"b", test::random_array({1024, 512}, bfloat16, -1, 1, 3)}});
  size_t active = get_active_memory();
  auto [a, meta] = load_safetensors(p);
  EXPECT_LT(get_active_memory(), active + (1 << 20));  // 5 MiB loaded, nothing allocated for it
  EXPECT_TRUE(same(a.at("w"), test::random_array({1024, 1024}, float32, -1, 1, 2)));
  std::string before = read_file(p);
  array y = negative(std::move(a.at("w")));
  a.erase("w");
  y.eval();
  EXPECT_EQ(read_file(p), before);
}

}  // namespace
}  // namespace mica
