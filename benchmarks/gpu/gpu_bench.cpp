// Runs the GPU op benchmarks of every family (benchmarks/gpu/*_bench.cpp), or of the families
// named on the command line. Output: see bench.h.
#include <map>
#include <string>

#include "benchmarks/gpu/bench.h"

namespace mica_bench {
namespace {
std::map<std::string, Family>& families() {
  static std::map<std::string, Family> f;
  return f;
}
}  // namespace
int add_family(const char* name, Family f) {
  families()[name] = f;
  return 0;
}
}  // namespace mica_bench

int main(int argc, char** argv) {
  if (!mica::is_available(mica::Device::gpu)) {
    std::printf("no GPU\n");
    return 77;
  }
  mica::set_default_device(mica::Device::gpu);
  for (auto& [name, run] : mica_bench::families()) {
    bool wanted = argc == 1;
    for (int i = 1; i < argc; ++i) wanted = wanted || name == argv[i];
    if (wanted) run();
  }
  return 0;
}
