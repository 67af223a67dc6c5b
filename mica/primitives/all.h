// Every primitive family's declarations.
#pragma once
#include "mica/primitives/binary.h"
#include "mica/primitives/conv.h"
#include "mica/primitives/creation.h"
#include "mica/primitives/custom.h"
#include "mica/primitives/fused.h"
#include "mica/primitives/indexing.h"
#include "mica/primitives/matmul.h"
#include "mica/primitives/movement.h"
#include "mica/primitives/random.h"
#include "mica/primitives/reduce.h"
#include "mica/primitives/sort.h"
#include "mica/primitives/unary.h"
