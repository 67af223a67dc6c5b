// The cuDNN handle, the plan cache and execution (cudnn.h).
#include "mica/backend/cuda/cudnn/cudnn.h"

#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>

#include "mica/backend/cuda/utils.h"

namespace mica::cu::dnn {

namespace {
struct State {
  std::mutex mu;  // plan building and execution are serialized (one handle)
  cudnnHandle_t handle = nullptr;
  std::map<std::string, Plan> plans;
};
State& state() {
  static State* s = new State();  // never destroyed: cuDNN may be unloaded before static destructors
  return *s;
}
cudnnHandle_t handle_locked() {
  State& st = state();
  if (!st.handle) {
    const cudnnStatus_t r = cudnnCreate(&st.handle);
    if (r != CUDNN_STATUS_SUCCESS) {
      st.handle = nullptr;
      throw std::runtime_error(std::string("[cudnn] cudnnCreate failed: ") + cudnnGetErrorString(r));
    }
  }
  return st.handle;
}
}  // namespace

Desc desc_of(const array& a) {
  Desc d;
  for (int i = 0; i < a.ndim(); ++i) {
    d.dim.push_back(a.shape(i));
    d.stride.push_back(a.strides()[i]);
  }
  return d;
}

Desc row_major(std::vector<int64_t> dim) {
  Desc d{std::move(dim), {}};
  d.stride.assign(d.dim.size(), 1);
  for (int i = static_cast<int>(d.dim.size()) - 2; i >= 0; --i) d.stride[i] = d.stride[i + 1] * d.dim[i + 1];
  return d;
}

std::string key_of(const Desc& d) {
  std::ostringstream os;
  for (auto v : d.dim) os << v << ',';
  os << ':';
  for (auto v : d.stride) os << v << ',';
  return os.str();
}

fe::DataType_t data_type(Dtype dt) {
  if (dt == float16) return fe::DataType_t::HALF;
  if (dt == bfloat16) return fe::DataType_t::BFLOAT16;
  if (dt == float32) return fe::DataType_t::FLOAT;
  if (dt == float64) return fe::DataType_t::DOUBLE;
  throw std::invalid_argument("[cudnn] expected a floating dtype, got " + dtype_to_string(dt) + ".");
}

TensorPtr tensor(Graph& g, const char* name, int64_t uid, const Desc& d) {
  return g.tensor(fe::graph::Tensor_attributes().set_name(name).set_uid(uid).set_dim(d.dim).set_stride(d.stride));
}

const Plan& plan(const std::string& key, const std::function<std::shared_ptr<Graph>()>& make,
                 const std::vector<fe::NumericalNote_t>& exclude) {
  State& st = state();
  std::lock_guard<std::mutex> lock(st.mu);
  auto it = st.plans.find(key);
  if (it != st.plans.end()) return it->second;
  Plan p;
  cudnnHandle_t h = handle_locked();
  auto g = make();
  auto status = g->validate();
  if (status.is_good()) status = g->build_operation_graph(h);
  if (status.is_good()) status = g->create_execution_plans({fe::HeurMode_t::A, fe::HeurMode_t::FALLBACK});
  if (status.is_good() && !exclude.empty()) g->deselect_numeric_notes(exclude);
  if (status.is_good()) status = g->check_support(h);
  if (status.is_good()) status = g->build_plans();
  if (status.is_good()) status = g->get_workspace_size(p.workspace);
  if (status.is_good()) p.graph = std::move(g);
  else p.why = status.get_message();
  return st.plans.emplace(key, std::move(p)).first->second;
}

void execute(const Plan& plan, std::unordered_map<int64_t, void*>& pack, const Stream& s, const char* op) {
  std::optional<cu::Scratch> ws;
  if (plan.workspace > 0) ws.emplace(static_cast<size_t>(plan.workspace), s);
  State& st = state();
  std::lock_guard<std::mutex> lock(st.mu);
  cudnnHandle_t h = handle_locked();
  const cudnnStatus_t r = cudnnSetStream(h, cu::stream(s));
  if (r != CUDNN_STATUS_SUCCESS) {
    throw std::runtime_error(std::string("[") + op + "] cudnnSetStream failed: " + cudnnGetErrorString(r));
  }
  auto status = plan.graph->execute(h, pack, ws ? ws->get() : nullptr);
  if (!status.is_good()) throw std::runtime_error(std::string("[") + op + "] cuDNN failed: " + status.get_message());
}

}  // namespace mica::cu::dnn
