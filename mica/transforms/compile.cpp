// compile (mica/compile.h): trace on placeholders, fold constants, simplify, fuse, cache by the
// input signature, replay. A traced graph is a list of nodes over numbered values ("slots"): the
// inputs (arguments, captured state's arrays, keys drawn from the global random sequence), then
// the constants, then every node's outputs in order.
#include "mica/compile.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <list>
#include <map>
#include <set>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <typeindex>
#include <unordered_map>
#include <unordered_set>

#include "mica/backend/gpu_graph.h"
#include "mica/backend/gpu_info.h"
#include "mica/ops/movement.h"
#include "mica/ops/utils.h"
#include "mica/primitives/all.h"
#include "mica/primitives/compiled.h"
#include "mica/primitives/registry.h"
#include "mica/random.h"
#include "mica/transforms/shapes.h"
#include "mica/transforms/trace_graph.h"

namespace mica {

namespace {

std::atomic<int> g_mode{[] {
  return std::getenv("MICA_DISABLE_COMPILE") || std::getenv("MLX_DISABLE_COMPILE")
             ? static_cast<int>(CompileMode::disabled)
             : static_cast<int>(CompileMode::enabled);
}()};
// GPU groups are fused unless MICA_GPU_FUSION=0 (the NVRTC kernels: backend/cuda/compiled.cpp).
std::atomic<bool> g_gpu_fusion{[] {
  const char* v = std::getenv("MICA_GPU_FUSION");
  return !(v && std::string(v) == "0");
}()};
std::atomic<uint64_t> g_traces{0}, g_replays{0}, g_fused{0}, g_last_nodes{0}, g_generation{0};
// Shapeless traces running on this thread (nested compiles count).
thread_local int g_shapeless_depth = 0;
// Traces of compile or export running on this thread (each holds a ShapelessTraceScope).
thread_local int g_trace_depth = 0;

// The registry family of a primitive class ("" for classes outside the registry).
const std::string& family_of(const Primitive& p) {
  static const std::unordered_map<std::type_index, std::string> families = [] {
    std::unordered_map<std::type_index, std::string> m;
#define MICA_FAMILY(NAME, FAMILY, KIND, GPU) m.emplace(typeid(NAME), #FAMILY);
    MICA_PRIMITIVES(MICA_FAMILY)
#undef MICA_FAMILY
    return m;
  }();
  static const std::string none;
  auto it = families.find(typeid(p));
  return it == families.end() ? none : it->second;
}
bool elementwise(const Primitive& p) {
  const std::string& f = family_of(p);
  return f == "unary" || f == "binary";
}

// The traced graph (transforms/trace_graph.h), with its slot count.
using Node = detail::TracedNode;
struct Graph : detail::TracedGraph {
  int num_slots() const {
    int n = num_inputs + static_cast<int>(constants.size());
    for (const auto& nd : nodes) n += static_cast<int>(nd.shapes.size());
    return n;
  }
};

// Output shapes of `prim` over inputs of these shapes, for shapeless replay (transforms/shapes.h);
// throws for primitives whose output shape is a parameter (reshape, slice, broadcast …).
std::vector<Shape> infer_shapes(const Primitive& prim, const std::vector<Shape>& in, size_t num_outputs) {
  return detail::infer_output_shapes(prim, in, num_outputs, "compile");
}

// ---- tracing ----

// Builds the graph from placeholders `inputs` to `outputs` (detail::trace_graph): nodes that
// depend on no input become constants, evaluated there (constant folding).
Graph build_graph(const std::vector<array>& inputs, const std::vector<array>& outputs) {
  return Graph{detail::trace_graph(inputs, outputs, false)};
}

// Rebuilds `g` keeping the nodes marked live, with arguments and outputs seen through `alias`
// (slot -> slot it equals), and renumbers the slots densely.
Graph compact(Graph g, const std::vector<char>& live, std::vector<int> alias) {
  auto resolve = [&](int s) {
    while (alias[s] != s) s = alias[s];
    return s;
  };
  std::vector<int> renum(alias.size(), -1);
  int next = g.num_inputs;
  for (int i = 0; i < g.num_inputs; ++i) renum[i] = i;
  for (size_t c = 0; c < g.constants.size(); ++c) renum[g.num_inputs + c] = next++;
  Graph out;
  out.num_inputs = g.num_inputs;
  out.constants = std::move(g.constants);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    if (!live[i]) continue;
    Node& n = g.nodes[i];
    for (auto& a : n.args) a = renum[resolve(a)];
    for (size_t k = 0; k < n.shapes.size(); ++k) renum[n.first + k] = next + static_cast<int>(k);
    n.first = next;
    next += static_cast<int>(n.shapes.size());
    out.nodes.push_back(std::move(n));
  }
  for (int o : g.outputs) out.outputs.push_back(renum[resolve(o)]);
  return out;
}

// Keeps only the nodes some output needs.
std::vector<char> live_nodes(const Graph& g, const std::vector<int>& alias) {
  std::vector<int> producer(alias.size(), -1);
  for (size_t i = 0; i < g.nodes.size(); ++i)
    for (size_t k = 0; k < g.nodes[i].shapes.size(); ++k) producer[g.nodes[i].first + k] = static_cast<int>(i);
  auto resolve = [&](int s) {
    while (alias[s] != s) s = alias[s];
    return s;
  };
  std::vector<char> live(g.nodes.size(), 0);
  std::vector<int> work;
  for (int o : g.outputs) work.push_back(resolve(o));
  while (!work.empty()) {
    int s = work.back();
    work.pop_back();
    int p = producer[s];
    if (p < 0 || live[p]) continue;
    live[p] = 1;
    for (int a : g.nodes[p].args) work.push_back(resolve(a));
  }
  return live;
}

// Simplification: no-op reshapes, broadcasts and casts removed; common subexpressions (equal
// primitives over equal arguments) computed once; dead nodes dropped.
Graph simplify(Graph g, const std::vector<array>& inputs, bool shapeless) {
  const int ns = g.num_slots();
  std::vector<int> alias(ns);
  for (int s = 0; s < ns; ++s) alias[s] = s;
  auto resolve = [&](int s) {
    while (alias[s] != s) s = alias[s];
    return s;
  };
  std::vector<Shape> shape(ns);
  std::vector<Dtype> dtype(ns, float32);
  for (int i = 0; i < g.num_inputs; ++i) {
    shape[i] = inputs[i].shape();
    dtype[i] = inputs[i].dtype();
  }
  for (size_t c = 0; c < g.constants.size(); ++c) {
    shape[g.num_inputs + c] = g.constants[c].shape();
    dtype[g.num_inputs + c] = g.constants[c].dtype();
  }
  std::vector<char> dead(g.nodes.size(), 0);
  std::map<std::pair<std::string, std::vector<int>>, std::vector<int>> seen;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    Node& n = g.nodes[i];
    for (auto& a : n.args) a = resolve(a);
    for (size_t k = 0; k < n.shapes.size(); ++k) {
      shape[n.first + k] = n.shapes[k];
      dtype[n.first + k] = n.dtypes[k];
    }
    const auto& t = typeid(*n.prim);
    if ((t == typeid(AsType) && dtype[n.args[0]] == n.dtypes[0]) ||
        (!shapeless && (t == typeid(Reshape) || t == typeid(Broadcast)) && shape[n.args[0]] == n.shapes[0])) {
      alias[n.first] = n.args[0];
      dead[i] = 1;
      continue;
    }
    if (family_of(*n.prim) == "distributed") continue;  // each collective is a message: keep them all
    auto& candidates = seen[{n.prim->name(), n.args}];
    bool merged = false;
    for (int c : candidates) {
      const Node& o = g.nodes[c];
      if (typeid(*o.prim) == t && o.prim->stream() == n.prim->stream() && o.shapes == n.shapes &&
          o.dtypes == n.dtypes && n.prim->is_equivalent(*o.prim)) {
        for (size_t q = 0; q < n.shapes.size(); ++q) alias[n.first + q] = o.first + static_cast<int>(q);
        dead[i] = 1;
        merged = true;
        break;
      }
    }
    if (!merged) candidates.push_back(static_cast<int>(i));
  }
  std::vector<char> live = live_nodes(g, alias);
  for (size_t i = 0; i < live.size(); ++i) live[i] = live[i] && !dead[i];
  return compact(std::move(g), live, std::move(alias));
}

