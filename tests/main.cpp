// Test main shared by every test executable: records which primitives the run evaluated and
// writes them to $MICA_COVERAGE_DIR/<executable>.txt for the registry coverage test.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "mica/transforms.h"

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  mica::detail::set_record_primitives(true);
  int rc = RUN_ALL_TESTS();
  if (const char* dir = std::getenv("MICA_COVERAGE_DIR")) {
    std::filesystem::create_directories(dir);
    auto name = std::filesystem::path(argv[0]).filename().string();
    std::ofstream out(std::filesystem::path(dir) / (name + ".txt"));
    for (auto& p : mica::detail::recorded_primitives()) out << p << "\n";
  }
  return rc;
}
