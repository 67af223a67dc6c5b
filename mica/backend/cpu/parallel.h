// A fork-join pool for kernels: large ops split across cores, small ones run inline.
#pragma once
#include <cstdint>
#include <functional>

namespace mica::cpu {

/** Threads kernels may use (the cores of the machine, or MICA_NUM_THREADS). */
int num_threads();
/** Runs fn(begin, end) over [0, n) in chunks of at least `grain` items, on up to
 * num_threads() threads; inline when n < 2 * grain. */
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);
/** Items per thread below which elementwise work stays on one thread. */
inline constexpr int64_t kElementwiseGrain = 1 << 15;

}  // namespace mica::cpu
