// Shared pieces of op building: axis normalization, broadcasting, promotion, error text.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "mica/array.h"

namespace mica {

/** Broadcast shape of two or more shapes (NumPy rules); throws `[broadcast_shapes] …`. */
Shape broadcast_shapes(const Shape& a, const Shape& b);
Shape broadcast_shapes(const std::vector<Shape>& shapes);
/** The dtype the arrays promote to together (bool_ for none), as MLX's result_type. */
Dtype result_type(const std::vector<array>& arrays);
Dtype result_type(const array& a, const array& b);
Dtype result_type(const array& a, const array& b, const array& c);
/** `axis` normalized into [0, ndim), as MLX's normalize_axis_index; throws
 * std::invalid_argument (its message starting with `msg_prefix`) when it is out of range. */
int normalize_axis_index(int axis, int ndim, const std::string& msg_prefix = "");

namespace detail {
/** "(2, 3)" */
std::string shape_str(const Shape& s);
/** Normalizes an axis into [0, ndim); throws std::out_of_range `[op] expected …`. */
int normalize_axis(int axis, int ndim, const char* op);
/** Normalizes and checks for repeats; returns sorted axes. */
std::vector<int> normalize_axes(const std::vector<int>& axes, int ndim, const char* op);
/** Promotes to a floating type (ints/bool -> float32), keeping float and complex types. */
Dtype to_float_type(Dtype d);
/** A computed dimension as int32; throws std::overflow_error `[op] expected …` if it does not
 * fit (shapes hold 32-bit dimensions, as in MLX). */
int32_t checked_dim(int64_t n, const char* op);
/** Throws std::invalid_argument("[op] " + msg). */
[[noreturn]] void fail(const char* op, const std::string& msg);
}  // namespace detail

}  // namespace mica
