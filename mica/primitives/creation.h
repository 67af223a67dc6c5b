// Primitives that create arrays from parameters.
#pragma once
#include "mica/primitives/primitive.h"

namespace mica {

/** start, start + step, ... (size given by the output shape). */
class Arange : public UnaryPrimitive {
 public:
  Arange(Stream s, double start, double stop, double step) : UnaryPrimitive(s), start_(start), stop_(stop), step_(step) {}
  MICA_DEFINE_UNARY_PRIMITIVE_MEMBERS(Arange) MICA_DEFINE_SAVE
  bool is_equivalent(const Primitive& o) const override {
    auto* p = dynamic_cast<const Arange*>(&o);
    return p && p->start_ == start_ && p->stop_ == stop_ && p->step_ == step_;
  }
  /** First value. */
  double start() const { return start_; }
  /** End of the range (exclusive). */
  double stop() const { return stop_; }
  /** Spacing between values. */
  double step() const { return step_; }

 private:
  double start_, stop_, step_;
};

}  // namespace mica
