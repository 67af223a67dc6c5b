#include "mica/optim/schedules.h"

#include <numbers>
#include <stdexcept>
#include <string>

#include "mica/ops.h"

namespace mica::optim {

namespace {
array as_float(const array& step) { return astype(step, float32); }
void positive(const char* name, const char* what, int v) {
  if (v < 1) {
    throw std::invalid_argument(std::string("[") + name + "] expected " + what + " > 0, got " + std::to_string(v) + ".");
  }
}
}  // namespace

Schedule exponential_decay(float init, float decay_rate) {
  return [=](const array& step) { return init * power(array(decay_rate), as_float(step)); };
}

Schedule step_decay(float init, float decay_rate, int step_size) {
  positive("step_decay", "step_size", step_size);
  return [=](const array& step) {
    array k = floor_divide(step, array(static_cast<uint64_t>(step_size), step.dtype()));
    return init * power(array(decay_rate), as_float(k));
  };
}

Schedule cosine_decay(float init, int decay_steps, float end) {
  positive("cosine_decay", "decay_steps", decay_steps);
  return [=](const array& step) {
    array s = minimum(as_float(step), array(static_cast<float>(decay_steps)));
    array decay = 0.5f * (1.0f + cos(s * static_cast<float>(std::numbers::pi / decay_steps)));
    return end + decay * (init - end);
  };
}

Schedule linear_schedule(float init, float end, int steps) {
  positive("linear_schedule", "steps", steps);
  return [=](const array& step) {
    array s = minimum(as_float(step), array(static_cast<float>(steps)));
    return s * ((end - init) / steps) + init;
  };
}

Schedule join_schedules(const std::vector<Schedule>& schedules, const std::vector<int>& boundaries) {
  if (schedules.empty() || boundaries.size() + 1 != schedules.size()) {
    throw std::invalid_argument("[join_schedules] expected " + std::to_string(schedules.empty() ? 0 : schedules.size() - 1) +
                                " boundaries (one fewer than the schedules), got " + std::to_string(boundaries.size()) +
                                ".");
  }
  return [=](const array& step) {
    array out = schedules[0](step);
    for (size_t i = 0; i < boundaries.size(); ++i) {
      array b = array(static_cast<uint64_t>(boundaries[i]), step.dtype());
      // Before the boundary the step difference would wrap around (unsigned): clamp it.
      array since = where(less(step, b), zeros_like(step), subtract(step, b));
      out = where(less(step, b), out, schedules[i + 1](since));
    }
    return out;
  };
}

}  // namespace mica::optim
