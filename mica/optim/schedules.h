// Learning-rate schedules (MLX's mlx.optimizers schedules): functions of the step counter.
#pragma once
#include <functional>
#include <vector>

#include "mica/array.h"

namespace mica::optim {

/** A learning rate as a function of the step (a uint64 scalar array). */
using Schedule = std::function<array(const array& step)>;

/** init * decay_rate^step */
Schedule exponential_decay(float init, float decay_rate);
/** init * decay_rate^(step / step_size), rounded down */
Schedule step_decay(float init, float decay_rate, int step_size);
/** Cosine from init to end over decay_steps, then end. */
Schedule cosine_decay(float init, int decay_steps, float end = 0.0f);
/** Linear from init to end over steps, then end. */
Schedule linear_schedule(float init, float end, int steps);
/** schedules[i + 1] from boundaries[i] on, given the step counted from that boundary. */
Schedule join_schedules(const std::vector<Schedule>& schedules, const std::vector<int>& boundaries);

}  // namespace mica::optim
