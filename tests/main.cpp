// Test main shared by every test executable: records which primitives the run evaluated and
// writes them to $MICA_COVERAGE_DIR/<executable>.txt for the registry coverage test.
// Tests run on the CPU by default even where a GPU is present (MICA_TEST_DEVICE=gpu runs them
// on the GPU); the GPU tests (tests/gpu, MICA_GPU_TEST=1) exit with ctest's skip code 77 when
// the machine has no GPU.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <iostream>
#include <string>

#include "mica/mica.h"

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  if (std::getenv("MICA_GPU_TEST") && !mica::is_available(mica::Device::gpu)) {
    std::cout << "no GPU on this machine: skipped\n";
    return 77;
  }
  const char* dev = std::getenv("MICA_TEST_DEVICE");
  mica::set_default_device(dev && std::string(dev) == "gpu" ? mica::Device(mica::Device::gpu) : mica::Device(mica::Device::cpu));
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
