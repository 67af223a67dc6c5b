// Exception types beyond the standard ones. Python's KeyError maps to mica::KeyError (an
// std::out_of_range), ValueError to std::invalid_argument, IndexError to std::out_of_range.
#pragma once
#include <stdexcept>

namespace mica {

/** A key that is not in a dict, tree or module (Python's KeyError). */
class KeyError : public std::out_of_range {
 public:
  using std::out_of_range::out_of_range;
};

}  // namespace mica
