// Run-time compiled CPU kernels (compile's fused nodes): C++ source built by the caller,
// compiled with the system's C++ compiler into a shared object, loaded, and cached in memory and
// on disk between runs.
#pragma once
#include <cstdint>
#include <string>

namespace mica::cpu::jit {

/** Entry point of a generated elementwise kernel (see backend/cpu/compiled.cpp). */
using ElementwiseFn = void (*)(int64_t row_begin, int64_t row_end, int64_t col_begin, int64_t col_end,
                               int64_t cols, int num_outer, const int64_t* outer_shape, const void* const* in,
                               const int64_t* in_outer_strides, void* const* out);

/** True unless turned off (MICA_CPU_JIT=0) or the compiler failed once in this process. */
bool enabled();
/** The function `symbol` of `source` compiled (-O3 -march=native), or null when it cannot be
 *  built. The shared object is kept in $MICA_CACHE_DIR (default $XDG_CACHE_HOME/mica or
 *  ~/.cache/mica) under a hash of the source, the compiler and the CPU. */
void* load(const std::string& source, const char* symbol);
/** The text of mica/backend/cpu/simd/math.h (generated source includes it). */
const char* simd_math_source();
/** Kernels compiled (not found in a cache) by this process. */
int64_t compiled_count();

}  // namespace mica::cpu::jit
