// The node that compile's fusion pass makes of a chain of elementwise ops (compile.h).
#pragma once
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "mica/primitives/primitive.h"

namespace mica {

/** A group of elementwise primitives (unary and binary families) run as one node, optionally
 * ending in a sum over trailing axes. Values are numbered: the node's inputs first, then each
 * step's output. Every elementwise step's output has the broadcast shape of the node's inputs
 * (inputs may broadcast); a final sum keeps its reduced axes as size 1. The CPU
 * kernel runs the steps over blocks of the output small enough to stay in cache, so the
 * intermediates never travel to memory; each step uses the primitive's own kernel, so the
 * results equal the unfused graph's. Transform rules replay the steps as ordinary nodes. */
class Compiled : public Primitive {
 public:
  struct Step {
    std::shared_ptr<Primitive> prim;
    std::vector<int> args;  // value numbers
    Dtype dtype;
  };
  Compiled(Stream s, int num_inputs, std::vector<Step> steps, std::vector<int> outputs)
      : Primitive(s), num_inputs_(num_inputs), steps_(std::move(steps)), outputs_(std::move(outputs)) {}
  MICA_DEFINE_PRIMITIVE_MEMBERS(Compiled)
  MICA_DEFINE_GRADS
  void print(std::ostream& os) override;

  int num_inputs() const { return num_inputs_; }
  const std::vector<Step>& steps() const { return steps_; }
  /** Value number of each output. */
  const std::vector<int>& output_values() const { return outputs_; }
  /** Output shape of step `s` over arguments of these shapes. */
  static Shape step_shape(const Step& s, const std::vector<Shape>& args);
  /** The outputs' shapes for inputs of these shapes. */
  std::vector<Shape> output_shapes(const std::vector<Shape>& inputs) const;
  /** True when some step is a sum (over the trailing axes). */
  bool has_sums() const;
  /** How many trailing axes the sums reduce (0 without sums). */
  int summed_axes() const;
  /** The steps as ordinary lazy nodes over `inputs`: the node's outputs, unfused. */
  std::vector<array> expand(const std::vector<array>& inputs) const;
  /** The run-time compiled kernel for an input layout `key` (a backend's), built once by
   *  `build` from make_source's source; null when there is no source or the build fails (the
   *  backend then runs the steps another way). */
  void* generated(const std::string& key, const std::function<std::optional<std::string>()>& make_source,
                  const std::function<void*(const std::string&)>& build) const;

 private:
  mutable std::mutex generated_mu_;
  mutable std::unordered_map<std::string, void*> generated_;
  int num_inputs_;
  std::vector<Step> steps_;
  std::vector<int> outputs_;
};

namespace detail {
/** For tests, without a GPU: compiles with NVRTC, for `arch` (e.g. "sm_90"), the CUDA kernel the
 *  GPU would generate for fused node `c` over these inputs and output; "" when it compiles, else
 *  why not (the NVRTC log and the source). "no CUDA" in builds without it. */
std::string compiled_gpu_source_check(const Compiled& c, const std::vector<array>& inputs, const array& out,
                                      const std::string& arch);
}  // namespace detail

}  // namespace mica