// A sum over trailing axes of a floating array (on the GPU with GPU fusion on): it may end a
// fused group.
bool trailing_sum(const Node& n, const Shape& in_shape) {
  auto* r = dynamic_cast<const Reduce*>(n.prim.get());
  if (!r || r->type() != Reduce::Sum || n.shapes.size() != 1) return false;
  if (n.prim->device() != Device::cpu && !g_gpu_fusion.load()) return false;
  if (!(n.dtypes[0] == float32 || n.dtypes[0] == float64)) return false;
  std::vector<int> axes = r->axes();
  std::sort(axes.begin(), axes.end());
  const int nd = static_cast<int>(in_shape.size());
  for (size_t i = 0; i < axes.size(); ++i) {
    if (axes[i] != nd - static_cast<int>(axes.size()) + static_cast<int>(i)) return false;
  }
  return !axes.empty();
}

// Elementwise ops cheap enough to compute again in each group that reads them, rather than
// writing their result to memory and reading it back.
bool cheap(const Primitive& p) {
  const auto& t = typeid(p);
  return t == typeid(Add) || t == typeid(Subtract) || t == typeid(Multiply) || t == typeid(Divide) ||
         t == typeid(Negative) || t == typeid(Abs) || t == typeid(Square) || t == typeid(Maximum) ||
         t == typeid(Minimum) || t == typeid(AsType) || t == typeid(StopGradient) || t == typeid(Select) ||
         t == typeid(Equal) || t == typeid(NotEqual) || t == typeid(Less) || t == typeid(LessEqual) ||
         t == typeid(Greater) || t == typeid(GreaterEqual);
}

