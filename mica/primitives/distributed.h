// The collective primitives (family distributed). Each holds its group; the kernels
// (backend/cpu/distributed.cpp) hand row-contiguous buffers to the group's backend. The ops in
// mica/distributed/distributed.cpp never build them for a size-1 group (the identity).
#pragma once
#include <vector>

#include "mica/distributed/backend.h"
#include "mica/distributed/distributed.h"
#include "mica/primitives/primitive.h"

namespace mica {

/** Base of the collectives: the group they communicate over. */
class DistPrimitive : public UnaryPrimitive {
 public:
  DistPrimitive(Stream s, distributed::Group group) : UnaryPrimitive(s), group_(std::move(group)) {}
  const distributed::Group& group() const { return group_; }

 protected:
  distributed::Group group_;
};

/** out = the sum, max or min of x over the group (same shape and dtype). */
class AllReduce : public DistPrimitive {
 public:
  using ReduceType = distributed::detail::ReduceOp;
  AllReduce(Stream s, distributed::Group group, ReduceType type) : DistPrimitive(s, std::move(group)), type_(type) {}
  MICA_DEFINE_UNARY_PRIMITIVE_MEMBERS(AllReduce)
  MICA_DEFINE_GRADS
  bool is_equivalent(const Primitive& o) const override;
  void print(std::ostream& os) override;
  ReduceType reduce_type() const { return type_; }

 private:
  ReduceType type_;
};

/** out = every rank's x concatenated along axis 0 (a 0-d x gives shape (size,)). */
class AllGather : public DistPrimitive {
 public:
  using DistPrimitive::DistPrimitive;
  MICA_DEFINE_UNARY_PRIMITIVE_MEMBERS(AllGather)
  MICA_DEFINE_GRADS
  bool is_equivalent(const Primitive& o) const override;
};

/** out = this rank's 1/size slice along axis 0 of the sum of x over the group. */
class ReduceScatter : public DistPrimitive {
 public:
  using DistPrimitive::DistPrimitive;
  MICA_DEFINE_UNARY_PRIMITIVE_MEMBERS(ReduceScatter)
  MICA_DEFINE_GRADS
  bool is_equivalent(const Primitive& o) const override;
};

/** Sends x to rank dst; the output is x itself (it shares x's buffer). */
class Send : public DistPrimitive {
 public:
  Send(Stream s, distributed::Group group, int dst) : DistPrimitive(s, std::move(group)), dst_(dst) {}
  MICA_DEFINE_UNARY_PRIMITIVE_MEMBERS(Send)
  void print(std::ostream& os) override;
  int dst() const { return dst_; }

 private:
  int dst_;
};

/** No input; out (shape and dtype given) is received from rank src. */
class Recv : public DistPrimitive {
 public:
  Recv(Stream s, distributed::Group group, int src) : DistPrimitive(s, std::move(group)), src_(src) {}
  MICA_DEFINE_UNARY_PRIMITIVE_MEMBERS(Recv)
  void print(std::ostream& os) override;
  int src() const { return src_; }

 private:
  int src_;
};

}  // namespace mica
