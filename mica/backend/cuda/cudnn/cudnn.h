// cuDNN through its C++ graph frontend, for the primitives it runs (attention, convolutions):
// one handle per process, graphs built once per case (shapes, strides, dtype, options) and kept,
// workspaces from mica's stream-ordered allocator.
#pragma once
#include <cudnn_frontend.h>

#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "mica/array.h"

namespace mica::cu::dnn {

namespace fe = cudnn_frontend;
using Graph = fe::graph::Graph;
using TensorPtr = std::shared_ptr<fe::graph::Tensor_attributes>;

/** A tensor as cuDNN sees it: dims and strides in elements. */
struct Desc {
  std::vector<int64_t> dim, stride;
};
/** The dims and strides of an array. */
Desc desc_of(const array& a);
/** Row-major strides for dims. */
Desc row_major(std::vector<int64_t> dim);
/** "d0,d1,..:s0,s1,.." for cache keys. */
std::string key_of(const Desc& d);

/** cuDNN's name for a floating dtype (float16, bfloat16, float32, float64). */
fe::DataType_t data_type(Dtype dt);

/** A built graph and its workspace; graph is null when cuDNN has no engine for the case. */
struct Plan {
  std::shared_ptr<Graph> graph;
  int64_t workspace = 0;
  std::string why;  // cuDNN's reason when graph is null
};

/** The plan cached under key, built with make() (which declares the graph's tensors and
 * operations) on first use: validated, lowered and given the heuristics' first engine that
 * supports it, leaving out engines with any of the `exclude` notes (e.g. TENSOR_CORE for exact
 * float32). */
const Plan& plan(const std::string& key, const std::function<std::shared_ptr<Graph>()>& make,
                 const std::vector<fe::NumericalNote_t>& exclude = {});

/** Runs plan on stream s with the tensors' device addresses by uid; throws `[op] cuDNN …`. */
void execute(const Plan& plan, std::unordered_map<int64_t, void*>& pack, const Stream& s, const char* op);

/** A tensor of graph g with this uid, dims and strides. */
TensorPtr tensor(Graph& g, const char* name, int64_t uid, const Desc& d);

}  // namespace mica::cu::dnn
