// Shared by the layer tests (bilinear, embedding, dropout, convolution, pooling,
// normalization, upsample, positional, recurrent, transformer): parameter listings,
// finite-difference gradient checks through a layer with respect to its input and to its
// parameters (written into it with update()), index helpers, and the deterministic inputs and
// parameters the MLX reference scripts use.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "mica/mica.h"
#include "mica/nn.h"
#include "reference/reference.h"
#include "reference/transform_checks.h"

namespace mica::layertest {

using Keys = std::vector<std::string>;
using D = Tree::Dict;

/** The keys of tree_flatten(t). */
inline Keys keys(const Tree& t) {
  Keys k;
  for (auto& [p, v] : tree_flatten(t)) k.push_back(p);
  return k;
}

/** (key, shape) of every parameter, in flatten order. */
inline std::vector<std::pair<std::string, Shape>> param_shapes(const nn::Module& m) {
  std::vector<std::pair<std::string, Shape>> out;
  for (auto& [p, v] : tree_flatten(m.parameters())) out.emplace_back(p, v.as_array().shape());
  return out;
}

/** The values of an array as doubles. */
inline std::vector<double> values(const array& a) { return test::to_vector(a); }

/** d/dx of f at a random float64 x of `shape` (uniform in [lo, hi]) against central differences,
 *  and the jvp/vjp adjoint identity. */
inline testing::AssertionResult input_grad_ok(const std::string& name, const std::function<array(const array&)>& f,
                                              const Shape& shape, double lo = -2.0, double hi = 2.0,
                                              double rtol = 1e-5, double atol = 1e-6) {
  test::GradCase c{name, [f](const std::vector<array>& xs) { return f(xs[0]); }, {shape}, lo, hi, rtol, atol, false};
  auto r = test::vjp_matches_finite_differences(c);
  if (!r) return r;
  return test::jvp_vjp_adjoint(c);
}

/** d/d(params) of fwd() against central differences: the inputs of the check are the named
 *  top-level parameters of `m` (float64 values drawn in [lo, hi]), written into m with update()
 *  before fwd() runs. */
inline testing::AssertionResult param_grad_ok(const std::string& name, nn::Module& m, const Keys& params,
                                              const std::function<array()>& fwd, double lo = -1.0, double hi = 1.0,
                                              double rtol = 1e-5, double atol = 1e-6) {
  std::vector<Shape> shapes;
  for (auto& k : params) shapes.push_back(m.param(k).shape());
  auto fn = [&m, params, fwd](const std::vector<array>& xs) {
    D d;
    for (size_t i = 0; i < params.size(); ++i) d.insert_or_assign(params[i], xs[i]);
    m.update(Tree(std::move(d)));
    return fwd();
  };
  test::GradCase c{name, fn, shapes, lo, hi, rtol, atol, false};
  return test::vjp_matches_finite_differences(c);
}

/** True if f throws std::invalid_argument whose message starts with "[op] expected". */
template <class F>
testing::AssertionResult rejects(const char* op, F&& f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    std::string msg = e.what(), want = std::string("[") + op + "] expected";
    if (msg.rfind(want, 0) == 0) return testing::AssertionSuccess();
    return testing::AssertionFailure() << "message '" << msg << "' does not start with '" << want << "'";
  } catch (const std::exception& e) {
    return testing::AssertionFailure() << "threw another exception type: " << e.what();
  }
  return testing::AssertionFailure() << "did not throw";
}

/** Row-major flat index of `idx` in `shape`. */
inline size_t flat(const std::vector<int>& idx, const Shape& shape) {
  size_t f = 0;
  for (size_t i = 0; i < shape.size(); ++i) f = f * shape[i] + idx[i];
  return f;
}

/** Calls fn(multi-index) for every index of `shape`, in row-major order. */
template <class F>
void for_each_index(const Shape& shape, F&& fn) {
  size_t total = 1;
  for (int s : shape) total *= s;
  std::vector<int> idx(shape.size(), 0);
  for (size_t t = 0; t < total; ++t) {
    fn(idx);
    for (int i = static_cast<int>(shape.size()) - 1; i >= 0; --i) {
      if (++idx[i] < shape[i]) break;
      idx[i] = 0;
    }
  }
}

/** A float32 input whose element j is cos(0.37 j + s), as the MLX reference scripts build it. */
inline array inp(const Shape& shape, double s) {
  size_t n = 1;
  for (int d : shape) n *= d;
  std::vector<float> v(n);
  for (size_t j = 0; j < n; ++j) v[j] = static_cast<float>(std::cos(0.37 * j + s));
  return array(v.begin(), shape, float32);
}

/** Parameter k (flatten order) gets 0.5 sin(0.7 j + 1.3 k + 0.1), as the MLX scripts do. */
inline void fill(nn::Module& m) {
  std::vector<std::pair<std::string, array>> items;
  int k = 0;
  for (auto& [path, leaf] : tree_flatten_arrays(m.parameters())) {
    std::vector<float> v(leaf.size());
    for (size_t j = 0; j < v.size(); ++j) v[j] = static_cast<float>(0.5 * std::sin(0.7 * j + 1.3 * k + 0.1));
    items.emplace_back(path, array(v.begin(), leaf.shape(), float32));
    ++k;
  }
  m.update(tree_unflatten(items));
}

}  // namespace mica::layertest