// Fusion: groups of elementwise nodes of one shape (GPU nodes with GPU fusion on), with sums over its trailing axes and
// elementwise nodes over the summed (per-row) shape, ending in one root (any of these), become
// one Compiled node. A node joins a group when the group
// holds every node that still reads it; a cheap node whose readers are all fusable is copied
// into each reader's group instead, so its value never goes to memory. Groups are grown from
// the last node backwards.
Graph fuse(Graph g) {
  const int ns = g.num_slots();
  const int nn = static_cast<int>(g.nodes.size());
  std::vector<int> producer(ns, -1);
  std::vector<Shape> slot_shape(ns);
  for (int i = 0; i < nn; ++i) {
    for (size_t k = 0; k < g.nodes[i].shapes.size(); ++k) {
      producer[g.nodes[i].first + k] = i;
      slot_shape[g.nodes[i].first + k] = g.nodes[i].shapes[k];
    }
  }
  std::vector<char> is_output(ns, 0);
  for (int o : g.outputs) is_output[o] = 1;
  auto elementwise_node = [&](const Node& n) {
    return n.shapes.size() == 1 && (n.prim->device() == Device::cpu || g_gpu_fusion.load()) && elementwise(*n.prim);
  };
  // The shape a group rooted at node r computes in (a sum's input shape), or nothing when r
  // cannot root a group.
  auto root_shape = [&](int r) -> std::optional<Shape> {
    const Node& n = g.nodes[r];
    if (elementwise_node(n)) return n.shapes[0];
    if (n.args.size() == 1 && producer[n.args[0]] >= 0 && trailing_sum(n, slot_shape[n.args[0]]))
      return slot_shape[n.args[0]];
    return std::nullopt;
  };
  // Readers of each node's output that still need it from outside (single-output nodes only
  // are fused; others keep every reader).
  std::vector<std::vector<int>> readers(nn);
  for (int i = 0; i < nn; ++i) {
    std::unordered_set<int> once(g.nodes[i].args.begin(), g.nodes[i].args.end());
    for (int a : once) {
      if (producer[a] >= 0) readers[producer[a]].push_back(i);
    }
  }
  std::vector<char> moved(nn, 0);
  std::vector<std::vector<int>> groups;
  for (int r = nn - 1; r >= 0; --r) {
    if (moved[r] || (readers[r].empty() && !is_output[g.nodes[r].first])) continue;
    auto shape = root_shape(r);
    if (!shape) continue;
    // The group's rows: sums in it reduce its trailing `reduced` axes (the root's, if it is a
    // sum; else the last axis), and values of the reduced shape are per-row scalars.
    const auto* root_sum = dynamic_cast<const Reduce*>(g.nodes[r].prim.get());
    const int reduced = root_sum ? static_cast<int>(root_sum->axes().size()) : 1;
    Shape row_shape = *shape;
    for (int d = 0; d < reduced && d < static_cast<int>(row_shape.size()); ++d) row_shape[row_shape.size() - 1 - d] = 1;
    const bool has_rows = static_cast<int>(shape->size()) >= reduced && row_shape != *shape;
    auto joins = [&](int p) {
      const Node& pn = g.nodes[p];
      if (pn.prim->stream() != g.nodes[r].prim->stream()) return false;
      if (elementwise_node(pn)) return pn.shapes[0] == *shape || (has_rows && pn.shapes[0] == row_shape);
      auto* sum = dynamic_cast<const Reduce*>(pn.prim.get());
      return has_rows && sum && static_cast<int>(sum->axes().size()) == reduced && producer[pn.args[0]] >= 0 &&
             trailing_sum(pn, slot_shape[pn.args[0]]) && slot_shape[pn.args[0]] == *shape;
    };
    // Candidates are taken from the highest index down, so every reader of a candidate that is
    // in the group has joined (and been classed) first.
    std::vector<int> members{r};
    std::unordered_set<int> in_group{r}, owned{r};  // owned: members whose every reader is owned
    std::set<int, std::greater<int>> frontier;
    auto add_producers = [&](int m) {
      for (int a : g.nodes[m].args) {
        const int p = producer[a];
        if (p >= 0 && !in_group.count(p) && !moved[p] && !is_output[a]) frontier.insert(p);
      }
    };
    add_producers(r);
    while (!frontier.empty()) {
      const int p = *frontier.begin();
      frontier.erase(frontier.begin());
      const Node& pn = g.nodes[p];
      if (!joins(p)) continue;
      bool all_owned = true, all_fusable = true;
      for (int c : readers[p]) {
        all_owned &= owned.count(c) > 0;
        all_fusable &= static_cast<bool>(root_shape(c));
      }
      // Taken whole when only owned members read it; a cheap elementwise node whose readers can
      // all fuse is copied (its original stays for the others and goes if none is left).
      if (!all_owned && !(elementwise_node(pn) && cheap(*pn.prim) && all_fusable)) continue;
      members.push_back(p);
      in_group.insert(p);
      if (all_owned) owned.insert(p);
      add_producers(p);
    }
    if (members.size() < 2) continue;
    // The group's node, at the root's place, reads its external values instead of its owned
    // members; copied members' originals keep reading theirs.
    for (int m : members) {
      for (int a : g.nodes[m].args) {
        const int q = producer[a];
        if (q < 0 || in_group.count(q)) continue;
        auto& rd = readers[q];
        rd.erase(std::remove_if(rd.begin(), rd.end(), [&](int c) { return owned.count(c) > 0 && c != r; }), rd.end());
        if (std::find(rd.begin(), rd.end(), r) == rd.end()) rd.push_back(r);
      }
    }
    for (size_t m = 1; m < members.size(); ++m) {
      const int p = members[m];
      auto& rd = readers[p];
      if (owned.count(p)) {
        moved[p] = 1;
        rd.clear();
      } else {
        rd.erase(std::remove_if(rd.begin(), rd.end(), [&](int c) { return owned.count(c) > 0; }), rd.end());
      }
    }
    groups.push_back(std::move(members));
  }
  if (groups.empty()) return g;
  // Each group becomes a Compiled node at its root's place (every member precedes the root);
  // then only the nodes the outputs still reach stay (moved members and unread copies go).
  std::vector<int> alias(ns);
  for (int s = 0; s < ns; ++s) alias[s] = s;
  for (auto& members : groups) {
    const int root = members.front();
    std::sort(members.begin(), members.end());
    std::unordered_set<int> in_group(members.begin(), members.end());
    std::unordered_map<int, int> value;  // slot -> value number inside the node
    std::vector<int> ext;
    for (int m : members) {
      for (int a : g.nodes[m].args) {
        if (producer[a] >= 0 && in_group.count(producer[a])) continue;
        if (value.emplace(a, static_cast<int>(ext.size())).second) ext.push_back(a);
      }
    }
    std::vector<Compiled::Step> steps;
    for (int m : members) {
      const Node& n = g.nodes[m];
      Compiled::Step st{n.prim, {}, n.dtypes[0]};
      for (int a : n.args) st.args.push_back(value.at(a));
      steps.push_back(std::move(st));
      value.emplace(n.first, static_cast<int>(ext.size() + steps.size() - 1));
    }
    Node& rn = g.nodes[root];
    auto prim = std::make_shared<Compiled>(rn.prim->stream(), static_cast<int>(ext.size()), std::move(steps),
                                           std::vector<int>{value.at(rn.first)});
    rn = Node{std::move(prim), std::move(ext), rn.shapes, rn.dtypes, rn.first};
    ++g_fused;
  }
  std::vector<char> live = live_nodes(g, alias);
  return compact(std::move(g), live, std::move(alias));
}

