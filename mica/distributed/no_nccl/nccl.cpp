// Builds without NCCL (no CUDA, or CMake found no nccl.h/libnccl): the NCCL backend is
// unavailable; asking for it by name with strict = true throws.
#include <stdexcept>

#include "mica/distributed/backend.h"

namespace mica::distributed::detail::nccl {

bool is_available() { return false; }

bool launched() { return false; }

std::shared_ptr<GroupImpl> world() {
  throw std::runtime_error(
      "[distributed::init] expected the NCCL backend, got a build without it (it needs the CUDA toolkit and NCCL: "
      "nccl.h and libnccl, from the toolkit or the nvidia-nccl Python package; reconfigure with them).");
}

}  // namespace mica::distributed::detail::nccl
