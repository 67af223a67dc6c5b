// mica::optim: MLX's optimizers and learning-rate schedules over parameter trees.
#pragma once
#include "mica/optim/optimizer.h"
#include "mica/optim/schedules.h"
