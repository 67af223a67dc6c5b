// Transform rules of the creation family. Arange has no inputs: its output never depends on a
// traced or batched value, so the drivers (which only visit nodes downstream of one) never ask
// for its rules. It opts out of all three instead of defining rules no transform can reach.
#include "mica/primitives/creation.h"

namespace mica {

MICA_NO_RULE(Arange, vjp, "no inputs: an arange is a constant, never on the path from a differentiated input")
MICA_NO_RULE(Arange, jvp, "no inputs: an arange is a constant, never on the path from a differentiated input")
MICA_NO_RULE(Arange, vmap, "no inputs: an arange is never batched; vmap broadcasts constants itself")

}  // namespace mica
