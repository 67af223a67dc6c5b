// GPU kernel of the random family (backend/cpu/random.cpp's twin): the same threefry-2x32 bits
// in MLX's counter layout, so a key gives the same array on both devices.
#include "mica/backend/cuda/copy.h"
#include "mica/backend/cuda/device/elementwise.cuh"
#include "mica/backend/cuda/utils.h"
#include "mica/primitives/random.h"

namespace mica {

namespace {
// Stores word i of one key's block, clipping the last word to the bytes that remain.
__device__ __forceinline__ void store_word(unsigned char* block, uint64_t bytes, uint64_t i, uint32_t v) {
  uint64_t at = 4 * i;
  if (at + 4 <= bytes) {
    if ((reinterpret_cast<uintptr_t>(block + at) & 3) == 0) {
      *reinterpret_cast<uint32_t*>(block + at) = v;
      return;
    }
  }
  for (uint64_t b = 0; b < 4 && at + b < bytes; ++b) block[at + b] = static_cast<unsigned char>(v >> (8 * b));
}

// keys: (num_keys, 2) uint32 row-major; out: num_keys blocks of `bytes` bytes. One thread per
// (key, counter pair); the odd middle word is an extra item per key.
__global__ void random_bits_kernel(const uint32_t* __restrict__ keys, unsigned char* __restrict__ out, uint64_t bytes,
                                   uint64_t half, uint64_t odd, uint64_t total) {
  uint64_t per_key = half + odd;
  uint64_t stride = uint64_t(gridDim.x) * blockDim.x;
  for (uint64_t t = uint64_t(blockIdx.x) * blockDim.x + threadIdx.x; t < total; t += stride) {
    uint64_t k = t / per_key, j = t % per_key;
    std::pair<uint32_t, uint32_t> key{keys[2 * k], keys[2 * k + 1]};
    unsigned char* block = out + k * bytes;
    if (j < half) {
      auto r = random::detail::threefry2x32(key, {static_cast<uint32_t>(j), static_cast<uint32_t>(j + half + odd)});
      store_word(block, bytes, j, r.first);
      store_word(block, bytes, j + half + odd, r.second);
    } else {
      store_word(block, bytes, half, random::detail::threefry2x32(key, {static_cast<uint32_t>(half), 0u}).first);
    }
  }
}
}  // namespace

void RandomBits::eval_gpu(const std::vector<array>& inputs, array& out) {
  cu::alloc_output(out, stream());
  uint64_t num_keys = inputs[0].size() / 2;
  if (out.size() == 0 || num_keys == 0) return;
  array keys = cu::ensure_row_contiguous(inputs[0], stream());
  uint64_t bytes = out.nbytes() / num_keys;
  uint64_t words = (bytes + 3) / 4;
  uint64_t half = words / 2, odd = words % 2;
  uint64_t total = (half + odd) * num_keys;
  random_bits_kernel<<<cu::grid_for(static_cast<int64_t>(total)), cu::kBlock, 0, cu::stream(stream())>>>(
      cu::ptr<uint32_t>(keys), cu::ptr<unsigned char>(out), bytes, half, odd, total);
  cu::check_launch("random_bits");
}

}  // namespace mica
