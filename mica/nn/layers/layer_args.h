// Argument types shared by the layers (MLX's `Union[int, tuple]` and `Union[float, tuple]`
// arguments) and the helpers that print layer configuration the way Python's repr does.
#pragma once
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

namespace mica::nn {

/** An int or a tuple of ints, as the `Union[int, tuple]` arguments of MLX's layers. A default
 *  constructed value is "none" (used where MLX accepts None, such as a pooling stride). */
class IntOrTuple {
 public:
  /** None. */
  IntOrTuple() = default;
  /** A single int (applied to every spatial dimension). */
  IntOrTuple(int v) : values_{v}, scalar_(true) {}  // NOLINT: implicit, as Python's int argument
  /** A tuple: `{3, 2}`. */
  IntOrTuple(std::initializer_list<int> v) : values_(v) {}
  /** A tuple from a vector. */
  IntOrTuple(std::vector<int> v) : values_(std::move(v)) {}  // NOLINT: implicit on purpose

  /** True for the default (None). */
  bool is_none() const { return !scalar_ && values_.empty(); }
  /** True if given as a single int. */
  bool is_scalar() const { return scalar_; }
  /** The values as given. */
  const std::vector<int>& values() const { return values_; }
  /** n values: the int repeated, or the tuple, which must have n entries; otherwise throws
   *  std::invalid_argument "[layer] expected <arg> to be an integer or a tuple of n integers, got ...". */
  std::vector<int> expand(int n, const char* layer, const char* arg) const;
  /** "3" for an int, "(3, 2)" for a tuple, "None" for none, as Python prints them. */
  std::string repr() const;

 private:
  std::vector<int> values_;
  bool scalar_ = false;
};

/** A float or a tuple of floats, as MLX's Upsample scale_factor. */
class FloatOrTuple {
 public:
  /** A single float (applied to every spatial dimension). */
  FloatOrTuple(double v) : values_{v}, scalar_(true) {}  // NOLINT: implicit, as Python's float argument
  /** A single int, taken as a float. */
  FloatOrTuple(int v) : FloatOrTuple(static_cast<double>(v)) {}  // NOLINT
  /** A tuple: `{2.0, 1.5}`. */
  FloatOrTuple(std::initializer_list<double> v) : values_(v) {}
  /** A tuple from a vector. */
  FloatOrTuple(std::vector<double> v) : values_(std::move(v)) {}  // NOLINT

  /** True if given as a single number. */
  bool is_scalar() const { return scalar_; }
  /** The values as given. */
  const std::vector<double>& values() const { return values_; }
  /** "2.0" or "(2.0, 1.5)", as Python prints floats. */
  std::string repr() const;

 private:
  std::vector<double> values_;
  bool scalar_ = false;
};

namespace detail {
/** A double as Python's repr prints it: shortest round-trip digits, "2.0", "1e-05", "0.1". */
std::string py_float(double v);
/** "True" or "False". */
inline std::string py_bool(bool b) { return b ? "True" : "False"; }
/** A tuple of ints as Python prints it: "(3,)", "(3, 2)". */
std::string py_tuple(const std::vector<int>& v);
}  // namespace detail

}  // namespace mica::nn
