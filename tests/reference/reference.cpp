#include "reference/reference.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <sstream>

#include "mica/types/cast.h"

namespace mica::test {

array random_array(const Shape& shape, Dtype dtype, double lo, double hi, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  size_t n = 1;
  for (auto d : shape) n *= d;
  std::vector<double> v(n);
  for (auto& x : v) {
    x = dist(gen);
    if (!is_inexact(dtype)) x = std::round(x);
    if (dtype == bool_) x = x > (lo + hi) / 2;
  }
  return array(v.begin(), shape, dtype);
}

namespace {
std::vector<double> read(array& a, bool imag_part) {
  a.eval();
  std::vector<double> out(a.size());
  if (a.size() == 0) return out;
  Shape idx(a.ndim(), 0);
  const char* base = static_cast<const char*>(a.data<void>());
  for (size_t i = 0; i < a.size(); ++i) {
    int64_t off = 0;
    for (size_t d = 0; d < a.ndim(); ++d) off += idx[d] * a.strides()[d];
    const void* p = base + off * static_cast<int64_t>(a.itemsize());
    if (a.dtype() == complex64) {
      auto c = *static_cast<const complex64_t*>(p);
      out[i] = imag_part ? c.imag() : c.real();
    } else {
      detail::convert_from<double>(a.dtype(), p, &out[i]);
    }
    for (int d = static_cast<int>(a.ndim()) - 1; d >= 0; --d) {
      if (++idx[d] < a.shape()[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}
}  // namespace

std::vector<double> to_vector(array a) { return read(a, false); }
std::vector<double> to_vector_imag(array a) { return read(a, true); }

size_t broadcast_index(size_t flat, const Shape& out, const Shape& from) {
  size_t idx = 0, stride = 1;
  for (int d = static_cast<int>(out.size()) - 1, f = static_cast<int>(from.size()) - 1; d >= 0; --d, --f) {
    size_t i = flat % out[d];
    flat /= out[d];
    if (f >= 0) {
      if (from[f] != 1) idx += i * stride;
      stride *= from[f];
    }
  }
  return idx;
}

std::vector<double> map_ref(const std::vector<double>& x, const std::function<double(double)>& f) {
  std::vector<double> out(x.size());
  for (size_t i = 0; i < x.size(); ++i) out[i] = f(x[i]);
  return out;
}

std::vector<double> binary_ref(const std::vector<double>& a, const Shape& sa, const std::vector<double>& b,
                               const Shape& sb, const Shape& out, const std::function<double(double, double)>& f) {
  size_t n = 1;
  for (auto d : out) n *= d;
  std::vector<double> r(n);
  for (size_t i = 0; i < n; ++i) r[i] = f(a[broadcast_index(i, out, sa)], b[broadcast_index(i, out, sb)]);
  return r;
}

testing::AssertionResult all_close(const std::vector<double>& got, const std::vector<double>& want, double rtol,
                                   double atol) {
  if (got.size() != want.size()) {
    return testing::AssertionFailure() << "size " << got.size() << " != " << want.size();
  }
  int bad = 0;
  std::ostringstream os;
  for (size_t i = 0; i < got.size(); ++i) {
    double g = got[i], w = want[i];
    bool ok;
    if (std::isnan(w)) ok = std::isnan(g);
    else if (std::isinf(w)) ok = g == w;
    else ok = std::fabs(g - w) <= atol + rtol * std::fabs(w);
    if (!ok && bad++ < 5) os << " [" << i << "] got " << g << " want " << w << ";";
  }
  if (bad) return testing::AssertionFailure() << bad << " mismatches:" << os.str();
  return testing::AssertionSuccess();
}

testing::AssertionResult matches(const array& got, const Shape& shape, const std::vector<double>& want, double rtol,
                                 double atol) {
  if (got.shape() != shape) {
    return testing::AssertionFailure() << "shape " << detail::shape_str(got.shape()) << " != " << detail::shape_str(shape);
  }
  return all_close(to_vector(got), want, rtol, atol);
}

testing::AssertionResult close(const array& got, const array& want, double rtol) {
  if (got.shape() != want.shape()) return testing::AssertionFailure() << "shapes differ";
  if (got.dtype() != want.dtype()) return testing::AssertionFailure() << "dtypes differ";
  auto g = to_vector(got), w = to_vector(want);
  for (size_t i = 0; i < g.size(); ++i) {
    if (std::isnan(w[i]) && std::isnan(g[i])) continue;
    if (!(std::abs(g[i] - w[i]) <= rtol * std::max(1.0, std::abs(w[i])))) {
      return testing::AssertionFailure() << "element " << i << ": got " << g[i] << ", want " << w[i];
    }
  }
  return testing::AssertionSuccess();
}

double tol_for(Dtype d) {
  switch (d.val) {
    case Dtype::Val::float16: return 2e-3;
    case Dtype::Val::bfloat16: return 1.6e-2;
    case Dtype::Val::float32: case Dtype::Val::complex64: return 2e-6;
    case Dtype::Val::float64: return 1e-12;
    default: return 0;
  }
}

}  // namespace mica::test
