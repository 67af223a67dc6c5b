// Convolution primitive (channels-last input, weight (C_out, *kernel, C_in / groups)).
#pragma once
#include "mica/primitives/primitive.h"

namespace mica {

class Convolution : public UnaryPrimitive {
 public:
  Convolution(Stream s, std::vector<int> stride, std::vector<int> padding_lo, std::vector<int> padding_hi,
              std::vector<int> kernel_dilation, std::vector<int> input_dilation, int groups, bool flip)
      : UnaryPrimitive(s), stride_(std::move(stride)), padding_lo_(std::move(padding_lo)),
        padding_hi_(std::move(padding_hi)), kernel_dilation_(std::move(kernel_dilation)),
        input_dilation_(std::move(input_dilation)), groups_(groups), flip_(flip) {}
  MICA_DEFINE_UNARY_PRIMITIVE_MEMBERS(Convolution)

 private:
  std::vector<int> stride_, padding_lo_, padding_hi_, kernel_dilation_, input_dilation_;
  int groups_;
  bool flip_;
};

}  // namespace mica
