// Copies between layouts and dtypes; the building block of astype, contiguous and views.
#pragma once
#include "mica/array.h"

namespace mica::cpu {

/** Copies `in` (any strides) into `out`'s existing buffer (out's strides), converting to
 * out.dtype(). Shapes must match. */
void copy_into(const array& in, array& out);
/** Allocates `out` row-contiguous and fills it from `in`, converting dtype. */
void copy_to_row_contiguous(const array& in, array& out);
/** `a` itself if row-contiguous, else an evaluated row-contiguous copy. */
array ensure_row_contiguous(const array& a);
/** Fills out (allocated, row-contiguous) with the scalar `value` (of dtype value.dtype()). */
void fill(const array& value, array& out);

}  // namespace mica::cpu
