// Sorting and selection primitives (along one axis, normalized to [0, ndim)). Floating values
// order NaNs last; argsort is stable; outputs are row-major. ArgSort and ArgPartition give uint32.
#pragma once
#include "mica/primitives/primitive.h"

namespace mica {

#define MICA_DECLARE_SORT(NAME)                                                           \
  class NAME : public UnaryPrimitive {                                                    \
   public:                                                                                \
    NAME(Stream s, int axis, int kth = 0) : UnaryPrimitive(s), axis_(axis), kth_(kth) {}  \
    MICA_DEFINE_UNARY_PRIMITIVE_MEMBERS(NAME) MICA_DEFINE_SAVE                                             \
    MICA_DEFINE_GRADS                                                                     \
    bool is_equivalent(const Primitive& o) const override {                               \
      auto* p = dynamic_cast<const NAME*>(&o);                                            \
      return p && p->axis_ == axis_ && p->kth_ == kth_;                                   \
    }                                                                                     \
    int axis() const { return axis_; }                                                    \
    int kth() const { return kth_; }                                                      \
                                                                                          \
   private:                                                                               \
    int axis_, kth_;                                                                      \
  };
/** Sorted values along axis. */
MICA_DECLARE_SORT(Sort)
/** Indices that sort along axis (stable). */
MICA_DECLARE_SORT(ArgSort)
/** Values with the kth element in sorted position, smaller before, larger after. */
MICA_DECLARE_SORT(Partition)
/** Indices of the Partition arrangement. */
MICA_DECLARE_SORT(ArgPartition)
#undef MICA_DECLARE_SORT

}  // namespace mica
