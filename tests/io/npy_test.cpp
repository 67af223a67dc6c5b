// .npy: NumPy/MLX fixtures, round trips over dtypes and layouts, the exact bytes written,
// corrupt files, atomic writes and zero-copy loading.
#include <sys/stat.h>

#include "io/io_test_util.h"

namespace mica {
namespace {
using namespace iotest;

struct NpyFixture {
  const char* file;
  Dtype dtype;
  Shape shape;
};

TEST(Npy, FixturesWrittenByNumpyAndMlxLoad) {
  const NpyFixture rows[] = {
      {"f32", float32, {3, 4}},      {"f16", float16, {7}},         {"f64_be", float64, {2, 3}},
      {"c8", complex64, {4}},        {"c8_be", complex64, {2, 2}},  {"u16_be", uint16, {5}},
      {"i32_be", int32, {2, 3}},     {"b1", bool_, {2, 3}},         {"u8", uint8, {7}},
      {"i8", int8, {7}},             {"u32", uint32, {7}},          {"u64", uint64, {7}},
      {"i64", int64, {7}},           {"i16", int16, {7}},           {"scalar", float32, {}},
      {"empty", float32, {0, 3}},    {"f64_fortran", float64, {3, 4, 2}}, {"i16_fortran", int16, {2, 5}},
      {"v2", float32, {2, 2}},       {"v3", float32, {2, 2}},       {"bf16_mlx", bfloat16, {2, 3}},
  };
  for (auto& row : rows) {
    auto p = (fixtures() / "npy" / (std::string(row.file) + ".npy")).string();
    array a = load(p);
    EXPECT_EQ(a.dtype(), row.dtype) << row.file;
    EXPECT_EQ(a.shape(), row.shape) << row.file;
    EXPECT_TRUE(same(a, fixture_array(row.shape, row.dtype))) << row.file;
  }
}

TEST(Npy, RoundTripEveryDtypeAndLayout) {
  TempDir dir;
  for (auto& [name, a] : layout_cases({all_dtypes, all_dtypes + Dtype::num_types})) {
    auto p = dir / (name + ".npy");
    save(p, a);
    array b = load(p);
    EXPECT_TRUE(same(b, a)) << name;
  }
}

TEST(Npy, WritesNumpyHeaderBytes) {
  TempDir dir;
  save(dir / "a", array({1.0f, -2.0f}));  // ".npy" is appended
  std::string got = read_file(dir / "a.npy");
  std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
  std::string want = std::string("\x93NUMPY\x01\x00", 8) + std::string("\x76\x00", 2) + dict +
                     std::string(128 - 10 - dict.size() - 1, ' ') + "\n";
  want += std::string("\x00\x00\x80\x3f\x00\x00\x00\xc0", 8);  // 1.0f, -2.0f little-endian
  EXPECT_EQ(got, want);

  // Shapes as Python writes tuples; every header is padded to a multiple of 64 bytes.
  const std::pair<Shape, std::string> shapes[] = {{{}, "()"}, {{2, 3}, "(2, 3)"}, {{0, 5, 1}, "(0, 5, 1)"}};
  for (auto& [shape, text] : shapes) {
    save(dir / "s.npy", zeros(shape, int16));
    std::string bytes = read_file(dir / "s.npy");
    size_t hlen = static_cast<uint8_t>(bytes[8]) | (static_cast<uint8_t>(bytes[9]) << 8);
    EXPECT_EQ((10 + hlen) % 64, 0u) << text;
    EXPECT_NE(bytes.find("'shape': " + text + ", }"), std::string::npos) << text;
    EXPECT_EQ(bytes[10 + hlen - 1], '\n');
  }
  // Every descr code mica writes (bfloat16 as '<V2', as MLX does).
  const std::pair<Dtype, const char*> descrs[] = {
      {bool_, "|b1"}, {uint8, "|u1"}, {uint16, "<u2"}, {uint32, "<u4"}, {uint64, "<u8"},
      {int8, "|i1"}, {int16, "<i2"}, {int32, "<i4"}, {int64, "<i8"}, {float16, "<f2"},
      {float32, "<f4"}, {float64, "<f8"}, {bfloat16, "<V2"}, {complex64, "<c8"}};
  for (auto& [d, code] : descrs) {
    save(dir / "d.npy", zeros({1}, d));
    EXPECT_NE(read_file(dir / "d.npy").find(std::string("'descr': '") + code + "'"), std::string::npos) << d;
  }
}

TEST(Npy, LoadsHandWrittenFortranBigEndianFile) {
  TempDir dir;
  std::string dict = "{'shape': (2, 3), 'fortran_order': True, 'descr': '>i2'}";
  ByteBuilder b;
  b.raw(std::string("\x93NUMPY\x01\x00", 8)).u16(dict.size() + 1).raw(dict + "\n");
  // Column-major: memory order a00 a10 a01 a11 a02 a12, each big-endian.
  for (int v : {1, 4, 2, 5, 3, -6}) b.u8((v >> 8) & 0xff).u8(v & 0xff);
  write_file(dir / "f.npy", b.s);
  array a = load(dir / "f.npy");
  EXPECT_TRUE(same(a, array({1, 2, 3, 4, 5, -6}, {2, 3}, int16)));
}

TEST(Npy, NormalizesBoolBytes) {
  TempDir dir;
  std::string dict = "{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }";
  write_file(dir / "b.npy", std::string("\x93NUMPY\x01\x00", 8) + static_cast<char>(dict.size() + 1) + '\0' + dict +
                                "\n" + std::string("\x00\x07\x01", 3));
  array a = load(dir / "b.npy");
  EXPECT_EQ(a.data<uint8_t>()[1], 1);
  EXPECT_TRUE(same(a, array({false, true, true})));
}

std::string npy_with(const std::string& dict, const std::string& data) {
  return std::string("\x93NUMPY\x01\x00", 8) + static_cast<char>((dict.size() + 1) & 0xff) +
         static_cast<char>((dict.size() + 1) >> 8) + dict + "\n" + data;
}

TEST(Npy, CorruptFilesThrowClearErrors) {
  TempDir dir;
  auto p = dir / "bad.npy";
  auto check = [&](const std::string& bytes, const std::string& needle) {
    write_file(p, bytes);
    EXPECT_TRUE(fails_with([&] { load(p); }, "load", p, needle)) << needle;
  };
  const std::string ok = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
  const std::string data8(8, '\1');
  check("", "truncated");
  check("\x93NU", "truncated");
  check(std::string("\x93NUMPX\x01\x00\x10\x00", 10) + std::string(16, ' '), "magic");
  check(std::string("\x93NUMPY\x04\x00\x10\x00", 10), "version");
  check(std::string("\x93NUMPY\x01\x00\xff\xff", 10) + ok, "truncated");
  check(std::string("\x93NUMPY\x02\x00\xff\xff\xff\x7f", 12) + ok, "truncated");
  check(npy_with(ok, data8.substr(0, 5)), "expected 8 bytes of data");
  check(npy_with(ok, data8 + "x"), "expected 8 bytes of data");
  check(npy_with("[1, 2]", data8), "malformed header");
  check(npy_with("{'descr': '<f4', 'fortran_order': False}", data8), "expected 'descr', 'fortran_order' and 'shape'");
  check(npy_with("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}", data8), "unexpected key");
  check(npy_with("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}", data8), "twice");
  check(npy_with("{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2,)}", data8), "True or False");
  check(npy_with("{'descr': '<f4', 'fortran_order': False, 'shape': (-2,)}", data8), "non-negative integer");
  check(npy_with("{'descr': '<f4', 'fortran_order': False, 'shape': (2,) junk", data8), "malformed header");
  check(npy_with("{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} junk", data8), "after the header");
  check(npy_with("{'descr': '<f4', 'fortran_order': False, 'shape': (2,", data8), "malformed header");
  check(npy_with("{'descr': '<f4, 'fortran_order': False, 'shape': (2,)}", data8), "malformed header");
  check(npy_with("{'descr': '<c16', 'fortran_order': False, 'shape': (2,)}", data8), "unsupported dtype '<c16'");
  check(npy_with("{'descr': '<U3', 'fortran_order': False, 'shape': (2,)}", data8), "unsupported dtype");
  check(npy_with("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,)}", data8), "structured");
  check(npy_with("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,)}", data8), "overflows");
  check(npy_with("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296,)}", data8), "int32");
  check(npy_with("{'descr': '<f8', 'fortran_order': False, 'shape': (2147483647, 2147483647, 2147483647, 8)}", data8),
        "overflows");
  std::string many = "(";
  for (int i = 0; i < 70; ++i) many += "1, ";
  check(npy_with("{'descr': '<f4', 'fortran_order': False, 'shape': " + many + ")}", data8), "dimensions");
  // A claimed shape far larger than the file is refused before anything is allocated.
  check(npy_with("{'descr': '<f8', 'fortran_order': False, 'shape': (100000, 100000)}", data8),
        "expected 80000000000 bytes");

  // Every truncation of a valid file.
  TempDir src;
  save(src / "v.npy", test::random_array({5, 7}, float64, -1, 1, 3));
  expect_truncations_fail(read_file(src / "v.npy"), p, "load", [](const std::string& f) { load(f); });
}

TEST(Npy, UnreadablePathsThrow) {
  TempDir dir;
  EXPECT_TRUE(fails_with([&] { load(dir / "missing.npy"); }, "load", dir / "missing.npy", "cannot open"));
  fs::create_directories(dir / "d.npy");
  EXPECT_TRUE(fails_with([&] { load(dir / "d.npy"); }, "load", dir / "d.npy", "regular file"));
  // A FIFO must be refused, not waited on.
  ASSERT_EQ(mkfifo((dir / "fifo.npy").c_str(), 0600), 0);
  EXPECT_TRUE(fails_with([&] { load(dir / "fifo.npy"); }, "load", dir / "fifo.npy", "regular file"));
}

TEST(Npy, FailedSavesLeaveTheOldFileAndNoTemp) {
  TempDir dir;
  auto p = dir / "keep.npy";
  save(p, array({1, 2, 3}));
  std::string before = read_file(p);
  ASSERT_EQ(dir.files(), std::vector<std::string>{"keep.npy"});

  // An array whose computation fails.
  with_tiny_memory_limit([&] { EXPECT_THROW(save(p, failing_array()), std::runtime_error); });
  EXPECT_EQ(read_file(p), before);
  EXPECT_EQ(dir.files(), std::vector<std::string>{"keep.npy"});

  // A write that fails half-way (the file size limit).
  with_file_size_limit(4096, [&] {
    EXPECT_TRUE(fails_with([&] { save(p, zeros({100000}, float32)); }, "save", p, "cannot write"));
  });
  EXPECT_EQ(read_file(p), before);
  EXPECT_EQ(dir.files(), std::vector<std::string>{"keep.npy"});

  // The rename fails: the target is a non-empty directory.
  fs::create_directories(dir / "sub.npy/x");
  EXPECT_TRUE(fails_with([&] { save(dir / "sub.npy", array({1})); }, "save", dir / "sub.npy", "cannot rename"));
  EXPECT_EQ(dir.files(), (std::vector<std::string>{"keep.npy", "sub.npy"}));

  // A directory that does not exist.
  auto q = dir / "no/such/dir/x.npy";
  EXPECT_TRUE(fails_with([&] { save(q, array({1})); }, "save", q, "cannot create the temporary file"));

  // A successful save replaces the file and keeps its permissions.
  ASSERT_EQ(chmod(p.c_str(), 0640), 0);
  save(p, array({7, 8}));
  EXPECT_TRUE(same(load(p), array({7, 8})));
  struct stat st;
  ASSERT_EQ(stat(p.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
  EXPECT_EQ(dir.files(), (std::vector<std::string>{"keep.npy", "sub.npy"}));
}

TEST(Npy, LoadingSharesTheFileAndNeverWritesIt) {
  TempDir dir;
  auto p = dir / "big.npy";
  auto x = test::random_array({1024, 1024}, float32, -1, 1, 5);
  save(p, x);
  std::string before = read_file(p);
  size_t active = get_active_memory();
  array a = load(p);
  // 4 MiB of data, and no new buffer for it.
  EXPECT_LT(get_active_memory(), active + (1 << 20));
  EXPECT_TRUE(same(a, x));
  // Ops may donate (write into) the loaded buffer: the mapping is copy-on-write.
  array y = exp(std::move(a));
  y.eval();
  EXPECT_EQ(read_file(p), before);
}

}  // namespace
}  // namespace mica
