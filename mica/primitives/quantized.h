// The fused quantized matmul (family quantized): x times a weight matrix given in MLX's affine
// packed layout, without materializing the float weights.
#pragma once
#include <ostream>

#include "mica/primitives/primitive.h"

namespace mica {

/** x @ W.T (transpose) or x @ W, W = scales * q + biases dequantized group by group from the
 * packed uint32 words w. Inputs x (xbatch..., M, K) of a floating dtype, w (wbatch..., rows,
 * words), scales and biases (wbatch..., rows, groups) of a floating dtype; rows x words*32/bits
 * is (N, K) when transposed, (K, N) otherwise. The batch dims of x and w are already broadcast
 * to the same shape, unless w has no batch dims (then x's leading dims are all rows of one
 * product). Output (batch..., M, N) in the node's dtype. */
class QuantizedMatmul : public UnaryPrimitive {
 public:
  QuantizedMatmul(Stream s, int group_size, int bits, bool transpose)
      : UnaryPrimitive(s), group_size_(group_size), bits_(bits), transpose_(transpose) {}
  MICA_DEFINE_UNARY_PRIMITIVE_MEMBERS(QuantizedMatmul) MICA_DEFINE_SAVE
  MICA_DEFINE_GRADS
  bool is_equivalent(const Primitive& o) const override {
    auto* p = dynamic_cast<const QuantizedMatmul*>(&o);
    return p && p->group_size_ == group_size_ && p->bits_ == bits_ && p->transpose_ == transpose_;
  }
  void print(std::ostream& os) override {
    os << "QuantizedMatmul(group_size=" << group_size_ << ", bits=" << bits_ << ", transpose=" << transpose_ << ")";
  }
  /** On a GPU stream the op builds this node for x @ W.T with at most this many rows of x per
   * weight matrix (backend/cuda/quantized.cu); other products run as dequantize + matmul. */
  static constexpr int kGpuMaxRows = 32;
  int group_size() const { return group_size_; }
  int bits() const { return bits_; }
  bool transpose() const { return transpose_; }

 private:
  int group_size_, bits_;
  bool transpose_;
};

}  // namespace mica
