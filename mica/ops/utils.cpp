#include "mica/ops/utils.h"

#include <algorithm>
#include <limits>

namespace mica {

Shape broadcast_shapes(const Shape& a, const Shape& b) {
  size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    int32_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int32_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    if (da != db && da != 1 && db != 1) {
      throw std::invalid_argument("[broadcast_shapes] expected shapes that broadcast, got " + detail::shape_str(a) +
                                  " and " + detail::shape_str(b) + ".");
    }
    out[i] = da == 1 ? db : da;
  }
  return out;
}

Shape broadcast_shapes(const std::vector<Shape>& shapes) {
  if (shapes.empty()) return {};
  Shape out = shapes[0];
  for (size_t i = 1; i < shapes.size(); ++i) out = broadcast_shapes(out, shapes[i]);
  return out;
}

Dtype result_type(const std::vector<array>& arrays) {
  Dtype d = bool_;
  for (const auto& x : arrays) d = promote_types(d, x.dtype());
  return d;
}
Dtype result_type(const array& a, const array& b) { return promote_types(a.dtype(), b.dtype()); }
Dtype result_type(const array& a, const array& b, const array& c) {
  return promote_types(result_type(a, b), c.dtype());
}

namespace detail {

std::string shape_str(const Shape& s) {
  std::ostringstream os;
  os << "(";
  for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  if (s.size() == 1) os << ",";
  os << ")";
  return os.str();
}

}  // namespace detail

int normalize_axis_index(int axis, int ndim, const std::string& msg_prefix) {
  if (axis < -ndim || axis >= ndim) {
    throw std::invalid_argument(msg_prefix + (msg_prefix.empty() ? "" : " ") + "Expected an axis in [" +
                                std::to_string(-ndim) + ", " + std::to_string(ndim) + ") for an array with " +
                                std::to_string(ndim) + " dimensions, got " + std::to_string(axis) + ".");
  }
  return axis < 0 ? axis + ndim : axis;
}

namespace detail {

int normalize_axis(int axis, int ndim, const char* op) {
  if (axis < -ndim || axis >= ndim) {
    throw std::out_of_range(std::string("[") + op + "] expected an axis in [" + std::to_string(-ndim) + ", " +
                            std::to_string(ndim) + ") for an array with " + std::to_string(ndim) +
                            " dimensions, got " + std::to_string(axis) + ".");
  }
  return axis < 0 ? axis + ndim : axis;
}

std::vector<int> normalize_axes(const std::vector<int>& axes, int ndim, const char* op) {
  std::vector<int> out;
  out.reserve(axes.size());
  for (int a : axes) out.push_back(normalize_axis(a, ndim, op));
  std::sort(out.begin(), out.end());
  if (std::adjacent_find(out.begin(), out.end()) != out.end()) {
    throw std::invalid_argument(std::string("[") + op + "] expected distinct axes, got a repeated axis.");
  }
  return out;
}

int32_t checked_dim(int64_t n, const char* op) {
  if (n < std::numeric_limits<int32_t>::min() || n > std::numeric_limits<int32_t>::max()) {
    throw std::overflow_error(std::string("[") + op + "] expected dimensions within the 32-bit range [" +
                              std::to_string(std::numeric_limits<int32_t>::min()) + ", " +
                              std::to_string(std::numeric_limits<int32_t>::max()) + "], got " + std::to_string(n) +
                              ".");
  }
  return static_cast<int32_t>(n);
}

Dtype to_float_type(Dtype d) { return is_inexact(d) ? d : float32; }

void fail(const char* op, const std::string& msg) { throw std::invalid_argument(std::string("[") + op + "] " + msg); }

}  // namespace detail
}  // namespace mica
