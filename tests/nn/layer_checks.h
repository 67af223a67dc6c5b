// Shared by the layer tests (bilinear, embedding, dropout, convolution, pooling,
// normalization, upsample): parameter listings and finite-difference gradient checks through a
// layer, with respect to its input and to its parameters (written into it with update()).
#pragma once
#include <gtest/gtest.h>

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

}  // namespace mica::layertest
