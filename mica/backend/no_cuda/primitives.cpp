// Builds without CUDA: every primitive's eval_gpu says so. Generated from the registry.
#include <stdexcept>
#include <string>

#include "mica/primitives/all.h"
#include "mica/primitives/registry.h"

namespace mica {

namespace {
[[noreturn]] void no_gpu(const char* name) {
  throw std::runtime_error(std::string("[") + name + "] expected a build with the CUDA backend for a gpu stream, got a CPU-only build.");
}
}  // namespace

#define MICA_GPU_STUB_U(NAME) \
  void NAME::eval_gpu(const std::vector<array>&, array&) { no_gpu(#NAME); }
#define MICA_GPU_STUB_M(NAME) \
  void NAME::eval_gpu(const std::vector<array>&, std::vector<array>&) { no_gpu(#NAME); }
#define MICA_GPU_STUB(NAME, FAMILY, KIND, GPU) MICA_GPU_STUB_##KIND(NAME)
MICA_PRIMITIVES(MICA_GPU_STUB)

}  // namespace mica
