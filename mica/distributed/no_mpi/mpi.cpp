// Builds without MPI (CMake found none): the MPI backend is unavailable and init() falls back to
// the size-1 group; asking for it by name throws.
#include <stdexcept>

#include "mica/distributed/backend.h"

namespace mica::distributed::detail::mpi {

bool is_available() { return false; }

bool launched() { return false; }

std::shared_ptr<GroupImpl> world() {
  throw std::runtime_error(
      "[distributed::init] expected the MPI backend, got a build without MPI (CMake found no MPI: install "
      "libopenmpi-dev and reconfigure).");
}

}  // namespace mica::distributed::detail::mpi
