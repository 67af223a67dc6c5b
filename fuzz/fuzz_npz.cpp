// libFuzzer target: .npz bytes -> load_npz.
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return mica_fuzz::run(data, size, [](const mica::io::Bytes& b) {
    mica_fuzz::touch(mica::io::load_npz_bytes(b, "fuzz.npz"));
  });
}
