#include "mica/nn/init.h"

#include <cmath>
#include <stdexcept>
#include <vector>

#include "mica/ops.h"
#include "mica/ops/utils.h"
#include "mica/random.h"
#include "mica/transforms.h"

namespace mica::nn::init {

namespace {
void need_2d(const array& a, const char* op) {
  if (a.ndim() != 2) {
    throw std::invalid_argument(std::string("[") + op + "] expected a 2-D array, got shape " +
                                detail::shape_str(a.shape()) + ".");
  }
}
}  // namespace

std::pair<int64_t, int64_t> fan_in_fan_out(const array& a, const char* op) {
  if (a.ndim() < 2) {
    throw std::invalid_argument(std::string("[") + op + "] expected an array of at least 2 dimensions, got shape " +
                                detail::shape_str(a.shape()) + ".");
  }
  int64_t receptive = 1;
  for (int i = 1; i + 1 < a.ndim(); ++i) receptive *= a.shape(i);
  return {int64_t(a.shape(-1)) * receptive, int64_t(a.shape(0)) * receptive};
}

Initializer constant(float value, Dtype dtype) {
  return [=](const array& a) { return full(a.shape(), array(value, dtype)); };
}

Initializer normal(const NormalOptions& o) {
  const float mean = o.mean, std = o.std;
  const Dtype dtype = o.dtype;
  return [=](const array& a) { return random::normal(a.shape(), dtype, mean, std); };
}

Initializer uniform(const UniformOptions& o) {
  const float low = o.low, high = o.high;
  const Dtype dtype = o.dtype;
  return [=](const array& a) { return random::uniform(low, high, a.shape(), dtype); };
}

Initializer identity(Dtype dtype) {
  return [=](const array& a) {
    need_2d(a, "identity");
    if (a.shape(0) != a.shape(1)) {
      throw std::invalid_argument("[identity] expected a square array, got shape " + detail::shape_str(a.shape()) + ".");
    }
    return eye(a.shape(0), dtype);
  };
}

array Glorot::operator()(const array& a, float gain) const {
  auto [fan_in, fan_out] = fan_in_fan_out(a, normal ? "glorot_normal" : "glorot_uniform");
  double fan_sum = static_cast<double>(fan_in + fan_out);
  if (normal) return random::normal(a.shape(), dtype, 0.0f, static_cast<float>(gain * std::sqrt(2.0 / fan_sum)));
  float limit = static_cast<float>(gain * std::sqrt(6.0 / fan_sum));
  return random::uniform(-limit, limit, a.shape(), dtype);
}
Glorot glorot_normal(Dtype dtype) { return {true, dtype}; }
Glorot glorot_uniform(Dtype dtype) { return {false, dtype}; }

array He::operator()(const array& a, const HeOptions& o) const {
  const char* op = normal ? "he_normal" : "he_uniform";
  auto [fan_in, fan_out] = fan_in_fan_out(a, op);
  if (o.mode != FanMode::fan_in && o.mode != FanMode::fan_out) {
    throw std::invalid_argument(std::string("[") + op + "] expected mode fan_in or fan_out, got " +
                                std::to_string(static_cast<int>(o.mode)) + ".");
  }
  const float gain = o.gain;
  double fan = static_cast<double>(o.mode == FanMode::fan_in ? fan_in : fan_out);
  if (normal) return random::normal(a.shape(), dtype, 0.0f, static_cast<float>(gain / std::sqrt(fan)));
  float limit = static_cast<float>(gain * std::sqrt(3.0 / fan));
  return random::uniform(-limit, limit, a.shape(), dtype);
}
He he_normal(Dtype dtype) { return {true, dtype}; }
He he_uniform(Dtype dtype) { return {false, dtype}; }

Initializer sparse(float sparsity, const NormalOptions& o) {
  const float mean = o.mean, std = o.std;
  const Dtype dtype = o.dtype;
  if (sparsity < 0 || sparsity > 1) {
    throw std::invalid_argument("[sparse] expected sparsity in [0, 1], got " + std::to_string(sparsity) + ".");
  }
  return [=](const array& a) {
    need_2d(a, "sparse");
    int num_zeros = static_cast<int>(std::ceil(sparsity * a.shape(1)));
    // Rank a random key per row: the columns ranked below num_zeros are zeroed.
    array rank = argsort(argsort(random::uniform(a.shape(), float32), 1), 1);
    array values = random::normal(a.shape(), dtype, mean, std);
    return where(rank < num_zeros, zeros_like(values), values);
  };
}

Initializer orthogonal(const OrthogonalOptions& o) {
  const float gain = o.gain;
  const Dtype dtype = o.dtype;
  return [=](const array& a) {
    need_2d(a, "orthogonal");
    int rows = a.shape(0), cols = a.shape(1);
    int n = std::max(rows, cols);
    // Gram-Schmidt (twice, for stability) on the columns of an n x n Gaussian matrix in double:
    // Q R with R's diagonal positive, the same distribution as QR with sign correction.
    array g = astype(random::normal({n, n}, float32), float64);
    eval(g);
    std::vector<double> m(g.data<double>(), g.data<double>() + size_t(n) * n);
    for (int j = 0; j < n; ++j) {
      for (int pass = 0; pass < 2; ++pass) {
        for (int k = 0; k < j; ++k) {
          double d = 0;
          for (int i = 0; i < n; ++i) d += m[i * n + k] * m[i * n + j];
          for (int i = 0; i < n; ++i) m[i * n + j] -= d * m[i * n + k];
        }
      }
      double norm = 0;
      for (int i = 0; i < n; ++i) norm += m[i * n + j] * m[i * n + j];
      norm = std::sqrt(norm);
      for (int i = 0; i < n; ++i) m[i * n + j] /= norm;
    }
    std::vector<double> q(size_t(rows) * cols);
    for (int i = 0; i < rows; ++i) {
      for (int j = 0; j < cols; ++j) q[size_t(i) * cols + j] = m[size_t(i) * n + j] * gain;
    }
    return astype(array(q.begin(), {rows, cols}, float64), dtype);
  };
}

}  // namespace mica::nn::init
