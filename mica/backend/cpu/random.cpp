// CPU kernel of the random family: threefry-2x32 bits in MLX's counter layout.
#include <algorithm>
#include <cstring>

#include "mica/backend/cpu/copy.h"
#include "mica/backend/cpu/parallel.h"
#include "mica/primitives/random.h"

namespace mica {

void RandomBits::eval_cpu(const std::vector<array>& inputs, array& out) {
  // keys: (K..., 2) uint32, any layout; out: (K..., shape...) row-major, width_ bytes each.
  // Each key owns `bytes` consecutive output bytes, read as ceil(bytes / 4) 32-bit words.
  out.set_data(allocator::malloc(out.nbytes()));
  size_t num_keys = inputs[0].size() / 2;
  if (out.size() == 0 || num_keys == 0) return;
  array keys = cpu::ensure_row_contiguous(inputs[0]);
  const uint32_t* kp = keys.data<uint32_t>();
  char* base = out.data<char>();
  const uint64_t bytes = out.nbytes() / num_keys;
  const uint64_t words = (bytes + 3) / 4;
  const uint64_t half = words / 2, odd = words % 2;

  // Stores word i of one key's block, clipping the last word to the bytes that remain.
  auto store = [bytes](char* block, uint64_t i, uint32_t v) {
    uint64_t at = 4 * i;
    std::memcpy(block + at, &v, std::min<uint64_t>(4, bytes - at));
  };
  // Work item = one (key, counter pair); the odd middle word counts as an extra item.
  const uint64_t per_key = half + odd;
  const int64_t total = static_cast<int64_t>(per_key * num_keys);
  cpu::parallel_for(total, 1 << 13, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      uint64_t k = static_cast<uint64_t>(t) / per_key, j = static_cast<uint64_t>(t) % per_key;
      std::pair<uint32_t, uint32_t> key{kp[2 * k], kp[2 * k + 1]};
      char* block = base + k * bytes;
      if (j < half) {
        auto [a, b] = random::detail::threefry2x32(
            key, {static_cast<uint32_t>(j), static_cast<uint32_t>(j + half + odd)});
        store(block, j, a);
        store(block, j + half + odd, b);
      } else {
        store(block, half, random::detail::threefry2x32(key, {static_cast<uint32_t>(half), 0u}).first);
      }
    }
  });
}

}  // namespace mica
