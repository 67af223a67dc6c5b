// The registry coverage test: every registered primitive must have been evaluated on the CPU
// by some test (the test executables record what they ran), unless opted out below with a reason.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <string>

#include "mica/primitives/registry.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: coverage_check <coverage dir>\n";
    return 2;
  }
  // Primitives no test evaluates, each with the reason.
  const std::map<std::string, std::string> opt_out = {};
  std::set<std::string> seen;
  for (auto& e : std::filesystem::directory_iterator(argv[1])) {
    std::ifstream in(e.path());
    for (std::string line; std::getline(in, line);) seen.insert(line);
  }
  int missing = 0;
  for (const char* name : mica::primitive_names()) {
    if (seen.count(name)) continue;
    auto it = opt_out.find(name);
    if (it != opt_out.end()) {
      std::cout << "opted out: " << name << " (" << it->second << ")\n";
      continue;
    }
    std::cout << "NOT COVERED: " << name << " (no test evaluated its CPU kernel)\n";
    ++missing;
  }
  std::cout << mica::primitive_names().size() << " primitives, " << missing << " not covered\n";
  return missing == 0 ? 0 : 1;
}
