// Printing arrays the way MLX prints them: array([[1, 2], [3, 4]], dtype=int32).
#pragma once
#include <ostream>

#include "mica/array.h"

namespace mica {

/** Prints (and evaluates) the array. */
std::ostream& operator<<(std::ostream& os, array a);
std::ostream& operator<<(std::ostream& os, const Shape& s);
std::ostream& operator<<(std::ostream& os, const Device& d);
std::ostream& operator<<(std::ostream& os, const Stream& s);

}  // namespace mica