void dump(const Graph& g, const char* what) {
  std::fprintf(stderr, "-- %s: %d inputs, %zu constants\n", what, g.num_inputs, g.constants.size());
  for (const auto& n : g.nodes) {
    std::fprintf(stderr, "  v%d = %s(", n.first, n.prim->name());
    for (int a : n.args) std::fprintf(stderr, " v%d", a);
    std::fprintf(stderr, " )\n");
  }
}

// ---- replay ----

std::vector<array> replay(const Graph& g, const std::vector<array>& inputs, bool shapeless) {
  std::vector<array> values;
  values.reserve(g.num_slots());
  values.insert(values.end(), inputs.begin(), inputs.end());
  values.insert(values.end(), g.constants.begin(), g.constants.end());
  std::vector<array> args;
  std::vector<Shape> in_shapes;
  for (const auto& n : g.nodes) {
    args.clear();
    for (int a : n.args) args.push_back(values[a]);
    if (n.shapes.size() == 1 && !shapeless) {
      values.emplace_back(n.shapes[0], n.dtypes[0], n.prim, args);
      continue;
    }
    std::vector<Shape> shapes = n.shapes;
    if (shapeless) {
      in_shapes.clear();
      for (const auto& a : args) in_shapes.push_back(a.shape());
      shapes = infer_shapes(*n.prim, in_shapes, n.shapes.size());
    }
    if (shapes.size() == 1) {
      values.emplace_back(std::move(shapes[0]), n.dtypes[0], n.prim, args);
    } else {
      for (auto& o : array::make_arrays(std::move(shapes), n.dtypes, n.prim, args)) values.push_back(std::move(o));
    }
  }
  std::vector<array> out;
  out.reserve(g.outputs.size());
  for (int o : g.outputs) out.push_back(values[o]);
  return out;
}

// ---- CUDA graphs (backend/gpu_graph.h) ----
//
// On the GPU, a cache entry's replays after its first (which compiles kernels and makes plans)
// are captured once as a CUDA graph and then relaunched with one call. A graph holds addresses,
// so a launch needs every input where the capture saw it:
// - Staged inputs (the arguments, the random keys, state on the host or at a new address each
//   call) are copied into buffers of the graph's before each launch.
// - Direct inputs (the captured state: parameters, optimizer moments) are read, and donated to
//   their updates, in place, as an uncaptured replay donates them; a launch needs each at its
//   captured address, held by nothing but the call (else the replay runs uncaptured). One that
//   moves (an update that could not be donated) is staged from the next capture on.
// - Outputs in the graph's memory are copied out after each launch; outputs in a direct input's
//   buffer (donated) or a constant's share it, as the capture found them.
// Each capture is checked first by a probe (a capture with every input held, never launched):
// a replay that a capture cannot hold (a wait for the GPU, a read on the host, a CPU kernel,
// another stream) turns graphs off for the entry. The call queues the launch and returns with
// its outputs evaluated: GPU work reading them follows in stream order, a read on the host
// waits (as after async_eval), so a training loop builds its next step while this one runs.

constexpr int kMaxCaptures = 4;  // per entry: inputs that keep moving give up after these

struct GraphInput {
  bool staged = false;
  const void* base = nullptr;  // direct: the buffer the graph reads and writes in place
  int64_t byte_offset = 0;
  Shape shape;
  Strides strides;
  size_t data_size = 0;
};

struct GraphOutput {
  enum Kind : uint8_t { kEmpty, kInput, kConstant, kCopy } kind = kEmpty;
  int index = 0;              // kInput: the input; kConstant: the constant
  int64_t offset = 0;         // kInput, kConstant: elements of that array from its first one
  const void* src = nullptr;  // kCopy: where each launch leaves the elements
  size_t bytes = 0;
  Shape shape;
  Dtype dtype = float32;
  Strides strides;
  array::Flags flags{};
  size_t data_size = 0;
};

struct CapturedGraph {
  std::unique_ptr<gpu::Graph> graph;
  std::vector<GraphInput> ins;
  std::vector<std::optional<array>> staging;  // the staged inputs' buffers
  std::vector<GraphOutput> outs;
};

struct GraphState {
  bool checked = false, disabled = false;
  int captures = 0;
  size_t calls = 0;
  std::vector<bool> force_stage;  // direct inputs seen at a new address
  std::optional<CapturedGraph> current;
  std::vector<std::unique_ptr<gpu::Graph>> wrecked;  // failed captures: their arrays may live on
};

// ---- the compiled function ----

struct Entry {
  uint64_t generation;
  CompileMode mode;
  Device device;
  std::vector<Shape> shapes;  // shapeless: each input's number of dimensions as a 1-d shape
  std::vector<Dtype> dtypes;
  std::vector<std::string> state_keys;
  Graph graph;
  size_t num_outputs = 0;
  std::vector<Tree> out_states;  // structure of each output state, array leaves in output order
  size_t num_keys = 0;  // keys drawn from the global sequence (inputs after the state)
  GraphState graphs;
};

using Publish = std::function<void(const std::vector<array>&)>;

std::vector<array> placeholders_like(const std::vector<array>& outs) {
  std::vector<array> ph;
  for (const auto& o : outs) ph.emplace_back(o.shape(), o.dtype(), nullptr, std::vector<array>{});
  return ph;
}

// True if nothing but `inputs` holds any direct input (so the graph may write it in place).
bool direct_inputs_free(const std::vector<array>& inputs, const std::vector<bool>& staged) {
  const bool was = detail::g_running_gpu_kernel;
  detail::g_running_gpu_kernel = true;  // is_donatable asks for the GPU's side
  bool ok = true;
  for (size_t j = 0; j < inputs.size() && ok; ++j) ok = staged[j] || inputs[j].is_donatable();
  detail::g_running_gpu_kernel = was;
  return ok;
}

