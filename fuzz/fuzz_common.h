// Shared by the fuzz targets: runs a loader on the input bytes, accepts the loaders' own
// exceptions (runtime_error, invalid_argument), and reads every byte of every array returned
// so that the sanitizers see any out-of-bounds buffer.
#pragma once
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <unordered_map>

#include "mica/io/file.h"

namespace mica_fuzz {

inline void touch(mica::array a) {
  a.eval();
  if (a.size() == 0) return;
  const auto* p = a.data<uint8_t>();
  size_t n = a.data_size() * a.itemsize();
  volatile uint8_t sum = 0;
  for (size_t i = 0; i < n; ++i) sum = sum + p[i];
  (void)sum;
}

inline void touch(const std::unordered_map<std::string, mica::array>& m) {
  for (auto& [k, v] : m) touch(v);
}

template <typename F>
int run(const uint8_t* data, size_t size, F&& load) {
  // The loaders get their own copy, sized exactly, so reads past it are caught.
  auto bytes = mica::io::copy_bytes(data, size);
  try {
    load(bytes);
  } catch (const std::runtime_error&) {
  } catch (const std::invalid_argument&) {
  }
  return 0;
}

}  // namespace mica_fuzz
