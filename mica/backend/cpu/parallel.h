// A fork-join pool for kernels: large ops split across cores, small ones run inline.
#pragma once
#include <cstdint>
#include <functional>

namespace mica::cpu {

/** Threads kernels may use (the cores of the machine, or MICA_NUM_THREADS). */
int num_threads();
/** True on a thread that is running a chunk of a parallel_for (nested calls run inline). */
bool in_parallel();
/** Runs fn(begin, end) over [0, n) in chunks of at least `grain` items on the pool; inline when
 *  called from inside a chunk. */
void parallel_for_pool(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);
/** Runs fn(begin, end) over [0, n) in chunks of at least `grain` items, on up to
 * num_threads() threads; inline (no std::function, no pool) when n < 2 * grain. */
template <typename F>
inline void parallel_for(int64_t n, int64_t grain, F&& fn) {
  if (n <= 0) return;
  if (n < 2 * grain) {
    fn(int64_t{0}, n);
    return;
  }
  parallel_for_pool(n, grain, std::function<void(int64_t, int64_t)>(std::ref(fn)));
}
/** Items per thread below which elementwise work stays on one thread. */
inline constexpr int64_t kElementwiseGrain = 1 << 15;

}  // namespace mica::cpu
