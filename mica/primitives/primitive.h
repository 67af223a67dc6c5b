// The base of every primitive: evaluation on each backend plus the transform rules.
#pragma once
#include <map>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "mica/array.h"
#include "mica/device.h"

namespace mica {

class ParamWriter;

/** A node's operation. Semantics (shape rule, vjp/jvp/vmap) live in primitives/<family>.cpp;
 * kernels in backend/<dev>/<family>.cpp. */
class Primitive {
 public:
  explicit Primitive(Stream stream) : stream_(stream) {}
  Primitive(const Primitive&) = delete;
  Primitive& operator=(const Primitive&) = delete;
  virtual ~Primitive() = default;

  /** Computes outputs from inputs on the CPU; outputs have shape and dtype, no data yet. */
  virtual void eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) = 0;
  /** Same on the GPU. */
  virtual void eval_gpu(const std::vector<array>& inputs, std::vector<array>& outputs) = 0;

  // Transform rules. A primitive without one either defines it or opts out with MICA_NO_RULE
  // (the defaults throw, naming the primitive and the reason).
  /** Jacobian-vector product: tangents of every output, given the tangents of the inputs in
   * argnums (inputs outside argnums have zero tangent). */
  virtual std::vector<array> jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                                 const std::vector<int>& argnums);
  /** Vector-Jacobian product: cotangents of the inputs in argnums. */
  virtual std::vector<array> vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                                 const std::vector<int>& argnums, const std::vector<array>& outputs);
  /** Batched version: outputs and their batch axes, given inputs with batch axes (-1 = none,
   * at least one input batched). */
  virtual std::pair<std::vector<array>, std::vector<int>> vmap(const std::vector<array>& inputs,
                                                               const std::vector<int>& axes);

  /** The primitive's registry name. */
  virtual const char* name() const = 0;
  /** True when `other` computes the same function (same type and parameters). */
  virtual bool is_equivalent(const Primitive&) const { return false; }
  /** Prints name and parameters. */
  virtual void print(std::ostream& os) { os << name(); }
  /** Writes the parameters export_function stores for this node (primitives/serialize.cpp
   *  defines it and the matching loader, keyed by name()); the default throws: a primitive
   *  without a saved form (a collective, a user's primitive) cannot be exported. */
  virtual void save(ParamWriter& w) const;
  /** True for a multi-output primitive whose kernels may give an output the buffer of an input
   *  they no longer need (each element read before the same element of any output is written).
   *  eval holds the inputs of other multi-output nodes while their kernels run (DivMod reads
   *  every input again for each output), so those are never donated. */
  virtual bool outputs_may_take_inputs() const { return false; }
  /** True for primitives whose output is a view of the input with strides of their own
   *  (transpose, squeeze, expand_dims, as_strided): eval runs them on empty arrays too, so an
   *  empty view keeps those strides (as MLX's); other empty outputs get row-major strides
   *  without a kernel. */
  virtual bool is_view() const { return false; }

  const Stream& stream() const { return stream_; }
  Device device() const { return stream_.device; }

 private:
  Stream stream_;
};

/** A primitive with one output. */
class UnaryPrimitive : public Primitive {
 public:
  using Primitive::Primitive;
  virtual void eval_cpu(const std::vector<array>& inputs, array& out) = 0;
  virtual void eval_gpu(const std::vector<array>& inputs, array& out) = 0;
  void eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) override {
    eval_cpu(inputs, outputs[0]);
  }
  void eval_gpu(const std::vector<array>& inputs, std::vector<array>& outputs) override {
    eval_gpu(inputs, outputs[0]);
  }
};

// Declares the members every single-output primitive defines.
#define MICA_DEFINE_UNARY_PRIMITIVE_MEMBERS(NAME)                            \
  void eval_cpu(const std::vector<array>& inputs, array& out) override;     \
  void eval_gpu(const std::vector<array>& inputs, array& out) override;     \
  const char* name() const override { return #NAME; }

// Declares the transform rules a primitive defines.
#define MICA_DEFINE_VJP                                                                     \
  std::vector<array> vjp(const std::vector<array>& primals, const std::vector<array>& cotangents, \
                         const std::vector<int>& argnums, const std::vector<array>& outputs) override;
#define MICA_DEFINE_JVP                                                                     \
  std::vector<array> jvp(const std::vector<array>& primals, const std::vector<array>& tangents, \
                         const std::vector<int>& argnums) override;
#define MICA_DEFINE_VMAP                                                                    \
  std::pair<std::vector<array>, std::vector<int>> vmap(const std::vector<array>& inputs,   \
                                                       const std::vector<int>& axes) override;
#define MICA_DEFINE_GRADS MICA_DEFINE_VJP MICA_DEFINE_JVP MICA_DEFINE_VMAP
// Declares the primitive's save (defined with its loader in primitives/serialize.cpp).
#define MICA_DEFINE_SAVE void save(ParamWriter& w) const override;

namespace detail {
/** Records that primitive `name` has no `rule` (vjp, jvp or vmap) and why. */
bool register_no_rule(const char* name, const char* rule, const char* reason);
/** Every opt-out: "rule:Name" -> reason (printed by the coverage test). */
const std::map<std::string, std::string>& rule_opt_outs();
}  // namespace detail

// In primitives/<family>.cpp: declares that NAME has no RULE (vjp|jvp|vmap), with the reason.
#define MICA_NO_RULE(NAME, RULE, REASON) \
  [[maybe_unused]] static const bool mica_no_##RULE##_##NAME = ::mica::detail::register_no_rule(#NAME, #RULE, REASON);

#define MICA_DEFINE_PRIMITIVE_MEMBERS(NAME)                                              \
  void eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) override; \
  void eval_gpu(const std::vector<array>& inputs, std::vector<array>& outputs) override; \
  const char* name() const override { return #NAME; }

}  // namespace mica
