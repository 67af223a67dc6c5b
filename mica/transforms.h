// Evaluation entry points (eval, async_eval); the function transforms join them here.
#pragma once
#include <set>
#include <string>
#include <vector>

#include "mica/array.h"

namespace mica {

/** Evaluates the arrays and everything they depend on; returns when their data is ready. */
void eval(std::vector<array> outputs);
/** Evaluates any number of arrays (or vectors of arrays). */
template <typename... Arrays>
  requires(sizeof...(Arrays) > 1)
void eval(Arrays&&... outputs) {
  std::vector<array> all;
  (append_arrays(all, std::forward<Arrays>(outputs)), ...);
  eval(std::move(all));
}
/** Schedules evaluation and returns at once; eval/item/synchronize wait for it. */
void async_eval(std::vector<array> outputs);

inline void append_arrays(std::vector<array>& all, const array& a) { all.push_back(a); }
inline void append_arrays(std::vector<array>& all, const std::vector<array>& v) {
  all.insert(all.end(), v.begin(), v.end());
}

namespace detail {
/** While on, eval records the name of every primitive it runs (for the coverage test). */
void set_record_primitives(bool on);
std::set<std::string> recorded_primitives();
}  // namespace detail

}  // namespace mica
