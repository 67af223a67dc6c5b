// The expressions compile's code generators write for one elementwise step (shared by the CPU
// generator, backend/cpu/compiled.cpp, and the GPU one, backend/cuda/compiled.cpp): each
// computes as the step's own kernel on that device does, so fused results equal unfused ones.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "mica/primitives/primitive.h"

namespace mica::codegen {

enum class Target { cpu, gpu };

/** C++ type of a dtype in generated code; null for dtypes the generators leave alone. On the
 *  GPU, float16 and bfloat16 are held as float (see compute_type) and rounded after each step. */
const char* ctype(Dtype d, Target t = Target::cpu);
/** The type a value of dtype d is computed in: ctype, or float for the GPU's half types. */
const char* compute_type(Dtype d, Target t);
/** Where generated kernels are cached on disk: $MICA_CACHE_DIR/<sub> (default
 *  $XDG_CACHE_HOME/mica/<sub> or ~/.cache/mica/<sub>; a temporary folder without a home). */
std::string cache_dir(const std::string& sub);
/** The expression of one step over its arguments' variables (of compute types), or nothing when
 *  the generator does not know it (the fused node then runs its steps one by one). */
std::optional<std::string> expression(const Primitive& p, const std::vector<std::string>& args,
                                      const std::vector<Dtype>& in, Dtype out, Target t);

}  // namespace mica::codegen
