// Printing arrays the way MLX prints them: array([[1, 2], [3, 4]], dtype=int32).
#pragma once
#include <ostream>

#include "mica/array.h"

namespace mica {

/** Options of array printing (MLX's PrintOptions): `precision` >= 0 prints floating values in
 * fixed notation with that many decimals; -1 (the default) prints them as std::ostream does. */
struct PrintOptions {
  int precision{-1};
};

/** How array entries print (MLX's PrintFormatter); operator<< uses the global one. */
struct PrintFormatter {
  void print(std::ostream& os, bool v);
  void print(std::ostream& os, int8_t v);
  void print(std::ostream& os, uint8_t v);
  void print(std::ostream& os, int16_t v);
  void print(std::ostream& os, uint16_t v);
  void print(std::ostream& os, int32_t v);
  void print(std::ostream& os, uint32_t v);
  void print(std::ostream& os, int64_t v);
  void print(std::ostream& os, uint64_t v);
  void print(std::ostream& os, float16_t v);
  void print(std::ostream& os, bfloat16_t v);
  void print(std::ostream& os, float v);
  void print(std::ostream& os, double v);
  void print(std::ostream& os, complex64_t v);

  /** true: True/False (as Python prints them); false: true/false. */
  bool capitalize_bool{true};
  PrintOptions format_options;
};

/** Sets the global formatter's options (every later print of an array). */
void set_printoptions(PrintOptions options);
/** The formatter operator<< uses. */
PrintFormatter& get_global_formatter();

/** Prints (and evaluates) the array. */
std::ostream& operator<<(std::ostream& os, array a);
std::ostream& operator<<(std::ostream& os, const Shape& s);
std::ostream& operator<<(std::ostream& os, const Device& d);
std::ostream& operator<<(std::ostream& os, const Stream& s);

}  // namespace mica
