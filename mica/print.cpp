#include "mica/print.h"

#include <cmath>
#include <sstream>

#include "mica/ops/utils.h"
#include "mica/transforms.h"
#include "mica/types/cast.h"

namespace mica {

namespace {
// Arrays above this size print each long dimension as its first and last three entries.
constexpr size_t kSummarizeAbove = 1000;
constexpr int kEdge = 3;

template <typename T>
void print_scalar(std::ostream& os, T v) {
  if constexpr (std::is_same_v<T, bool>) {
    os << (v ? "True" : "False");
  } else if constexpr (is_complex_v<T>) {
    os << v.real() << (v.imag() < 0 || std::signbit(v.imag()) ? "-" : "+") << std::fabs(v.imag()) << "j";
  } else if constexpr (std::is_same_v<T, int8_t> || std::is_same_v<T, uint8_t>) {
    os << static_cast<int>(v);
  } else if constexpr (is_half_v<T>) {
    os << static_cast<float>(v);
  } else {
    os << v;
  }
}

template <typename T>
void print_dim(std::ostream& os, const array& a, int dim, int64_t offset, bool summarize) {
  int n = a.shape()[dim];
  const T* p = a.data<T>();
  auto item = [&](int i) {
    int64_t off = offset + i * a.strides()[dim];
    if (dim + 1 == static_cast<int>(a.ndim())) print_scalar(os, p[off]);
    else print_dim<T>(os, a, dim + 1, off, summarize);
  };
  std::string sep = ", ";
  if (dim + 1 < static_cast<int>(a.ndim())) {
    sep = ",\n" + std::string(7 + dim, ' ');
  }
  os << "[";
  bool cut = summarize && n > 2 * kEdge;
  for (int i = 0; i < n; ++i) {
    if (cut && i == kEdge) {
      os << "..." << sep;
      i = n - kEdge;
    }
    item(i);
    if (i + 1 < n) os << sep;
  }
  os << "]";
}
}  // namespace

std::ostream& operator<<(std::ostream& os, array a) {
  a.eval();
  os << "array(";
  if (a.size() == 0) {
    os << "[]";
  } else if (a.ndim() == 0) {
    dispatch_dtype(a.dtype(), [&](auto t) { print_scalar(os, a.data<typename decltype(t)::type>()[0]); });
  } else {
    bool summarize = a.size() > kSummarizeAbove;
    dispatch_dtype(a.dtype(), [&](auto t) { print_dim<typename decltype(t)::type>(os, a, 0, 0, summarize); });
  }
  return os << ", dtype=" << a.dtype() << ")";
}

std::ostream& operator<<(std::ostream& os, const Shape& s) { return os << detail::shape_str(s); }
std::ostream& operator<<(std::ostream& os, const Device& d) {
  return os << "Device(" << (d.type == Device::cpu ? "cpu" : "gpu") << ", " << d.index << ")";
}
std::ostream& operator<<(std::ostream& os, const Stream& s) {
  return os << "Stream(" << s.device << ", " << s.index << ")";
}

}  // namespace mica
