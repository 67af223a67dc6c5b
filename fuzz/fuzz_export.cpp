// libFuzzer target: exported-function bytes -> import_function (header, metadata, primitive
// parameters, constants). The trailer's checksum is recomputed first, so the fuzzer reaches the
// parser instead of stopping at the checksum; the imported function is not called (a file is a
// computation to run: only its parsing must be safe).
#include <cstring>
#include <string>

#include "fuzz_common.h"
#include "mica/export.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  if (bytes.size() >= 16) {
    uint64_t h = mica::detail::export_checksum(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size() - 16);
    std::memcpy(bytes.data() + bytes.size() - 16, &h, 8);
  }
  return mica_fuzz::run(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), [](const mica::io::Bytes& b) {
    auto f = mica::detail::import_function_bytes(b.data, b.size, "fuzz.micafn");
    (void)f.num_traces();
  });
}
