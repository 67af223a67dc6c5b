// IntOrTuple / FloatOrTuple and Python-style printing of layer configuration.
#include "mica/nn/layers/layer_args.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <stdexcept>
#include <string>

namespace mica::nn {

std::vector<int> IntOrTuple::expand(int n, const char* layer, const char* arg) const {
  if (scalar_) return std::vector<int>(static_cast<size_t>(n), values_[0]);
  if (static_cast<int>(values_.size()) != n) {
    throw std::invalid_argument(std::string("[") + layer + "] expected " + arg + " to be an integer or a tuple of " +
                                std::to_string(n) + (n == 1 ? " integer" : " integers") + ", got " + repr() + ".");
  }
  return values_;
}

std::string IntOrTuple::repr() const {
  if (scalar_) return std::to_string(values_[0]);
  if (values_.empty()) return "None";
  return detail::py_tuple(values_);
}

std::string FloatOrTuple::repr() const {
  if (scalar_) return detail::py_float(values_[0]);
  std::string s = "(";
  for (size_t i = 0; i < values_.size(); ++i) s += (i ? ", " : "") + detail::py_float(values_[i]);
  return s + (values_.size() == 1 ? ",)" : ")");
}

namespace detail {

std::string py_float(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  // Shortest round-trip digits in scientific form ("d.ddde-XX"), then laid out by Python's
  // rule: positional for exponents in [-4, 16), scientific otherwise.
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::scientific);
  std::string sci(buf, r.ptr);
  std::string sign;
  if (!sci.empty() && sci[0] == '-') {
    sign = "-";
    sci.erase(0, 1);
  }
  size_t e = sci.find('e');
  std::string mant = sci.substr(0, e);
  int exp = std::atoi(sci.c_str() + e + 1);
  std::string digits;
  for (char c : mant) {
    if (c != '.') digits += c;
  }
  if (exp >= -4 && exp < 16) {
    std::string out;
    if (exp >= 0) {
      size_t int_len = static_cast<size_t>(exp) + 1;
      if (digits.size() <= int_len) {
        out = digits + std::string(int_len - digits.size(), '0') + ".0";
      } else {
        out = digits.substr(0, int_len) + "." + digits.substr(int_len);
      }
    } else {
      out = "0." + std::string(static_cast<size_t>(-exp - 1), '0') + digits;
    }
    return sign + out;
  }
  std::string out = digits.substr(0, 1);
  if (digits.size() > 1) out += "." + digits.substr(1);
  int ae = std::abs(exp);
  out += std::string("e") + (exp < 0 ? "-" : "+") + (ae < 10 ? "0" : "") + std::to_string(ae);
  return sign + out;
}

std::string py_tuple(const std::vector<int>& v) {
  std::string s = "(";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + (v.size() == 1 ? ",)" : ")");
}

}  // namespace detail
}  // namespace mica::nn
