#include "mica/primitives/primitive.h"

#include <stdexcept>
#include <string>

#include "mica/primitives/registry.h"

namespace mica {

// Transform rules are added per family (primitives/<family>.cpp); a primitive without one
// reports it by name.
std::vector<array> Primitive::jvp(const std::vector<array>&, const std::vector<array>&, const std::vector<int>&) {
  throw std::invalid_argument(std::string("[jvp] expected a differentiable primitive, got ") + name() + " (no jvp rule).");
}
std::vector<array> Primitive::vjp(const std::vector<array>&, const std::vector<array>&, const std::vector<int>&,
                                  const std::vector<array>&) {
  throw std::invalid_argument(std::string("[vjp] expected a differentiable primitive, got ") + name() + " (no vjp rule).");
}
std::pair<std::vector<array>, std::vector<int>> Primitive::vmap(const std::vector<array>&, const std::vector<int>&) {
  throw std::invalid_argument(std::string("[vmap] expected a vmappable primitive, got ") + name() + " (no vmap rule).");
}

const std::vector<const char*>& primitive_names() {
#define MICA_NAME(NAME, FAMILY, KIND) #NAME,
  static const std::vector<const char*> names = {MICA_PRIMITIVES(MICA_NAME)};
#undef MICA_NAME
  return names;
}

}  // namespace mica
