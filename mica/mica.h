// The umbrella header: everything in mica's core.
#pragma once
#include "mica/allocator.h"
#include "mica/array.h"
#include "mica/device.h"
#include "mica/dtype.h"
#include "mica/fast.h"
#include "mica/ops.h"
#include "mica/print.h"
#include "mica/random.h"
#include "mica/transforms.h"
