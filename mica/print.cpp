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
  get_global_formatter().print(os, v);
}

// Floating values: fixed notation with `precision` decimals when it is set, else as the stream
// prints them; the stream's own settings come back afterwards.
template <typename F>
void print_float(std::ostream& os, F v, int precision) {
  if (precision < 0) {
    os << v;
    return;
  }
  const auto flags = os.flags();
  const auto old = os.precision(precision);
  os << std::fixed << v;
  os.flags(flags);
  os.precision(old);
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

void PrintFormatter::print(std::ostream& os, bool v) {
  os << (v ? (capitalize_bool ? "True" : "true") : (capitalize_bool ? "False" : "false"));
}
void PrintFormatter::print(std::ostream& os, int8_t v) { os << static_cast<int>(v); }
void PrintFormatter::print(std::ostream& os, uint8_t v) { os << static_cast<int>(v); }
void PrintFormatter::print(std::ostream& os, int16_t v) { os << v; }
void PrintFormatter::print(std::ostream& os, uint16_t v) { os << v; }
void PrintFormatter::print(std::ostream& os, int32_t v) { os << v; }
void PrintFormatter::print(std::ostream& os, uint32_t v) { os << v; }
void PrintFormatter::print(std::ostream& os, int64_t v) { os << v; }
void PrintFormatter::print(std::ostream& os, uint64_t v) { os << v; }
void PrintFormatter::print(std::ostream& os, float16_t v) { print(os, static_cast<float>(v)); }
void PrintFormatter::print(std::ostream& os, bfloat16_t v) { print(os, static_cast<float>(v)); }
void PrintFormatter::print(std::ostream& os, float v) { print_float(os, v, format_options.precision); }
void PrintFormatter::print(std::ostream& os, double v) { print_float(os, v, format_options.precision); }
void PrintFormatter::print(std::ostream& os, complex64_t v) {
  print(os, v.real());
  os << (v.imag() < 0 || std::signbit(v.imag()) ? "-" : "+");
  print(os, std::fabs(v.imag()));
  os << "j";
}

PrintFormatter& get_global_formatter() {
  static PrintFormatter f;
  return f;
}
void set_printoptions(PrintOptions options) {
  if (options.precision < -1) {
    detail::fail("set_printoptions", "expected a precision of -1 (the default) or more, got " +
                                         std::to_string(options.precision) + ".");
  }
  get_global_formatter().format_options = options;
}

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
