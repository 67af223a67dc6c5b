// libFuzzer target for the op layer: the input bytes are a program of ops (fuzz/ops_program.h);
// any op that neither returns a well-formed array nor throws a clear "[op] ..." error aborts.
#include <cstdio>
#include <cstdlib>

#include "fuzz/ops_program.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    mica_fuzz::run_program(data, size);
  } catch (const mica_fuzz::Finding& f) {
    std::fprintf(stderr, "finding: %s\n", f.what());
    std::abort();
  }
  return 0;
}
