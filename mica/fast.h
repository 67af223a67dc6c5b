// mica::fast: fused ops (layer_norm, rms_norm).
#pragma once
#include "mica/array.h"

namespace mica::fast {}
