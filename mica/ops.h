// All public ops, by family.
#pragma once
#include "mica/ops/binary.h"
#include "mica/ops/conv.h"
#include "mica/ops/creation.h"
#include "mica/ops/indexing.h"
#include "mica/ops/matmul.h"
#include "mica/ops/movement.h"
#include "mica/ops/quantized.h"
#include "mica/ops/reduce.h"
#include "mica/ops/sort.h"
#include "mica/ops/unary.h"
#include "mica/ops/utils.h"
