// Helpers shared by the array-file tests: fixture values, scratch directories, file bytes,
// the error check, and a little-endian byte builder for hand-written files.
#pragma once
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "mica/io.h"
#include "reference/reference.h"

namespace mica::iotest {

namespace fs = std::filesystem;

/** The fixture directory (tests/io/fixtures), found from this header's path. */
inline fs::path fixtures() { return fs::path(__FILE__).parent_path() / "fixtures"; }

// The values make_fixtures.py writes: element i in row-major order.
inline double fval(size_t i) { return (static_cast<double>((i * 37) % 23) - 11 + 0.5) * 0.25; }
inline double ival(size_t i) { return static_cast<double>((i * 37) % 23) - 11; }
inline double uval(size_t i) { return static_cast<double>((i * 37) % 23 + 1); }
inline double bval(size_t i) { return i % 3 != 0; }

/** Expected values of a fixture array of `n` elements of kind f/i/u/b/c (c: real parts). */
inline std::vector<double> fixture_vals(size_t n, char kind) {
  std::vector<double> v(n);
  for (size_t i = 0; i < n; ++i) {
    v[i] = kind == 'f' || kind == 'c' ? fval(i) : kind == 'i' ? ival(i) : kind == 'u' ? uval(i) : bval(i);
  }
  return v;
}
/** Imaginary parts of a complex fixture array. */
inline std::vector<double> fixture_imag(size_t n) {
  std::vector<double> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = fval(i + n);
  return v;
}
/** The fixture kind letter of a dtype. */
inline char kind_of(Dtype d) {
  if (d == bool_) return 'b';
  if (d == complex64) return 'c';
  if (issubdtype(d, unsignedinteger)) return 'u';
  if (issubdtype(d, signedinteger)) return 'i';
  return 'f';
}

/** An array of `shape` and `dtype` holding the fixture values of its kind. */
inline array fixture_array(const Shape& shape, Dtype dtype) {
  size_t n = 1;
  for (auto d : shape) n *= static_cast<size_t>(d);
  auto re = fixture_vals(n, kind_of(dtype));
  if (dtype == complex64) {
    auto im = fixture_imag(n);
    std::vector<complex64_t> c(n);
    for (size_t i = 0; i < n; ++i) c[i] = complex64_t(static_cast<float>(re[i]), static_cast<float>(im[i]));
    return array(c.begin(), shape, complex64);
  }
  return array(re.begin(), shape, dtype);
}

/** A fresh scratch directory, removed when the object dies. */
struct TempDir {
  fs::path path;
  TempDir() {
    static int counter = 0;
    path = fs::temp_directory_path() /
           ("mica_io_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::permissions(path, fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(path, ec);
  }
  std::string operator/(const std::string& name) const { return (path / name).string(); }
  /** Names of the files in the directory. */
  std::vector<std::string> files() const {
    std::vector<std::string> out;
    for (auto& e : fs::directory_iterator(path)) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  }
};

inline std::string read_file(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}
inline void write_file(const std::string& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

/** True if f throws std::runtime_error or std::invalid_argument whose message starts with
 *  "[op] file: " and contains `needle`. */
template <typename F>
testing::AssertionResult fails_with(F&& f, const std::string& op, const std::string& file, const std::string& needle) {
  try {
    f();
  } catch (const std::exception& e) {
    std::string msg = e.what();
    bool right_type = dynamic_cast<const std::runtime_error*>(&e) || dynamic_cast<const std::invalid_argument*>(&e);
    std::string prefix = "[" + op + "] " + file + ": ";
    if (!right_type) return testing::AssertionFailure() << "unexpected exception type: " << msg;
    if (msg.rfind(prefix, 0) != 0) return testing::AssertionFailure() << "message '" << msg << "' lacks prefix " << prefix;
    if (msg.find(needle) == std::string::npos) {
      return testing::AssertionFailure() << "message '" << msg << "' lacks '" << needle << "'";
    }
    return testing::AssertionSuccess();
  }
  return testing::AssertionFailure() << "did not throw";
}

/** True if f throws std::runtime_error or std::invalid_argument starting with "[op] file: ". */
template <typename F>
testing::AssertionResult fails_for_file(F&& f, const std::string& op, const std::string& file) {
  return fails_with(std::forward<F>(f), op, file, "");
}

/** Element values of `a` (real, then imaginary parts for complex) for exact comparison. */
inline std::vector<double> values(const array& a) {
  auto v = test::to_vector(a);
  if (a.dtype() == complex64) {
    auto im = test::to_vector_imag(a);
    v.insert(v.end(), im.begin(), im.end());
  }
  return v;
}

/** Same dtype, shape and exactly the same values. */
inline testing::AssertionResult same(const array& got, const array& want) {
  if (got.dtype() != want.dtype()) {
    return testing::AssertionFailure() << "dtype " << got.dtype() << " vs " << want.dtype();
  }
  if (got.shape() != want.shape()) return testing::AssertionFailure() << "shapes differ";
  auto g = values(got), w = values(want);
  for (size_t i = 0; i < g.size(); ++i) {
    bool both_nan = std::isnan(g[i]) && std::isnan(w[i]);
    if (!both_nan && g[i] != w[i]) {
      return testing::AssertionFailure() << "element " << i << ": " << g[i] << " vs " << w[i];
    }
  }
  return testing::AssertionSuccess();
}

/** Little-endian byte builder for hand-written files. */
struct ByteBuilder {
  std::string s;
  ByteBuilder& raw(const std::string& b) {
    s += b;
    return *this;
  }
  ByteBuilder& le(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) s += static_cast<char>((v >> (8 * i)) & 0xff);
    return *this;
  }
  ByteBuilder& u8(uint64_t v) { return le(v, 1); }
  ByteBuilder& u16(uint64_t v) { return le(v, 2); }
  ByteBuilder& u32(uint64_t v) { return le(v, 4); }
  ByteBuilder& u64(uint64_t v) { return le(v, 8); }
  ByteBuilder& f32(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return u32(u);
  }
  /** A GGUF string: u64 length and bytes. */
  ByteBuilder& gstr(const std::string& t) {
    u64(t.size());
    s += t;
    return *this;
  }
  ByteBuilder& pad_to(size_t align) {
    while (s.size() % align) s += '\0';
    return *this;
  }
};

/** Every prefix of `bytes` (a valid file) shorter than `below` (default: all of it) must fail
 *  to load with "[op] file: "; `load` reads the file at `p`. Steps through long files. */
template <typename F>
void expect_truncations_fail(const std::string& bytes, const std::string& p, const std::string& op, F&& load,
                             size_t below = std::string::npos) {
  below = std::min(below, bytes.size());
  size_t step = std::max<size_t>(1, bytes.size() / 400);
  for (size_t n = 0; n < below; n += (n < 128 ? 1 : step)) {
    write_file(p, bytes.substr(0, n));
    EXPECT_TRUE(fails_for_file([&] { load(p); }, op, p)) << "prefix of " << n << " bytes";
  }
}

/** Runs `f` with the file size limit set to `limit` bytes (SIGXFSZ ignored, so writes fail
 *  with EFBIG instead of killing the process); restores both. */
inline void with_file_size_limit(rlim_t limit, const std::function<void()>& f) {
  struct rlimit old;
  getrlimit(RLIMIT_FSIZE, &old);
  auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  struct rlimit lim = old;
  lim.rlim_cur = limit;
  setrlimit(RLIMIT_FSIZE, &lim);
  try {
    f();
  } catch (...) {
    setrlimit(RLIMIT_FSIZE, &old);
    std::signal(SIGXFSZ, old_handler);
    throw;
  }
  setrlimit(RLIMIT_FSIZE, &old);
  std::signal(SIGXFSZ, old_handler);
}

/** An array whose evaluation throws (its computation needs more than the memory limit). */
inline array failing_array() {
  return multiply(ones({1 << 22}, float32), array(2.0f));
}

/** Evaluates `a` with the memory limit lowered so that it must fail; restores the limit. */
template <typename F>
void with_tiny_memory_limit(F&& f) {
  size_t old = set_memory_limit(get_active_memory() + (1 << 20));
  try {
    f();
  } catch (...) {
    set_memory_limit(old);
    throw;
  }
  set_memory_limit(old);
}

/** Arrays of every dtype and some layouts: contiguous, transposed, sliced, 0-d, empty. */
inline std::vector<std::pair<std::string, array>> layout_cases(const std::vector<Dtype>& dtypes) {
  std::vector<std::pair<std::string, array>> out;
  for (Dtype d : dtypes) {
    std::string n = dtype_to_string(d);
    double lo = issubdtype(d, unsignedinteger) ? 1 : -9;
    auto base = test::random_array({4, 6}, d, lo, 9, 11);
    if (d == complex64) base = fixture_array({4, 6}, complex64);
    out.emplace_back(n + "_c", base);
    out.emplace_back(n + "_t", transpose(base));
    out.emplace_back(n + "_s", slice(base, {1, 0}, {4, 6}, {2, 3}));
    out.emplace_back(n + "_b", broadcast_to(slice(base, {0, 0}, {1, 6}), {3, 6}));
    out.emplace_back(n + "_0d", reshape(slice(base, {1, 2}, {2, 3}), {}));
    out.emplace_back(n + "_e", reshape(slice(base, {0, 0}, {0, 6}), {0, 3, 2}));
    out.emplace_back(n + "_3d", reshape(base, {2, 3, 4}));
    out.emplace_back(n + "_f", flip(base, 1));
  }
  return out;
}

}  // namespace mica::iotest
