#include "reference/transform_checks.h"

#include <cmath>
#include <sstream>

#include "reference/reference.h"

namespace mica::test {

namespace {
std::vector<array> random_inputs(const GradCase& c, uint32_t seed) {
  std::vector<array> xs;
  for (size_t i = 0; i < c.shapes.size(); ++i) xs.push_back(random_array(c.shapes[i], float64, c.lo, c.hi, seed + 101 * i));
  return xs;
}

array from_vector(const std::vector<double>& v, const Shape& shape) { return array(v.begin(), shape, float64); }

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// The output as float64 values (an op may return another float type for float64 inputs only
// if it is broken; the checks then fail on precision).
std::vector<double> eval_fn(const GradCase& c, const std::vector<array>& xs) { return to_vector(c.fn(xs)); }
}  // namespace

testing::AssertionResult vjp_matches_finite_differences(const GradCase& c, uint32_t seed) {
  auto xs = random_inputs(c, seed);
  array out = c.fn(xs);
  eval(out);
  array v = random_array(out.shape(), float64, -1.0, 1.0, seed + 7);
  auto vv = to_vector(v);
  auto [outs, grads] = vjp([&](const std::vector<array>& in) { return std::vector<array>{c.fn(in)}; }, xs, {v});
  const double h = 1e-6;
  for (size_t i = 0; i < xs.size(); ++i) {
    auto g = to_vector(grads[i]);
    if (grads[i].shape() != xs[i].shape()) {
      return testing::AssertionFailure() << c.name << ": cotangent " << i << " has the wrong shape";
    }
    auto base = to_vector(xs[i]);
    for (size_t j = 0; j < base.size(); ++j) {
      auto plus = base, minus = base;
      plus[j] += h;
      minus[j] -= h;
      auto xp = xs, xm = xs;
      xp[i] = from_vector(plus, xs[i].shape());
      xm[i] = from_vector(minus, xs[i].shape());
      auto fp = eval_fn(c, xp), fm = eval_fn(c, xm);
      double fd = 0;
      for (size_t k = 0; k < fp.size(); ++k) fd += vv[k] * (fp[k] - fm[k]) / (2 * h);
      if (!(std::abs(g[j] - fd) <= c.atol + c.rtol * std::abs(fd))) {
        return testing::AssertionFailure() << c.name << ": d/dx" << i << "[" << j << "] vjp " << g[j]
                                           << " vs finite differences " << fd;
      }
    }
  }
  return testing::AssertionSuccess();
}

testing::AssertionResult jvp_vjp_adjoint(const GradCase& c, uint32_t seed) {
  auto xs = random_inputs(c, seed);
  std::vector<array> us;
  for (size_t i = 0; i < xs.size(); ++i) us.push_back(random_array(xs[i].shape(), float64, -1.0, 1.0, seed + 31 * i + 5));
  auto f = [&](const std::vector<array>& in) { return std::vector<array>{c.fn(in)}; };
  auto [outs, ju] = jvp(f, xs, us);
  if (ju[0].shape() != outs[0].shape()) return testing::AssertionFailure() << c.name << ": jvp has the wrong shape";
  array v = random_array(outs[0].shape(), float64, -1.0, 1.0, seed + 3);
  auto [outs2, jtv] = vjp(f, xs, {v});
  double lhs = dot(to_vector(v), to_vector(ju[0]));
  double rhs = 0;
  for (size_t i = 0; i < xs.size(); ++i) rhs += dot(to_vector(jtv[i]), to_vector(us[i]));
  if (std::abs(lhs - rhs) <= 1e-9 + 1e-9 * std::abs(lhs)) return testing::AssertionSuccess();
  return testing::AssertionFailure() << c.name << ": <v, J u> = " << lhs << " but <J^T v, u> = " << rhs;
}

testing::AssertionResult vmap_matches_loop(const GradCase& c, uint32_t seed) {
  const int B = 3;
  size_t n = c.shapes.size();
  std::vector<std::vector<int>> in_axes_sets = {std::vector<int>(n, 0)};
  std::vector<int> last(n);
  for (size_t i = 0; i < n; ++i) last[i] = static_cast<int>(c.shapes[i].size());
  in_axes_sets.push_back(last);
  if (n > 1) {
    std::vector<int> first_unmapped(n, 0);
    first_unmapped[0] = -1;
    in_axes_sets.push_back(first_unmapped);
  }
  auto f = [&](const std::vector<array>& in) { return std::vector<array>{c.fn(in)}; };
  for (auto& in_axes : in_axes_sets) {
    for (int out_axis : {0, -1}) {
      std::vector<array> batched;
      for (size_t i = 0; i < n; ++i) {
        Shape s = c.shapes[i];
        if (in_axes[i] >= 0) s.insert(s.begin() + in_axes[i], B);
        batched.push_back(random_array(s, float64, c.lo, c.hi, seed + 17 * i));
      }
      array got = vmap(f, in_axes, {out_axis})(batched)[0];
      std::vector<array> loop;
      for (int b = 0; b < B; ++b) {
        std::vector<array> xs;
        for (size_t i = 0; i < n; ++i) xs.push_back(in_axes[i] < 0 ? batched[i] : take(batched[i], b, in_axes[i]));
        loop.push_back(c.fn(xs));
      }
      array want = stack(loop, out_axis < 0 ? loop[0].ndim() : 0);
      std::ostringstream where;
      where << c.name << ": vmap with in_axes (";
      for (int a : in_axes) where << a << ",";
      where << ") out_axis " << out_axis;
      if (got.shape() != want.shape()) {
        return testing::AssertionFailure() << where.str() << ": shape " << got << " vs loop " << want;
      }
      auto r = all_close(to_vector(got), to_vector(want), 1e-12, 1e-12);
      if (!r) return testing::AssertionFailure() << where.str() << ": " << r.message();
    }
  }
  return testing::AssertionSuccess();
}

}  // namespace mica::test