// Where each of `outs` (evaluated by capture `g`) lives; "" or why the graph cannot be used.
std::string classify(const Entry& e, const CapturedGraph& c, const std::vector<array>& outs, const gpu::Graph& g,
                     std::vector<GraphOutput>& res) {
  res.clear();
  std::set<const void*> used;
  for (const auto& o : outs) {
    GraphOutput r;
    r.shape = o.shape();
    r.dtype = o.dtype();
    r.strides = o.strides();
    r.flags = o.flags();
    r.data_size = o.data_size();
    const auto* d = o.data_record();
    if (!o.is_available() || !d) return "an output was not evaluated";
    if (o.size() == 0) {
      res.push_back(std::move(r));
      continue;
    }
    if (d->where != ArrayData::kGpu) return "an output is on the host";
    const void* base = d->gpu.ptr;
    bool staging = false;
    for (const auto& st : c.staging) staging = staging || (st && st->data_record()->gpu.ptr == base);
    auto element_offset = [&](int64_t from, Dtype dt, int64_t& off) {
      const int64_t rel = o.byte_offset() - from, size = size_of(dt);
      off = rel / size;
      return rel % size == 0;
    };
    if (g.owns(base) || staging) {
      if (!o.flags().contiguous) return "a strided output in the graph's memory";
      r.kind = GraphOutput::kCopy;
      r.src = static_cast<const char*>(base) + o.byte_offset();
      r.bytes = o.data_size() * o.itemsize();
      used.insert(base);
    } else {
      for (size_t j = 0; j < c.ins.size() && r.kind == GraphOutput::kEmpty; ++j) {
        if (c.ins[j].staged || c.ins[j].base != base) continue;
        if (!element_offset(c.ins[j].byte_offset, e.dtypes[j], r.offset)) return "an output at an odd offset";
        r.kind = GraphOutput::kInput;
        r.index = static_cast<int>(j);
      }
      for (size_t m = 0; m < e.graph.constants.size() && r.kind == GraphOutput::kEmpty; ++m) {
        const array& k = e.graph.constants[m];
        if (k.data_record() != d) continue;
        if (!element_offset(k.byte_offset(), k.dtype(), r.offset)) return "an output at an odd offset";
        r.kind = GraphOutput::kConstant;
        r.index = static_cast<int>(m);
      }
      if (r.kind == GraphOutput::kEmpty) return "an output in memory the graph does not own";
    }
    res.push_back(std::move(r));
  }
  for (const void* p : g.live_blocks()) {
    if (!used.count(p)) return "the graph keeps memory no output holds";
  }
  return "";
}

bool matches(const CapturedGraph& c, const std::vector<array>& inputs, const std::vector<bool>& staged) {
  for (size_t j = 0; j < inputs.size(); ++j) {
    const GraphInput& gi = c.ins[j];
    const array& a = inputs[j];
    if (gi.staged != staged[j] || a.shape() != gi.shape) return false;
    if (gi.staged) continue;
    if (a.data_record()->gpu.ptr != gi.base || a.byte_offset() != gi.byte_offset || a.strides() != gi.strides ||
        a.data_size() != gi.data_size)
      return false;
  }
  return true;
}

// The replay as an uncaptured call runs it, its outputs handed to the state.
std::vector<array> replay_published(const Entry& e, const std::vector<array>& inputs, bool shapeless,
                                    const Publish& publish) {
  std::vector<array> outs = replay(e.graph, inputs, shapeless);
  publish(outs);
  return outs;
}

// After a launch of `c`: the outputs in the graph's memory copied out (queued after it).
void copy_outputs(const CapturedGraph& c, std::vector<array>& outs, int si) {
  for (size_t k = 0; k < outs.size(); ++k) {
    const GraphOutput& o = c.outs[k];
    if (o.kind == GraphOutput::kCopy) gpu::copy_out(outs[k], o.src, o.bytes, o.data_size, o.strides, o.flags, si);
  }
}

// One launch of `c` on these inputs; the replay as is when a direct input is held elsewhere.
std::vector<array> launch_graph(const Entry& e, CapturedGraph& c, std::vector<array>& inputs,
                                const std::vector<bool>& staged, int si, bool shapeless, const Publish& publish) {
  std::vector<array> outs;
  for (const auto& o : c.outs) outs.emplace_back(o.shape, o.dtype, nullptr, std::vector<array>{});
  publish(outs);  // the state lets go of the arrays the graph updates
  if (!direct_inputs_free(inputs, staged)) return replay_published(e, inputs, shapeless, publish);
  try {
    for (size_t j = 0; j < inputs.size(); ++j) {
      if (staged[j]) gpu::stage(*c.staging[j], inputs[j], si);
    }
  } catch (...) {
    replay_published(e, inputs, shapeless, publish);  // the state as an uncaptured call leaves it
    throw;
  }
  for (size_t k = 0; k < outs.size(); ++k) {
    const GraphOutput& o = c.outs[k];
    if (o.kind == GraphOutput::kEmpty) {
      outs[k].set_data(allocator::malloc(0));
      outs[k].set_status(array::available);
    } else if (o.kind != GraphOutput::kCopy) {
      const array& from = o.kind == GraphOutput::kInput ? inputs[o.index] : e.graph.constants[o.index];
      outs[k].copy_shared_buffer(from, o.strides, o.flags, o.data_size, o.offset);
    }
  }
  c.graph->launch(si);
  copy_outputs(c, outs, si);
  inputs.clear();  // old state not donated is freed in stream order, after the graph
  return outs;
}

