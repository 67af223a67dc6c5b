// Optimizers, schedules and gradient clipping (mica::optim).
#pragma once
#include "mica/optim/optimizer.h"
#include "mica/optim/schedules.h"
