// Test support: random inputs, double-precision references and comparisons.
#pragma once
#include <gtest/gtest.h>

#include <functional>
#include <vector>

#include "mica/mica.h"

namespace mica::test {

/** Random values uniform in [lo, hi] (rounded for integer dtypes), from a fixed seed. */
array random_array(const Shape& shape, Dtype dtype, double lo = -2.0, double hi = 2.0, uint32_t seed = 1);
/** The elements (real parts) as doubles in row-major order; evaluates; honours strides. */
std::vector<double> to_vector(array a);
/** Imaginary parts of a complex64 array in row-major order. */
std::vector<double> to_vector_imag(array a);
/** Row-major multi-index -> flat index of `shape` broadcast from `from`. */
size_t broadcast_index(size_t flat, const Shape& out, const Shape& from);
/** f applied elementwise. */
std::vector<double> map_ref(const std::vector<double>& x, const std::function<double(double)>& f);
/** f applied to a and b broadcast to `out`. */
std::vector<double> binary_ref(const std::vector<double>& a, const Shape& sa, const std::vector<double>& b,
                               const Shape& sb, const Shape& out, const std::function<double(double, double)>& f);
/** |got - want| <= atol + rtol * |want| everywhere (NaNs must match, infs must be equal). */
testing::AssertionResult all_close(const std::vector<double>& got, const std::vector<double>& want, double rtol,
                                   double atol);
/** Shape, then values, of an array against a reference. */
testing::AssertionResult matches(const array& got, const Shape& shape, const std::vector<double>& want,
                                 double rtol = 1e-6, double atol = 1e-6);
/** Same shape and dtype, and every element within rtol of want relative to max(1, |want|) (NaN
 *  matches NaN). */
testing::AssertionResult close(const array& got, const array& want, double rtol = 1e-6);
/** Tolerance suited to a dtype's precision. */
double tol_for(Dtype d);
/** True if calling f throws E whose message starts with "[op]". */
template <typename E, typename F>
testing::AssertionResult throws_op(const char* op, F&& f) {
  try {
    f();
  } catch (const E& e) {
    std::string msg = e.what();
    std::string want = std::string("[") + op + "]";
    if (msg.rfind(want, 0) == 0) return testing::AssertionSuccess();
    return testing::AssertionFailure() << "message '" << msg << "' does not start with " << want;
  } catch (const std::exception& e) {
    return testing::AssertionFailure() << "threw another exception type: " << e.what();
  }
  return testing::AssertionFailure() << "did not throw";
}

}  // namespace mica::test
