// A check shared by the shape-overflow tests: `f` throws std::overflow_error whose message is
// `[op] expected …, got <dim>.` (MLX's numbers), and nothing else.
#pragma once
#include <gtest/gtest.h>

#include <cstdint>
#include <stdexcept>
#include <string>

namespace mica::test {

template <typename F>
testing::AssertionResult overflows(const char* op, F f, int64_t dim) {
  try {
    f();
  } catch (const std::overflow_error& e) {
    std::string msg = e.what();
    if (msg.rfind(std::string("[") + op + "] expected", 0) != 0 ||
        msg.find("got " + std::to_string(dim) + ".") == std::string::npos) {
      return testing::AssertionFailure() << "message: " << msg;
    }
    return testing::AssertionSuccess();
  } catch (const std::exception& e) {
    return testing::AssertionFailure() << "other exception: " << e.what();
  }
  return testing::AssertionFailure() << "did not throw";
}

}  // namespace mica::test
