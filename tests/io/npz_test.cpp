// .npz: NumPy/MLX archives, round trips (stored and deflated), member layout, lying or corrupt
// archives, atomic writes; load_arrays' dispatch by extension.
#include <sys/stat.h>

#include "io/io_test_util.h"
#include "mica/io/file.h"

namespace mica {
namespace {
using namespace iotest;

void expect_abc(const std::unordered_map<std::string, array>& m) {
  ASSERT_EQ(m.size(), 3u);
  EXPECT_TRUE(same(m.at("a"), fixture_array({3, 4}, float32)));
  EXPECT_TRUE(same(m.at("b"), fixture_array({5}, int64)));
  EXPECT_TRUE(same(m.at("c"), fixture_array({2, 2}, bool_)));
}

TEST(Npz, FixturesWrittenByNumpyAndMlxLoad) {
  expect_abc(load_npz((fixtures() / "npz" / "stored.npz").string()));
  expect_abc(load_npz((fixtures() / "npz" / "deflate.npz").string()));
  auto pos = load_npz((fixtures() / "npz" / "positional.npz").string());
  ASSERT_EQ(pos.size(), 2u);
  EXPECT_TRUE(same(pos.at("arr_0"), fixture_array({3, 4}, float32)));
  EXPECT_TRUE(same(pos.at("arr_1"), fixture_array({5}, int64)));
  auto m = load_npz((fixtures() / "npz" / "mlx.npz").string());
  ASSERT_EQ(m.size(), 2u);
  EXPECT_TRUE(same(m.at("x"), fixture_array({2, 3}, float32)));
  EXPECT_TRUE(same(m.at("y"), fixture_array({4}, int32)));
}

TEST(Npz, RoundTripEveryDtypeAndLayout) {
  TempDir dir;
  std::unordered_map<std::string, array> arrays;
  for (auto& [name, a] : layout_cases({all_dtypes, all_dtypes + Dtype::num_types})) arrays.emplace(name, a);
  arrays.emplace("dir/with/slashes", array({1.5f}));
  for (bool compressed : {false, true}) {
    auto p = dir / (compressed ? "c" : "s");  // ".npz" is appended
    compressed ? savez_compressed(p, arrays) : savez(p, arrays);
    auto got = load_npz(p + ".npz");
    ASSERT_EQ(got.size(), arrays.size());
    for (auto& [name, a] : arrays) EXPECT_TRUE(same(got.at(name), a)) << name << " compressed=" << compressed;
  }
  savez(dir / "pos.npz", std::vector<array>{array({1, 2}), array(3.5f)});
  auto pos = load_npz(dir / "pos.npz");
  EXPECT_TRUE(same(pos.at("arr_0"), array({1, 2})));
  EXPECT_TRUE(same(pos.at("arr_1"), array(3.5f)));
  savez_compressed(dir / "posc.npz", std::vector<array>{array({4, 5})});
  EXPECT_TRUE(same(load_npz(dir / "posc.npz").at("arr_0"), array({4, 5})));
  // An empty archive is NumPy's 22-byte end record.
  savez(dir / "empty.npz", std::unordered_map<std::string, array>{});
  EXPECT_EQ(read_file(dir / "empty.npz").size(), 22u);
  EXPECT_TRUE(load_npz(dir / "empty.npz").empty());
}

// Offsets of local file headers ("PK\3\4") and central directory entries ("PK\1\2").
std::vector<size_t> find_all(const std::string& s, const std::string& sig) {
  std::vector<size_t> out;
  for (size_t at = s.find(sig); at != std::string::npos; at = s.find(sig, at + 1)) out.push_back(at);
  return out;
}
uint32_t get32(const std::string& s, size_t at) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(static_cast<uint8_t>(s[at + i])) << (8 * i);
  return v;
}
void put32(std::string& s, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) s[at + i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

TEST(Npz, MembersAreNpyFilesStoredOrDeflated) {
  TempDir dir;
  array a = fixture_array({64, 64}, float32);
  savez(dir / "s.npz", {{"a", a}});
  savez_compressed(dir / "c.npz", {{"a", a}});
  std::string s = read_file(dir / "s.npz"), c = read_file(dir / "c.npz");
  ASSERT_EQ(s.compare(0, 4, "PK\3\4"), 0);
  EXPECT_EQ(s[8], 0);  // compression method: stored
  EXPECT_EQ(c[8], 8);  // deflate
  // The stored member is exactly the .npy file save() writes.
  save(dir / "a.npy", a);
  std::string npy = read_file(dir / "a.npy");
  size_t name_len = static_cast<uint8_t>(s[26]), extra_len = static_cast<uint8_t>(s[28]);
  EXPECT_EQ(s.substr(30, name_len), "a.npy");
  EXPECT_EQ(s.substr(30 + name_len + extra_len, npy.size()), npy);
  EXPECT_LT(c.size(), s.size());
}

TEST(Npz, LyingOrCorruptArchivesThrow) {
  TempDir dir;
  auto p = dir / "bad.npz";
  auto check = [&](const std::string& bytes, const std::string& needle) {
    write_file(p, bytes);
    EXPECT_TRUE(fails_with([&] { load_npz(p); }, "load_npz", p, needle)) << needle;
  };
  savez(dir / "s.npz", {{"a", fixture_array({8, 8}, float32)}, {"b", fixture_array({3}, int8)}});
  savez_compressed(dir / "c.npz", {{"a", zeros({256, 256}, float32)}});
  const std::string stored = read_file(dir / "s.npz"), deflated = read_file(dir / "c.npz");

  check("", "expected a zip archive");
  check(std::string(100, 'x'), "not a valid zip archive");
  {
    // A member that is not .npy (the name patched in the local and central headers).
    std::string s = stored;
    for (size_t at = s.find("a.npy"); at != std::string::npos; at = s.find("a.npy", at + 1)) s[at + 4] = 'x';
    check(s, "expected .npy members");
  }
  {
    // Declared sizes that lie, consistently in both headers.
    auto patch_size = [&](std::string s, uint32_t usize) {
      for (size_t at : find_all(s, std::string("PK\3\4", 4))) put32(s, at + 22, usize);
      for (size_t at : find_all(s, std::string("PK\1\2", 4))) {
        if (s.compare(at + 46, 5, "a.npy") == 0) put32(s, at + 24, usize);
      }
      return s;
    };
    size_t cd = find_all(deflated, std::string("PK\1\2", 4)).at(0);
    uint32_t real = get32(deflated, cd + 24), comp = get32(deflated, cd + 20);
    check(patch_size(deflated, 0xfffffff0u), "impossible for compressed size");
    check(patch_size(deflated, real - 100), "holds more data than its declared size");
    check(patch_size(deflated, real + 100), "bytes (its declared size), got " + std::to_string(real));
    EXPECT_LT(comp * 1032 + 1024, 0xfffffff0u);
    // A stored member claiming to be larger than its data.
    std::string s = stored;
    for (size_t at : find_all(s, std::string("PK\1\2", 4))) {
      if (s.compare(at + 46, 5, "b.npy") == 0) put32(s, at + 24, get32(s, at + 24) + 1);
    }
    for (size_t at : find_all(s, std::string("PK\3\4", 4))) {
      if (s.compare(at + 30, 5, "b.npy") == 0) put32(s, at + 22, get32(s, at + 22) + 1);
    }
    check(s, "declared size");
  }
  {
    // Damaged data: a CRC mismatch in a stored member, garbage in a deflated one.
    std::string s = stored;
    s[s.find("NUMPY") + 200] ^= 0x55;
    check(s, "CRC error");
    std::string c = deflated;
    for (size_t i = 60; i < 90; ++i) c[i] = static_cast<char>(i * 7);
    check(c, "member a.npy");
  }
  {
    // A valid archive holding a corrupt .npy: the message names the member.
    std::string s = stored;
    size_t at = s.find("'descr': '<f4'");
    s.replace(at + 11, 2, "z9");
    // Keep the CRC right so that the .npy parser sees it: recompute over the member's data.
    auto crc32 = [](const std::string& d) {
      uint32_t c = 0xffffffffu;
      for (unsigned char ch : d) {
        c ^= ch;
        for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
      }
      return ~c;
    };
    size_t lh = find_all(s, std::string("PK\3\4", 4)).at(0);
    size_t nlen = static_cast<uint8_t>(s[lh + 26]), xlen = static_cast<uint8_t>(s[lh + 28]);
    uint32_t csize = get32(s, lh + 18);
    uint32_t crc = crc32(s.substr(lh + 30 + nlen + xlen, csize));
    put32(s, lh + 14, crc);
    for (size_t cd : find_all(s, std::string("PK\1\2", 4))) {
      if (s.compare(cd + 46, 5, "a.npy") == 0) put32(s, cd + 16, crc);
    }
    write_file(p, s);
    EXPECT_TRUE(fails_with([&] { load_npz(p); }, "load_npz", p + ":a.npy", "unsupported dtype '<z9'"));
  }
  expect_truncations_fail(stored, p, "load_npz", [](const std::string& f) { load_npz(f); });
  expect_truncations_fail(deflated, p, "load_npz", [](const std::string& f) { load_npz(f); });
}

TEST(Npz, FailedSavesLeaveTheOldFileAndNoTemp) {
  TempDir dir;
  auto p = dir / "keep.npz";
  savez(p, {{"x", array({1, 2})}});
  std::string before = read_file(p);
  with_tiny_memory_limit([&] {
    EXPECT_THROW(savez(p, {{"x", array({1})}, {"y", failing_array()}}), std::runtime_error);
  });
  with_file_size_limit(4096, [&] {
    EXPECT_TRUE(fails_for_file([&] { savez(p, {{"x", zeros({100000}, float32)}}); }, "savez", p));
    EXPECT_TRUE(fails_for_file([&] { savez_compressed(p, {{"x", test::random_array({100000}, float32)}}); },
                               "savez_compressed", p));
  });
  EXPECT_EQ(read_file(p), before);
  EXPECT_EQ(dir.files(), std::vector<std::string>{"keep.npz"});
  auto q = dir / "missing/x.npz";
  EXPECT_TRUE(fails_for_file([&] { savez(q, {{"x", array({1})}}); }, "savez", q));
  EXPECT_EQ(dir.files(), std::vector<std::string>{"keep.npz"});
}

TEST(Npz, NewFilesGetTheUmaskMode) {
  TempDir dir;
  mode_t mask = umask(0);
  umask(mask);
  savez(dir / "n.npz", {{"x", array({1})}});
  save(dir / "n.npy", array({1}));
  for (const char* f : {"n.npz", "n.npy"}) {
    struct stat st;
    ASSERT_EQ(stat((dir / f).c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0666u & ~mask) << f;
  }
}

// The streaming reader behind savez: any read sizes, any strides, same bytes as a contiguous copy.
TEST(Npz, RowMajorCursorReadsAnyChunkSize) {
  auto base = test::random_array({5, 6, 7}, float64, -1, 1, 9);
  for (auto& a : {transpose(base, {2, 0, 1}), slice(base, {4, 5, 6}, {0, 0, 0}, {-2, -1, -3}),
                  broadcast_to(slice(base, {0, 0, 0}, {1, 6, 1}), {3, 6, 4}), base}) {
    array c = contiguous(a);
    c.eval();
    std::string want(static_cast<const char*>(c.data<void>()), c.nbytes());
    for (size_t chunk : {1, 3, 7, 8, 13, 4096}) {
      io::RowMajorCursor cur(a);
      std::string got;
      std::vector<char> buf(chunk);
      while (size_t n = cur.read(buf.data(), chunk)) got.append(buf.data(), n);
      EXPECT_EQ(got, want) << "chunk " << chunk;
      cur.reset();
      EXPECT_EQ(cur.read(buf.data(), chunk), std::min(chunk, want.size()));
    }
  }
}

TEST(LoadArrays, DispatchesOnTheExtension) {
  auto f = fixtures();
  EXPECT_EQ(load_arrays((f / "npz" / "stored.npz").string()).size(), 3u);
  EXPECT_EQ(load_arrays((f / "safetensors" / "mlx.safetensors").string()).size(), 4u);
  EXPECT_TRUE(load_arrays((f / "gguf" / "quant.gguf").string()).count("q.Q4_0.scales"));
  EXPECT_TRUE(test::throws_op<std::invalid_argument>("load_arrays", [&] { load_arrays((f / "npy" / "f32.npy").string()); }));
}

}  // namespace
}  // namespace mica
