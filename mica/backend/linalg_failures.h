// The linalg kernels' failure messages, shared by the CPU kernels (backend/cpu/linalg.cpp) and
// the CUDA ones (backend/cuda/linalg.cu), so that both devices report a failing matrix alike.
#pragma once
#include <stdexcept>
#include <string>
#include <vector>

namespace mica::linalg_failures {

/** Throws std::runtime_error "[op] expected <want>, got <what(info)>[ in matrix b of the
 * batch]." for the first matrix whose info is not 0. */
template <typename What>
void raise(const std::string& op, const std::vector<int>& info, const std::string& want, What&& what) {
  for (size_t b = 0; b < info.size(); ++b) {
    if (info[b] == 0) continue;
    std::string where = info.size() > 1 ? " in matrix " + std::to_string(b) + " of the batch" : "";
    throw std::runtime_error("[" + op + "] expected " + want + ", got " + what(info[b]) + where + ".");
  }
}

/** "a zero A[i][i]" for LAPACK's 1-based info i + 1 (`name` the matrix: A, U). */
inline std::string diag_zero(int info, const char* name) {
  return "a zero " + std::string(name) + "[" + std::to_string(info - 1) + "][" + std::to_string(info - 1) + "]";
}

/** What a matrix refused for NaN or inf entries holds. */
inline std::string non_finite() { return "NaN or inf entries"; }

}  // namespace mica::linalg_failures