// A launch copies the staged inputs in and the outputs in the graph's memory out; what it saves
// is the host's work per node (building the replay, one launch each: a few microseconds). A few
// large kernels over new arguments each call (an elementwise chain of 8192 x 8192) lose more to
// the copies than they save: "" if the graph pays, else why not. `outs` are the probe's, which
// held the inputs: state updates the capture will donate count as copies (an upper bound).
std::string copies_outweigh_launches(const Entry& e, const std::vector<array>& inputs, const std::vector<bool>& staged,
                                     const std::vector<GraphOutput>& outs) {
  constexpr double kBytesPerSecond = 2.5e12;  // an H100's copy rate, read + write, rounded down
  constexpr double kSavedPerNode = 4e-6;      // host seconds per node a launch of the graph skips
  double bytes = 0;
  for (size_t j = 0; j < inputs.size(); ++j) {
    if (staged[j]) bytes += 2.0 * static_cast<double>(inputs[j].nbytes());
  }
  for (const auto& o : outs) {
    if (o.kind == GraphOutput::kCopy) bytes += 2.0 * static_cast<double>(o.bytes);
  }
  const double copy_s = bytes / kBytesPerSecond, saved_s = kSavedPerNode * static_cast<double>(e.graph.nodes.size());
  if (copy_s <= saved_s) return "";
  char why[160];
  std::snprintf(why, sizeof(why), "copies in and out (%.0f us) outweigh the launches saved (%zu nodes, %.0f us)",
                copy_s * 1e6, e.graph.nodes.size(), saved_s * 1e6);
  return why;
}

std::optional<std::vector<array>> no_graphs(GraphState& G, const std::string& why) {
  G.disabled = true;
  if (std::getenv("MICA_COMPILE_DEBUG")) std::fprintf(stderr, "compile: no CUDA graph: %s\n", why.c_str());
  return std::nullopt;
}

// Captures the replay on these inputs, launches it and keeps it as G.current.
std::optional<std::vector<array>> capture_graph(Entry& e, std::vector<array>& inputs, const std::vector<bool>& staged,
                                                int si, bool shapeless, const Publish& publish) {
  GraphState& G = e.graphs;
  const size_t n = inputs.size();
  // The state lets go of the arrays the graph would update; if something else holds one, the
  // replay runs as is (nothing captured).
  publish(placeholders_like(replay(e.graph, inputs, shapeless)));
  if (!direct_inputs_free(inputs, staged)) return replay_published(e, inputs, shapeless, publish);
  ++G.captures;
  CapturedGraph c;
  c.ins.resize(n);
  c.staging.resize(n);
  try {
    for (const auto& k : e.graph.constants) gpu::upload(k, si);
    for (size_t j = 0; j < n; ++j) {
      GraphInput& gi = c.ins[j];
      gi.staged = staged[j];
      gi.shape = inputs[j].shape();
      if (staged[j]) {
        c.staging[j] = gpu::staging_buffer(inputs[j], si);
        gpu::stage(*c.staging[j], inputs[j], si);
      } else {
        gi.base = inputs[j].data_record()->gpu.ptr;
        gi.byte_offset = inputs[j].byte_offset();
        gi.strides = inputs[j].strides();
        gi.data_size = inputs[j].data_size();
      }
    }
  } catch (...) {
    replay_published(e, inputs, shapeless, publish);  // the state as an uncaptured call leaves it
    throw;
  }
  auto graph_inputs = [&](bool move) {
    std::vector<array> ins;
    for (size_t j = 0; j < n; ++j) ins.push_back(staged[j] ? *c.staging[j] : move ? std::move(inputs[j]) : inputs[j]);
    return ins;
  };
  detail::EvalLock lock;
  std::string why;
  {
    std::vector<array> probe = replay(e.graph, graph_inputs(false), shapeless);
    auto g = gpu::capture(si, [&] { eval(probe); }, false, &why);
    std::vector<GraphOutput> kinds;
    if (g && why.empty()) why = classify(e, c, probe, *g, kinds);
    probe.clear();  // before the graph: its arrays hold the graph's addresses
    g.reset();
    if (!why.empty()) return no_graphs(G, "probe: " + why);
    why = copies_outweigh_launches(e, inputs, staged, kinds);
    if (!why.empty()) return no_graphs(G, why);
  }
  // The graph's memory is its own pool: the blocks the uncaptured replays left cached go back.
  gpu::clear_cache();
  std::vector<array> outs = replay(e.graph, graph_inputs(true), shapeless);
  inputs.clear();  // only the replay holds the direct inputs now: they are donated as uncaptured
  publish(outs);
  auto g = gpu::capture(si, [&] { eval(outs); }, true, &why);
  if (g && why.empty()) why = classify(e, c, outs, *g, c.outs);
  if (!g || !why.empty()) {
    G.disabled = true;
    if (g) G.wrecked.push_back(std::move(g));
    throw std::runtime_error("[compile] capturing a compiled function as a CUDA graph failed after its probe passed (" +
                             why + "); unset MICA_CUDA_GRAPHS to run without CUDA graphs.");
  }
  if (std::getenv("MICA_COMPILE_DEBUG")) {
    for (size_t k = 0; k < c.outs.size(); ++k) {
      const GraphOutput& o = c.outs[k];
      std::fprintf(stderr, "compile: graph output %zu: %s, %zu bytes from %p (offset %lld), data_size %zu, %s\n", k,
                   o.kind == GraphOutput::kCopy ? "copied" : o.kind == GraphOutput::kInput ? "an input's buffer"
                   : o.kind == GraphOutput::kConstant ? "a constant's buffer" : "empty",
                   o.bytes, o.src, static_cast<long long>(o.offset), o.data_size, detail::shape_str(o.shape).c_str());
    }
  }
  c.graph = std::move(g);
  c.graph->launch(si);
  copy_outputs(c, outs, si);
  G.current = std::move(c);
  return outs;
}

