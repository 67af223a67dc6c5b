// libFuzzer target: .gguf bytes -> load_gguf (tensors and metadata arrays).
#include <variant>

#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return mica_fuzz::run(data, size, [](const mica::io::Bytes& b) {
    auto g = mica::io::load_gguf_bytes(b, "fuzz.gguf");
    mica_fuzz::touch(g.first);
    for (auto& [k, v] : g.second) {
      if (auto* a = std::get_if<mica::array>(&v)) mica_fuzz::touch(*a);
    }
  });
}
