#include "mica/ops/creation.h"

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <limits>
#include <numbers>

#include "mica/ops/binary.h"
#include "mica/ops/movement.h"
#include "mica/ops/unary.h"
#include "mica/ops/utils.h"
#include "mica/primitives/creation.h"

namespace mica {

array arange(double start, double stop, double step, Dtype dtype, StreamOrDevice s) {
  if (dtype == bool_) detail::fail("arange", "expected a numeric dtype, got bool.");
  if (dtype == complex64) detail::fail("arange", "expected a real dtype, got complex64.");
  if (std::isnan(start) || std::isnan(stop) || std::isnan(step)) {
    detail::fail("arange", "expected finite start, stop and step, got NaN.");
  }
  if (std::isinf(start) || std::isinf(stop)) detail::fail("arange", "expected finite start and stop, got inf.");
  if (step == 0) detail::fail("arange", "expected a non-zero step, got 0.");
  double n = std::ceil((stop - start) / step);
  if (n > static_cast<double>(INT32_MAX)) {
    detail::fail("arange", "expected at most 2^31 - 1 elements, got " + std::to_string(n) + ".");
  }
  int32_t size = n > 0 ? static_cast<int32_t>(n) : 0;
  return array({size}, dtype, std::make_shared<Arange>(to_stream(s), start, stop, step), {});
}
array arange(double start, double stop, double step, StreamOrDevice s) { return arange(start, stop, step, float32, s); }
array arange(double start, double stop, Dtype dtype, StreamOrDevice s) { return arange(start, stop, 1.0, dtype, s); }
array arange(double start, double stop, StreamOrDevice s) { return arange(start, stop, 1.0, float32, s); }
array arange(double stop, Dtype dtype, StreamOrDevice s) { return arange(0.0, stop, 1.0, dtype, s); }
array arange(double stop, StreamOrDevice s) { return arange(0.0, stop, 1.0, float32, s); }
array arange(int start, int stop, int step, StreamOrDevice s) { return arange(start, stop, step, int32, s); }
array arange(int start, int stop, StreamOrDevice s) { return arange(start, stop, 1, int32, s); }
array arange(int stop, StreamOrDevice s) { return arange(0, stop, 1, int32, s); }

array linspace(double start, double stop, int num, Dtype dtype, StreamOrDevice s) {
  if (num < 0) detail::fail("linspace", "expected a non-negative number of samples, got " + std::to_string(num) + ".");
  if (num == 1) return astype(array(std::vector<double>{start}.begin(), {1}, float32), dtype, s);
  double step = num > 1 ? (stop - start) / (num - 1) : 0.0;
  auto t = arange(0.0, static_cast<double>(num), 1.0, float32, s);
  auto out = add(multiply(t, array(step, float32), s), array(start, float32), s);
  // The last sample is exactly `stop`.
  if (num > 1) out = where(equal(t, array(static_cast<float>(num - 1)), s), array(stop, float32), out, s);
  return astype(out, dtype, s);
}

namespace detail {
array full_view(Shape shape, array vals, Dtype dtype, StreamOrDevice s) {
  for (auto d : shape) {
    if (d < 0) fail("full", "expected non-negative dimensions, got " + shape_str(shape) + ".");
  }
  return broadcast_to(astype(std::move(vals), dtype, s), shape, s);
}
array full_view(Shape shape, array vals, StreamOrDevice s) {
  Dtype d = vals.dtype();
  return full_view(std::move(shape), std::move(vals), d, s);
}
array zeros_view(const Shape& shape, Dtype dtype, StreamOrDevice s) { return full_view(shape, array(0, dtype), s); }
array zeros_like_view(const array& a, StreamOrDevice s) { return zeros_view(a.shape(), a.dtype(), s); }
array zeros_like_view(const array& a, Dtype dtype, StreamOrDevice s) { return zeros_view(a.shape(), dtype, s); }
array ones_view(const Shape& shape, Dtype dtype, StreamOrDevice s) { return full_view(shape, array(1, dtype), s); }
array ones_like_view(const array& a, StreamOrDevice s) { return ones_view(a.shape(), a.dtype(), s); }
array ones_like_view(const array& a, Dtype dtype, StreamOrDevice s) { return ones_view(a.shape(), dtype, s); }
array full_like_view(const array& a, const array& vals, StreamOrDevice s) {
  return full_view(a.shape(), vals, a.dtype(), s);
}
}  // namespace detail

// The public forms: the view, written out row-major (MLX's Full writes every element).
array full(Shape shape, array vals, Dtype dtype, StreamOrDevice s) {
  return contiguous(detail::full_view(std::move(shape), std::move(vals), dtype, s), false, s);
}
array full(Shape shape, array vals, StreamOrDevice s) {
  Dtype d = vals.dtype();
  return full(std::move(shape), std::move(vals), d, s);
}
array zeros(const Shape& shape, Dtype dtype, StreamOrDevice s) { return full(shape, array(0, dtype), s); }
array zeros(const Shape& shape, StreamOrDevice s) { return zeros(shape, float32, s); }
array zeros_like(const array& a, StreamOrDevice s) { return zeros(a.shape(), a.dtype(), s); }
array zeros_like(const array& a, Dtype dtype, StreamOrDevice s) { return zeros(a.shape(), dtype, s); }
array ones(const Shape& shape, Dtype dtype, StreamOrDevice s) { return full(shape, array(1, dtype), s); }
array ones(const Shape& shape, StreamOrDevice s) { return ones(shape, float32, s); }
array ones_like(const array& a, StreamOrDevice s) { return ones(a.shape(), a.dtype(), s); }
array ones_like(const array& a, Dtype dtype, StreamOrDevice s) { return ones(a.shape(), dtype, s); }
array full_like(const array& a, const array& vals, StreamOrDevice s) { return full(a.shape(), vals, a.dtype(), s); }
array full_like(const array& a, const array& vals, Dtype dtype, StreamOrDevice s) {
  return full(a.shape(), vals, dtype, s);
}

array eye(int n, int m, int k, Dtype dtype, StreamOrDevice s) {
  if (n < 0 || m < 0) {
    detail::fail("eye", "expected non-negative n and m, got " + std::to_string(n) + " and " + std::to_string(m) + ".");
  }
  if (n == 0 || m == 0) return zeros({n, m}, dtype, s);  // no index vectors as long as the other side
  auto rows = reshape(arange(0, n, s), {n, 1}, s);
  auto cols = reshape(arange(0, m, s), {1, m}, s);
  return astype(equal(subtract(cols, rows, s), array(k), s), dtype, s);
}
array eye(int n, Dtype dtype, StreamOrDevice s) { return eye(n, n, 0, dtype, s); }
array eye(int n, int m, Dtype dtype, StreamOrDevice s) { return eye(n, m, 0, dtype, s); }
array identity(int n, Dtype dtype, StreamOrDevice s) { return eye(n, n, 0, dtype, s); }

array tri(int n, int m, int k, Dtype type, StreamOrDevice s) {
  if (n < 0 || m < 0) {
    detail::fail("tri", "expected non-negative n and m, got " + std::to_string(n) + " and " + std::to_string(m) + ".");
  }
  if (n == 0 || m == 0) return zeros({n, m}, type, s);  // no index vectors as long as the other side
  auto rows = reshape(arange(0, n, s), {n, 1}, s);
  auto cols = reshape(arange(0, m, s), {1, m}, s);
  return astype(less_equal(subtract(cols, rows, s), array(k), s), type, s);
}
array tri(int n, Dtype type, StreamOrDevice s) { return tri(n, n, 0, type, s); }

array tril(array x, int k, StreamOrDevice s) {
  if (x.ndim() < 2) detail::fail("tril", "expected an array with at least 2 dimensions, got " + std::to_string(x.ndim()) + ".");
  auto mask = tri(x.shape(-2), x.shape(-1), k, bool_, s);
  return where(mask, x, detail::zeros_like_view(x, s), s);
}
array triu(array x, int k, StreamOrDevice s) {
  if (x.ndim() < 2) detail::fail("triu", "expected an array with at least 2 dimensions, got " + std::to_string(x.ndim()) + ".");
  // Above diagonal k - 1; every j - i of an array is above INT_MIN, so k = INT_MIN keeps all.
  auto mask = tri(x.shape(-2), x.shape(-1), std::max(k, std::numeric_limits<int>::min() + 1) - 1, bool_, s);
  return where(mask, detail::zeros_like_view(x, s), x, s);
}

std::vector<array> meshgrid(const std::vector<array>& arrays, bool sparse, const std::string& indexing,
                            StreamOrDevice s) {
  if (indexing != "xy" && indexing != "ij") {
    detail::fail("meshgrid", "expected indexing 'xy' or 'ij', got '" + indexing + "'.");
  }
  int n = static_cast<int>(arrays.size());
  std::vector<array> out;
  for (int i = 0; i < n; ++i) {
    if (arrays[i].ndim() != 1) {
      detail::fail("meshgrid", "expected 1-D arrays, got an array with " + std::to_string(arrays[i].ndim()) + " dimensions.");
    }
    Shape shape(n, 1);
    int pos = i;
    if (indexing == "xy" && n >= 2 && i < 2) pos = 1 - i;
    shape[pos] = arrays[i].shape(0);
    out.push_back(reshape(arrays[i], shape, s));
  }
  if (!sparse && n > 0) {
    std::vector<Shape> shapes;
    for (auto& a : out) shapes.push_back(a.shape());
    Shape full_shape = broadcast_shapes(shapes);
    for (auto& a : out) a = broadcast_to(a, full_shape, s);
  }
  return out;
}

// ---- window functions ----

namespace {
// sum_k c_k cos(2 pi k n / (M - 1)) over n = 0 .. M - 1 (float32): the cosine windows.
array cosine_window(int M, std::initializer_list<double> c, StreamOrDevice s) {
  if (M < 1) return zeros({0}, float32, s);
  if (M == 1) return ones({1}, float32, s);
  array t = multiply(arange(0.0, double(M), 1.0, float32, s), array(float(2.0 * std::numbers::pi / (M - 1))), s);
  auto ck = c.begin();
  array w = full({M}, array(float(*ck)), s);
  for (int k = 1; ++ck != c.end(); ++k) w = add(w, multiply(array(float(*ck)), cos(multiply(t, array(float(k)), s), s), s), s);
  return w;
}
}  // namespace

array hanning(int M, StreamOrDevice s) { return cosine_window(M, {0.5, -0.5}, s); }
array hamming(int M, StreamOrDevice s) { return cosine_window(M, {0.54, -0.46}, s); }
array blackman(int M, StreamOrDevice s) { return cosine_window(M, {0.42, -0.5, 0.08}, s); }
array bartlett(int M, StreamOrDevice s) {
  if (M < 1) return zeros({0}, float32, s);
  if (M == 1) return ones({1}, float32, s);
  array n = arange(0.0, double(M), 1.0, float32, s);
  return subtract(array(1.0f), abs(subtract(multiply(n, array(float(2.0 / (M - 1)))), array(1.0f), s), s), s);
}

}  // namespace mica