// The call through a CUDA graph; nullopt: replay as usual.
std::optional<std::vector<array>> graph_call(Entry& e, std::vector<array>& inputs, size_t nargs, bool shapeless,
                                             const Publish& publish) {
  GraphState& G = e.graphs;
  if (G.disabled || !(e.device == Device::gpu) || !gpu::graphs_available() || G.calls++ == 0) return std::nullopt;
  // Under a transform (grad through the compiled function, vmap, an outer compile's trace) the
  // outputs must stay nodes of the graph being traced.
  if (detail::in_tracing() || g_trace_depth > 0) return std::nullopt;
  for (const auto& a : inputs) {
    if (!a.is_available() && !a.has_primitive()) return std::nullopt;  // a placeholder
  }
  if (e.graph.nodes.empty()) return no_graphs(G, "nothing to run");
  const Stream st = e.graph.nodes[0].prim->stream();
  if (!G.checked) {
    G.checked = true;
    for (const auto& node : e.graph.nodes) {
      const Stream ns = node.prim->stream();
      if (!(ns.device == Device::gpu) || ns.index != st.index) return no_graphs(G, "a node on another stream");
    }
  }
  const int si = st.index;
  eval(inputs);
  const size_t n = inputs.size();
  if (G.force_stage.size() != n) G.force_stage.assign(n, false);
  std::vector<bool> staged(n);
  std::vector<array> fix;
  for (size_t j = 0; j < n; ++j) {
    const auto* d = inputs[j].data_record();
    staged[j] = j < nargs || j >= n - e.num_keys || G.force_stage[j] || !d || d->where != ArrayData::kGpu ||
                d->gpu_stream != si;
    if (staged[j] && !inputs[j].flags().row_contiguous) fix.push_back(inputs[j] = contiguous(inputs[j]));
  }
  if (!fix.empty()) eval(fix);
  fix.clear();
  if (G.current) {
    if (matches(*G.current, inputs, staged)) return launch_graph(e, *G.current, inputs, staged, si, shapeless, publish);
    for (size_t j = 0; j < n; ++j) {
      const GraphInput& gi = G.current->ins[j];
      if (!gi.staged && !staged[j] && inputs[j].data_record()->gpu.ptr != gi.base) G.force_stage[j] = staged[j] = true;
    }
  }
  G.current.reset();  // its memory goes before a new capture takes more
  if (G.captures >= kMaxCaptures) return no_graphs(G, "inputs keep moving");
  return capture_graph(e, inputs, staged, si, shapeless, publish);
}

struct Compiler {
  static constexpr size_t kMaxEntries = 64;
  ArraysFn fun;
  CompileOptions opts;
  std::recursive_mutex mu;  // a function may call itself compiled while it is traced
  std::list<Entry> cache;

  std::vector<array> operator()(const std::vector<array>& args) {
    const auto mode = static_cast<CompileMode>(g_mode.load(std::memory_order_relaxed));
    if (mode == CompileMode::disabled) return fun(args);
    // The signature: arguments, then every captured input state's arrays.
    std::vector<array> inputs = args;
    std::vector<std::string> keys;
    for (auto& st : opts.inputs) {
      for (auto& [k, a] : tree_flatten_arrays(st.get())) {
        keys.push_back(k);
        inputs.push_back(std::move(a));
      }
      keys.push_back(st.signature ? "|" + st.signature() : "|");
    }
    std::lock_guard<std::recursive_mutex> lk(mu);
    // Traces from before compile_clear_cache() go (with any CUDA graph's memory).
    const uint64_t gen = g_generation.load(std::memory_order_relaxed);
    cache.remove_if([&](const Entry& x) { return x.generation != gen; });
    Entry* e = find(inputs, keys, mode);
    if (e) {
      ++g_replays;
    } else {
      cache.push_back(trace(args, inputs, std::move(keys), mode));
      e = &cache.back();
      // A function called with ever new shapes keeps its latest traces only.
      if (cache.size() > kMaxEntries) cache.pop_front();
      ++g_traces;
    }
    for (size_t k = 0; k < e->num_keys; ++k) inputs.push_back(random::KeySequence::default_().next());
    // The captured state takes the outputs after the function's own.
    auto publish = [&](const std::vector<array>& outs) {
      size_t at = e->num_outputs;
      for (size_t j = 0; j < opts.outputs.size(); ++j) {
        opts.outputs[j].set(tree_map([&](const Tree&) { return Tree(outs[at++]); }, e->out_states[j]));
      }
    };
    std::vector<array> outs;
    if (auto g = graph_call(*e, inputs, args.size(), opts.shapeless, publish)) {
      outs = std::move(*g);
    } else {
      outs = replay_published(*e, inputs, opts.shapeless, publish);
    }
    outs.erase(outs.begin() + static_cast<std::ptrdiff_t>(e->num_outputs), outs.end());
    return outs;
  }

  Entry* find(const std::vector<array>& inputs, const std::vector<std::string>& keys, CompileMode mode) {
    const uint64_t gen = g_generation.load(std::memory_order_relaxed);
    const Device dev = default_device();
    for (auto& e : cache) {
      if (e.generation != gen || e.mode != mode || !(e.device == dev) || e.shapes.size() != inputs.size() ||
          e.state_keys != keys)
        continue;
      bool match = true;
      for (size_t i = 0; i < inputs.size() && match; ++i) {
        match = inputs[i].dtype() == e.dtypes[i] &&
                (opts.shapeless ? static_cast<int32_t>(inputs[i].ndim()) == e.shapes[i][0]
                                : inputs[i].shape() == e.shapes[i]);
      }
      if (match) return &e;
    }
    return nullptr;
  }

