// The answer checks of the MLX-style programs: each program includes MLX's headers only (this
// one among them: it uses nothing but mlx/mlx.h), prints what fails and exits non-zero.
#pragma once
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "mlx/mlx.h"

namespace check {

inline int failures = 0;

inline void expect(bool ok, const std::string& what) {
  if (!ok) {
    std::fprintf(stderr, "FAILED: %s\n", what.c_str());
    ++failures;
  }
}

/** a's values (as float64) equal `want` to a relative tolerance, and its shape is `shape`. */
inline bool values(const mlx::core::array& a, const std::vector<double>& want, const mlx::core::Shape& shape,
                   double tol = 1e-5) {
  namespace mx = mlx::core;
  if (a.shape() != shape) return false;
  // Row-major and dense first: a result may be a broadcast (one stored value) or a transpose.
  mx::array f = mx::contiguous(mx::astype(a, mx::float64, mx::Device::cpu), false, mx::Device::cpu);
  mx::eval(f);
  if (f.size() != want.size()) return false;
  const double* p = f.data<double>();
  for (size_t i = 0; i < want.size(); ++i) {
    if (!(std::abs(p[i] - want[i]) <= tol * (1 + std::abs(want[i])))) return false;
  }
  return true;
}

inline int finish(const char* name) {
  if (failures == 0) std::printf("%s: every answer checked\n", name);
  return failures == 0 ? 0 : 1;
}

}  // namespace check
