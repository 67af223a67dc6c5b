// The primitives whose GPU kernels are not written yet (registry column F) run their CPU kernel
// for a GPU stream: inputs come to the host, outputs stay there until a GPU kernel needs them.
// Generated from the registry; the reasons are per family.
#include <map>
#include <string>

#include "mica/backend/cuda/on_host.h"
#include "mica/backend/cuda/utils.h"
#include "mica/backend/gpu_info.h"
#include "mica/primitives/all.h"
#include "mica/primitives/registry.h"

namespace mica {

#define MICA_FALLBACK_K(NAME, KIND)
#define MICA_FALLBACK_F(NAME, KIND) MICA_EVAL_GPU_ON_HOST_##KIND(NAME)
#define MICA_FALLBACK(NAME, FAMILY, KIND, GPU) MICA_FALLBACK_##GPU(NAME, KIND)
MICA_PRIMITIVES(MICA_FALLBACK)
#undef MICA_FALLBACK

namespace gpu {
std::string cpu_fallback_reason(const std::string& primitive) {
  // Why each family marked F has no GPU kernel yet (none now: every primitive has one).
  static const std::map<std::string, std::string> by_family = {};
#define MICA_REASON(NAME, FAMILY, KIND, GPU) \
  if (primitive == #NAME && std::string(#GPU) == "F") return by_family.at(#FAMILY);
  MICA_PRIMITIVES(MICA_REASON)
#undef MICA_REASON
  return "";
}
}  // namespace gpu

}  // namespace mica
