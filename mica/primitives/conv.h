// Convolution primitive (channels-last input, weight (C_out, *kernel, C_in / groups)).
#pragma once
#include <vector>

#include "mica/primitives/primitive.h"

namespace mica {

/** Convolution over 1-3 spatial dims; see ops/conv.h for the parameters. */
class Convolution : public UnaryPrimitive {
 public:
  Convolution(Stream s, std::vector<int> stride, std::vector<int> padding_lo, std::vector<int> padding_hi,
              std::vector<int> kernel_dilation, std::vector<int> input_dilation, int groups, bool flip)
      : UnaryPrimitive(s), stride_(std::move(stride)), padding_lo_(std::move(padding_lo)),
        padding_hi_(std::move(padding_hi)), kernel_dilation_(std::move(kernel_dilation)),
        input_dilation_(std::move(input_dilation)), groups_(groups), flip_(flip) {}
  MICA_DEFINE_UNARY_PRIMITIVE_MEMBERS(Convolution) MICA_DEFINE_SAVE
  MICA_DEFINE_GRADS
  bool is_equivalent(const Primitive& other) const override {
    auto* o = dynamic_cast<const Convolution*>(&other);
    return o && o->stride_ == stride_ && o->padding_lo_ == padding_lo_ && o->padding_hi_ == padding_hi_ &&
           o->kernel_dilation_ == kernel_dilation_ && o->input_dilation_ == input_dilation_ &&
           o->groups_ == groups_ && o->flip_ == flip_;
  }
  const std::vector<int>& stride() const { return stride_; }
  const std::vector<int>& padding_lo() const { return padding_lo_; }
  const std::vector<int>& padding_hi() const { return padding_hi_; }
  const std::vector<int>& kernel_dilation() const { return kernel_dilation_; }
  const std::vector<int>& input_dilation() const { return input_dilation_; }
  int groups() const { return groups_; }
  bool flip() const { return flip_; }

 private:
  /** Output shape for an input of shape `in` and a weight of shape `w` under these parameters. */
  Shape out_shape(const Shape& in, const Shape& w) const;
  /** A node of this convolution, with `groups` groups, of `in` and `w` (output shape `out`). */
  array same(const array& in, const array& w, Shape out, int groups);

  std::vector<int> stride_, padding_lo_, padding_hi_, kernel_dilation_, input_dilation_;
  int groups_;
  bool flip_;
};

}  // namespace mica
