// mica::optim: MLX's optimizers and learning-rate schedules over parameter trees, and
// ShardedOptimizer (optimizer-state sharding over mica::distributed, beyond MLX).
#pragma once
#include "mica/optim/optimizer.h"
#include "mica/optim/schedules.h"
#include "mica/optim/sharded.h"
