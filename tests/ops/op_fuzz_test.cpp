// Random programs over the op layer (fuzz/ops_program.h) in the regular suite: fixed seeds, so a
// failure names the program that reproduces it (MICA_FUZZ_SEED=N runs one; MICA_FUZZ_VERBOSE=1
// prints slow programs and the count of results and errors per op). The libFuzzer target
// fuzz_ops explores further under ASan/UBSan (fuzz/run.sh).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "fuzz/ops_program.h"
#include "reference/reference.h"

namespace mica::test {
namespace {

std::vector<uint8_t> program_bytes(uint64_t seed, size_t n) {
  std::vector<uint8_t> b(n);
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (auto& v : b) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    v = static_cast<uint8_t>(x >> 24);
  }
  return b;
}

std::string hex(const std::vector<uint8_t>& b) {
  std::string s;
  char buf[4];
  for (uint8_t v : b) std::snprintf(buf, sizeof buf, "%02x", v), s += buf;
  return s;
}

TEST(OpFuzz, RandomProgramsGiveResultsOrClearErrors) {
  mica_fuzz::Counts counts;
  // MICA_FUZZ_SEED=N runs program N alone (to reproduce a failure); MICA_FUZZ_FIRST and
  // MICA_FUZZ_PROGRAMS pick another range for longer runs.
  const char* only = std::getenv("MICA_FUZZ_SEED");
  const char* first_env = std::getenv("MICA_FUZZ_FIRST");
  const char* count_env = std::getenv("MICA_FUZZ_PROGRAMS");
  const int kPrograms = count_env ? std::atoi(count_env) : 60000;
  const int first = only ? std::atoi(only) : first_env ? std::atoi(first_env) : 0;
  const int last = only ? first + 1 : first + kPrograms;
  for (int seed = first; seed < last; ++seed) {
    auto bytes = program_bytes(seed, 48 + seed % 400);
    const auto t0 = std::chrono::steady_clock::now();
    try {
      mica_fuzz::run_program(bytes.data(), bytes.size(), &counts);
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (std::getenv("MICA_FUZZ_VERBOSE") && s > 0.2) std::printf("slow program %d: %.2f s\n", seed, s);
    } catch (const mica_fuzz::Finding& f) {
      ADD_FAILURE() << f.what() << "\n  program (seed " << seed << "): " << hex(bytes);
    }
  }
  // Every op of the table ran to a checked result at least once, and the programs also reach
  // the ops' error paths: the generator is neither all-valid nor all-invalid.
  const auto& names = mica_fuzz::Program::op_names();
  if (only) return;
  int errors = 0, oks = 0;
  for (size_t k = 0; k < names.size(); ++k) {
    EXPECT_GT(counts.ok[k], 0) << names[k] << " never returned a result";
    errors += counts.errors[k];
    oks += counts.ok[k];
    if (std::getenv("MICA_FUZZ_VERBOSE")) std::printf("%-18s ok %5d  errors %5d\n", names[k].c_str(), counts.ok[k], counts.errors[k]);
  }
  if (only) return;
  EXPECT_GT(errors, kPrograms / 2);
  EXPECT_GT(oks, errors);
}

TEST(OpFuzz, FindingsAreReported) {
  // The checker itself: an array whose elements lie past its buffer is a finding.
  auto buf = allocator::malloc(6 * sizeof(float));
  std::fill_n(static_cast<float*>(buf.ptr), 6, 1.0f);
  EXPECT_NO_THROW(mica_fuzz::Program::check_result(array(buf, {6}, float32), "ok"));
  auto small = allocator::malloc(6 * sizeof(float));
  array past(allocator::Buffer{small.ptr, 2 * sizeof(float)}, {6}, float32);  // claims 6 in 2
  EXPECT_THROW(mica_fuzz::Program::check_result(past, "past"), mica_fuzz::Finding);
  // And so is a bool byte that is neither 0 nor 1.
  auto b = allocator::malloc(2);
  static_cast<uint8_t*>(b.ptr)[0] = 1;
  static_cast<uint8_t*>(b.ptr)[1] = 7;
  EXPECT_THROW(mica_fuzz::Program::check_result(array(b, {2}, bool_), "bool"), mica_fuzz::Finding);
  // view as bool gives true for every nonzero byte.
  array v = view(array({0, 7, 1, 255}, uint8), bool_);
  EXPECT_NO_THROW(mica_fuzz::Program::check_result(v, "view"));
  EXPECT_EQ(to_vector(v), (std::vector<double>{0, 1, 1, 1}));
}

}  // namespace
}  // namespace mica::test
