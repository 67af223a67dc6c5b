// Counter-based random bits (threefry 2x32, 20 rounds), bit-for-bit as MLX.
#pragma once
#include <cstdint>
#include <utility>

#include "mica/primitives/primitive.h"

namespace mica {

namespace random::detail {
/** Threefry-2x32 with 20 rounds: hashes the counter pair under the key pair. */
constexpr std::pair<uint32_t, uint32_t> threefry2x32(std::pair<uint32_t, uint32_t> key,
                                                     std::pair<uint32_t, uint32_t> ctr) {
  constexpr uint32_t rot[2][4] = {{13, 15, 26, 6}, {17, 29, 16, 24}};
  const uint32_t ks[3] = {key.first, key.second, key.first ^ key.second ^ 0x1BD11BDAu};
  uint32_t x0 = ctr.first + ks[0];
  uint32_t x1 = ctr.second + ks[1];
  // Five groups of four rounds, each group followed by a key injection.
  for (uint32_t g = 0; g < 5; ++g) {
    for (uint32_t r : rot[g % 2]) {
      x0 += x1;
      x1 = (x1 << r) | (x1 >> (32 - r));
      x1 ^= x0;
    }
    x0 += ks[(g + 1) % 3];
    x1 += ks[(g + 2) % 3] + g + 1;
  }
  return {x0, x1};
}

/** Word `i` of the stream of `num_words` 32-bit words that one key yields (MLX's layout):
 * with h = num_words / 2 and o = num_words % 2, counter pair (j, j + h + o) fills words j and
 * j + h + o for j < h, and when num_words is odd the middle word h is the first half of the
 * hash of (h, 0). */
constexpr uint32_t word_of(std::pair<uint32_t, uint32_t> key, uint64_t num_words, uint64_t i) {
  uint64_t h = num_words / 2, o = num_words % 2;
  if (o && i == h) return threefry2x32(key, {static_cast<uint32_t>(h), 0}).first;
  if (i < h) return threefry2x32(key, {static_cast<uint32_t>(i), static_cast<uint32_t>(i + h + o)}).first;
  uint64_t j = i - h - o;
  return threefry2x32(key, {static_cast<uint32_t>(j), static_cast<uint32_t>(i)}).second;
}
}  // namespace random::detail

/** Random bits of `width` bytes (1, 2 or 4) per element. Input: keys (..., 2) uint32; output
 * (..., shape...) of uint8/16/32, each key filling its own block of bytes. */
class RandomBits : public UnaryPrimitive {
 public:
  RandomBits(Stream s, Shape shape, int width) : UnaryPrimitive(s), shape_(std::move(shape)), width_(width) {}
  MICA_DEFINE_UNARY_PRIMITIVE_MEMBERS(RandomBits) MICA_DEFINE_SAVE
  // Integer output: the keys get zero cotangents and the bits a zero tangent.
  MICA_DEFINE_VJP
  MICA_DEFINE_JVP
  /** Batched keys: the key's batch axis moves to the front and leads the output. */
  std::pair<std::vector<array>, std::vector<int>> vmap(const std::vector<array>& inputs,
                                                       const std::vector<int>& axes) override;
  bool is_equivalent(const Primitive& other) const override;
  void print(std::ostream& os) override;

  const Shape& shape() const { return shape_; }
  int width() const { return width_; }

 private:
  Shape shape_;
  int width_;
};

}  // namespace mica