  Entry trace(const std::vector<array>& args, const std::vector<array>& inputs, std::vector<std::string> keys,
              CompileMode mode) {
    Entry e{g_generation.load(), mode, default_device(), {}, {}, std::move(keys), {}, 0, {}, 0, {}};
    for (const auto& a : inputs) {
      e.shapes.push_back(opts.shapeless ? Shape{static_cast<int32_t>(a.ndim())} : a.shape());
      e.dtypes.push_back(a.dtype());
    }
    std::vector<array> ph;
    for (const auto& a : inputs) ph.emplace_back(a.shape(), a.dtype(), nullptr, std::vector<array>{});
    // Captured state: every array replaced by its placeholder for the trace, then put back.
    std::vector<Tree> saved;
    for (auto& st : opts.inputs) saved.push_back(st.get());
    std::vector<Tree> saved_out;
    for (auto& st : opts.outputs) saved_out.push_back(st.get());
    struct Restore {
      Compiler& c;
      std::vector<Tree>& in;
      std::vector<Tree>& out;
      ~Restore() {
        for (size_t j = 0; j < c.opts.outputs.size(); ++j) c.opts.outputs[j].set(out[j]);
        for (size_t j = 0; j < c.opts.inputs.size(); ++j) c.opts.inputs[j].set(in[j]);
      }
    } restore{*this, saved, saved_out};
    size_t at = args.size();
    for (size_t j = 0; j < opts.inputs.size(); ++j) {
      opts.inputs[j].set(tree_map([&](const Tree&) { return Tree(ph[at++]); }, saved[j]));
    }
    // Random ops without a key: each draw from the global key sequence becomes an input of the
    // trace, and every replay draws as many keys, in order (the uncompiled function's numbers).
    std::vector<array> drawn;
    random::detail::KeyHook hook = [&] { return drawn.emplace_back(Shape{2}, uint32, nullptr, std::vector<array>{}); };
    random::detail::KeyHookScope hook_scope(&hook);
    std::vector<array> outs;
    {
      detail::ShapelessTraceScope shapeless(opts.shapeless);
      outs = fun(std::vector<array>(ph.begin(), ph.begin() + args.size()));
    }
    e.num_outputs = outs.size();
    for (auto& st : opts.outputs) {
      Tree t = st.get();
      tree_visit_leaves(t, [&](const Tree& leaf) { outs.push_back(leaf.as_array()); });
      e.out_states.push_back(std::move(t));
    }
    e.num_keys = drawn.size();
    ph.insert(ph.end(), drawn.begin(), drawn.end());
    Graph g = build_graph(ph, outs);
    if (mode != CompileMode::no_simplify) g = simplify(std::move(g), ph, opts.shapeless);
    if (std::getenv("MICA_COMPILE_DEBUG")) dump(g, "before fusion");
    if (mode == CompileMode::enabled) g = fuse(std::move(g));
    if (std::getenv("MICA_COMPILE_DEBUG")) dump(g, "after fusion");
    g_last_nodes = g.nodes.size();
    // Every node reads values made before it (cheap, once per trace; a failure is mica's bug).
    for (const auto& n : g.nodes) {
      for (int a : n.args) {
        if (a < 0 || a >= n.first) {
          throw std::logic_error(std::string("[compile] internal error: ") + n.prim->name() + " reads value " +
                                 std::to_string(a) + ", not made before it (value " + std::to_string(n.first) + ")");
        }
      }
    }
    if (opts.shapeless) {
      // Every node must infer its outputs' shapes from its inputs' (and agree with the trace).
      std::vector<Shape> slot_shape;
      for (const auto& p : ph) slot_shape.push_back(p.shape());
      for (const auto& c : g.constants) slot_shape.push_back(c.shape());
      for (const auto& n : g.nodes) {
        std::vector<Shape> in;
        for (int a : n.args) in.push_back(slot_shape[a]);
        auto s = infer_shapes(*n.prim, in, n.shapes.size());
        if (s != n.shapes) {
          throw std::invalid_argument(std::string("[compile] expected ") + n.prim->name() +
                                      "'s output shape to follow from its inputs' shapes for shapeless compile; "
                                      "compile with shapeless = false.");
        }
        slot_shape.insert(slot_shape.end(), s.begin(), s.end());
      }
    }
    e.graph = std::move(g);
    return e;
  }
};

}  // namespace

ArraysFn compile(ArraysFn fun, CompileOptions options) {
  auto c = std::make_shared<Compiler>();
  c->fun = std::move(fun);
  c->opts = std::move(options);
  return [c](const std::vector<array>& args) { return (*c)(args); };
}

ArraysFn compile(ArraysFn fun, bool shapeless) { return compile(std::move(fun), CompileOptions{.shapeless = shapeless}); }

ArraysFn compile(std::vector<array> (*fun)(const std::vector<array>&), bool shapeless) {
  static std::mutex mu;
  static std::map<std::pair<uintptr_t, bool>, ArraysFn> shared;
  std::lock_guard<std::mutex> lk(mu);
  auto& f = shared[{reinterpret_cast<uintptr_t>(fun), shapeless}];
  if (!f) f = compile(ArraysFn(fun), shapeless);
  return f;
}

void disable_compile() { g_mode = static_cast<int>(CompileMode::disabled); }
void enable_compile() { g_mode = static_cast<int>(CompileMode::enabled); }
void set_compile_mode(CompileMode mode) { g_mode = static_cast<int>(mode); }
CompileMode compile_mode() { return static_cast<CompileMode>(g_mode.load()); }

namespace detail {
bool in_shapeless_trace() { return g_shapeless_depth > 0; }
ShapelessTraceScope::ShapelessTraceScope(bool on) : on_(on) {
  g_shapeless_depth += on_;
  ++g_trace_depth;
}
ShapelessTraceScope::~ShapelessTraceScope() {
  g_shapeless_depth -= on_;
  --g_trace_depth;
}
CompileStats compile_stats() { return {g_traces.load(), g_replays.load(), g_fused.load(), g_last_nodes.load()}; }
void compile_clear_cache() { ++g_generation; }
void set_gpu_fusion(bool on) {
  g_gpu_fusion = on;
  ++g_generation;  // traces made under the other setting are not reused
}
}  // namespace detail

}  // namespace mica
