// GPU copies between layouts and dtypes: the building block of astype, contiguous and the
// movement family (backend/cuda/copy.cu).
#pragma once
#include "mica/array.h"

namespace mica::cu {

/** Copies `in` (any strides, prepared on the GPU) into `out`'s existing GPU buffer (out's
 * strides), converting to out.dtype(). Shapes must match. */
void copy_into(const array& in, array& out, const Stream& s);
/** Allocates `out` row-contiguous on the GPU and fills it from `in`, converting dtype. */
void copy_to_row_contiguous(const array& in, array& out, const Stream& s);
/** `a` itself if row-contiguous, else a row-contiguous GPU copy (a prepared on s first). */
array ensure_row_contiguous(const array& a, const Stream& s);
/** Sets every element of `out` (its GPU buffer allocated) to `value` converted to out.dtype()
 *  (complex64: the real part), on stream s. */
void fill(array& out, double value, const Stream& s);

}  // namespace mica::cu
