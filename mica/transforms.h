// Evaluation entry points (eval, async_eval); the function transforms join them here.
#pragma once
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include "mica/array.h"

namespace mica {

/** Evaluates the arrays and everything they depend on; returns when their data is ready. */
void eval(std::vector<array> outputs);
/** Schedules evaluation and returns at once; eval/item/synchronize wait for it. */
void async_eval(std::vector<array> outputs);

namespace detail {
inline void append_arrays(std::vector<array>& all, const array& a) { all.push_back(a); }
inline void append_arrays(std::vector<array>& all, const std::vector<array>& v) {
  all.insert(all.end(), v.begin(), v.end());
}
template <typename T>
concept ArrayOrVector = std::is_same_v<std::decay_t<T>, array> || std::is_same_v<std::decay_t<T>, std::vector<array>>;
}  // namespace detail

/** Evaluates any number of arrays (or vectors of arrays). */
template <detail::ArrayOrVector... Arrays>
  requires(sizeof...(Arrays) >= 1)
void eval(Arrays&&... outputs) {
  std::vector<array> all;
  (detail::append_arrays(all, outputs), ...);
  eval(std::move(all));
}

namespace detail {
/** While on, eval records the name of every primitive it runs (for the coverage test). */
void set_record_primitives(bool on);
std::set<std::string> recorded_primitives();
}  // namespace detail

}  // namespace mica
