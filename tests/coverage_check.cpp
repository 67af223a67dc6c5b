// The registry coverage test: every registered primitive must have been evaluated on the CPU by
// some test, and its vjp, jvp and vmap rules run by some test (the test executables record what
// they ran), unless the primitive opted out of a rule with MICA_NO_RULE (reasons printed here).
// The registry's GPU column: a primitive marked F (CPU fallback on GPU streams) must have a
// stated reason; when the GPU tests ran (a GPU was present), every primitive marked K must have
// been evaluated on the GPU by them.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <string>

#include "mica/backend/gpu_info.h"
#include "mica/primitives/primitive.h"
#include "mica/primitives/registry.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: coverage_check <coverage dir>\n";
    return 2;
  }
  std::set<std::string> seen;
  for (auto& e : std::filesystem::directory_iterator(argv[1])) {
    std::ifstream in(e.path());
    for (std::string line; std::getline(in, line);) seen.insert(line);
  }
  const auto& opt_outs = mica::detail::rule_opt_outs();
  int missing = 0;
  for (const char* name : mica::primitive_names()) {
    if (!seen.count(name)) {
      std::cout << "NOT COVERED: " << name << " (no test evaluated its CPU kernel)\n";
      ++missing;
    }
    for (const char* rule : {"vjp", "jvp", "vmap"}) {
      std::string key = std::string(rule) + ":" + name;
      if (auto it = opt_outs.find(key); it != opt_outs.end()) {
        std::cout << "opted out: " << name << " has no " << rule << " rule: " << it->second << "\n";
        if (seen.count(key)) {
          std::cout << "  ... yet a test ran its " << rule << " rule: remove the opt-out\n";
          ++missing;
        }
        continue;
      }
      if (!seen.count(key)) {
        std::cout << "NOT COVERED: " << name << " (no test ran its " << rule << " rule)\n";
        ++missing;
      }
    }
  }
  bool gpu_ran = false;
  for (auto& s : seen) gpu_ran = gpu_ran || s.rfind("gpu:", 0) == 0;
  struct GpuRow {
    const char* name;
    bool kernel;
  };
#define MICA_GPU_ROW(NAME, FAMILY, KIND, GPU) GpuRow{#NAME, std::string(#GPU) == "K"},
  const GpuRow gpu_rows[] = {MICA_PRIMITIVES(MICA_GPU_ROW)};
#undef MICA_GPU_ROW
  int fallbacks = 0;
  for (const auto& row : gpu_rows) {
    if (!row.kernel) {
      ++fallbacks;
      std::string reason = mica::gpu::cpu_fallback_reason(row.name);
      std::cout << "gpu fallback: " << row.name << ": " << (reason.empty() ? "(no GPU backend in this build)" : reason) << "\n";
    } else if (gpu_ran && !seen.count(std::string("gpu:") + row.name)) {
      std::cout << "NOT COVERED: " << row.name << " (no GPU test evaluated its CUDA kernel)\n";
      ++missing;
    }
  }
  std::cout << fallbacks << " primitives fall back to the CPU on GPU streams"
            << (gpu_ran ? "; GPU kernels checked against the GPU tests\n" : "; no GPU tests ran here\n");
  std::cout << mica::primitive_names().size() << " primitives, " << missing << " gaps\n";
  return missing == 0 ? 0 : 1;
}
