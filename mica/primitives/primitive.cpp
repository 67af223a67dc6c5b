#include "mica/primitives/primitive.h"

#include <stdexcept>
#include <string>

#include "mica/primitives/registry.h"

namespace mica {

namespace detail {
namespace {
std::map<std::string, std::string>& opt_outs() {
  static std::map<std::string, std::string> m;
  return m;
}
}  // namespace
bool register_no_rule(const char* name, const char* rule, const char* reason) {
  opt_outs()[std::string(rule) + ":" + name] = reason;
  return true;
}
const std::map<std::string, std::string>& rule_opt_outs() { return opt_outs(); }
}  // namespace detail

namespace {
// Rules are defined per family (primitives/<family>.cpp); a primitive without one says so,
// with the reason it opted out if it did.
[[noreturn]] void no_rule(const char* rule, const char* name) {
  std::string msg = std::string("[") + rule + "] expected a primitive with a " + rule + " rule, got " + name;
  auto& m = detail::rule_opt_outs();
  if (auto it = m.find(std::string(rule) + ":" + name); it != m.end()) msg += " (" + it->second + ")";
  throw std::invalid_argument(msg + ".");
}
}  // namespace

std::vector<array> Primitive::jvp(const std::vector<array>&, const std::vector<array>&, const std::vector<int>&) {
  no_rule("jvp", name());
}
std::vector<array> Primitive::vjp(const std::vector<array>&, const std::vector<array>&, const std::vector<int>&,
                                  const std::vector<array>&) {
  no_rule("vjp", name());
}
std::pair<std::vector<array>, std::vector<int>> Primitive::vmap(const std::vector<array>&, const std::vector<int>&) {
  no_rule("vmap", name());
}

void Primitive::save(ParamWriter&) const {
  throw std::invalid_argument(std::string("[export_function] expected primitives that have a saved form (mica's own, "
                                          "collectives excepted), got ") +
                              name() + ".");
}

const std::vector<const char*>& primitive_names() {
#define MICA_NAME(NAME, FAMILY, KIND, GPU) #NAME,
  static const std::vector<const char*> names = {MICA_PRIMITIVES(MICA_NAME)};
#undef MICA_NAME
  return names;
}

}  // namespace mica
