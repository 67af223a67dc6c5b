// export_function, exporter and import_function (mica/export.h).
//
// A trace is a list of nodes over numbered values ("slots"): the inputs (positional, then named
// in name order), then the trace's constants, then every node's outputs in order. The file:
//
//   header   "MICAFUNC", u32 version, u32 flags (bit 0: shapeless), u64 metadata bytes,
//            u64 file bytes
//   metadata u64 #constants, each: u8 dtype, shape (u64 ndim, i32 dims), u64 data bytes;
//            u64 #traces, each: positional inputs (u64 count, each u8 dtype + shape), named
//            inputs (u64 count, each string + u8 dtype + shape), constants (u64 count, each u64
//            index into the file's constants), nodes (u64 count, each: string primitive name,
//            u8 device type, string parameters, u64 count + i32 argument slots, u64 count +
//            (u8 dtype, shape) per output), outputs (u64 count + i32 slots)
//   data     each constant's bytes, row-major, at the next multiple of 64
//   trailer  u64 checksum of every byte before it (Checksum below), "MICAEND."
// Integers are little-endian; strings are a u64 length and the bytes.
#include "mica/export.h"

#include <cstring>
#include <optional>
#include <stdexcept>
#include <unordered_map>

#include "mica/compile.h"
#include "mica/io/file.h"
#include "mica/primitives/all.h"
#include "mica/primitives/serialize.h"
#include "mica/transforms.h"
#include "mica/transforms/shapes.h"
#include "mica/transforms/trace_graph.h"

namespace mica {

namespace {

constexpr char kMagic[8] = {'M', 'I', 'C', 'A', 'F', 'U', 'N', 'C'};
constexpr char kEndMagic[8] = {'M', 'I', 'C', 'A', 'E', 'N', 'D', '.'};
constexpr uint32_t kVersion = 1;
constexpr size_t kHeaderBytes = 8 + 4 + 4 + 8 + 8;
constexpr size_t kTrailerBytes = 16;
constexpr size_t kAlign = 64;

size_t align_up(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

// The trailer's checksum: 8 bytes at a time, h = rotl((h ^ word) * prime, 29) (the rotation
// carries every bit's change into the low bits of later products), the tail byte by byte, then
// the length; resumable over chunks of any size.
class Checksum {
 public:
  void add(const void* p, size_t n) {
    auto* b = static_cast<const uint8_t*>(p);
    total_ += n;
    while (n && fill_) {  // complete a word begun by the last chunk
      pending_[fill_++] = *b++;
      --n;
      if (fill_ == 8) word(pending_), fill_ = 0;
    }
    for (; n >= 8; b += 8, n -= 8) word(b);
    while (n--) pending_[fill_++] = *b++;
  }
  uint64_t value() const {
    uint64_t h = h_;
    for (size_t i = 0; i < fill_; ++i) h = mix(h, pending_[i]);
    return mix(h, total_);
  }

 private:
  static uint64_t mix(uint64_t h, uint64_t w) {
    h = (h ^ w) * 0x100000001b3ull;
    return (h << 29) | (h >> 35);
  }
  void word(const uint8_t* b) {
    uint64_t w;
    std::memcpy(&w, b, 8);
    h_ = mix(h_, w);
  }
  uint64_t h_ = 0xcbf29ce484222325ull, total_ = 0;
  uint8_t pending_[8] = {};
  size_t fill_ = 0;
};

std::string show(const Shape& s) {
  std::string out = "(";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + (s.size() == 1 ? ",)" : ")");
}

std::string show(Dtype d, const Shape& s) { return dtype_to_string(d) + " " + show(s); }

struct Node {
  std::shared_ptr<Primitive> prim;
  std::string params;  // the primitive's saved parameters
  std::vector<int> args;
  std::vector<Shape> shapes;
  std::vector<Dtype> dtypes;
};

struct Spec {
  Shape shape;
  Dtype dtype;
};

struct Trace {
  std::vector<Spec> args;
  std::vector<std::pair<std::string, Spec>> kwargs;
  std::vector<int> constants;  // indices into the file's constants
  std::vector<Node> nodes;
  std::vector<int> outputs;
};

// Whether two traces take the same inputs (equal shapes, or equal ndims when shapeless).
bool same_signature(const Trace& a, const Trace& b, bool shapeless) {
  auto eq = [&](const Spec& x, const Spec& y) {
    return x.dtype == y.dtype && (shapeless ? x.shape.size() == y.shape.size() : x.shape == y.shape);
  };
  if (a.args.size() != b.args.size() || a.kwargs.size() != b.kwargs.size()) return false;
  for (size_t i = 0; i < a.args.size(); ++i)
    if (!eq(a.args[i], b.args[i])) return false;
  for (size_t i = 0; i < a.kwargs.size(); ++i)
    if (a.kwargs[i].first != b.kwargs[i].first || !eq(a.kwargs[i].second, b.kwargs[i].second)) return false;
  return true;
}

std::string describe(const Trace& t, bool shapeless) {
  auto spec = [&](const Spec& s) {
    return shapeless ? dtype_to_string(s.dtype) + " " + std::to_string(s.shape.size()) + "-d" : show(s.dtype, s.shape);
  };
  std::string out = "[";
  for (size_t i = 0; i < t.args.size(); ++i) out += (i ? ", " : "") + spec(t.args[i]);
  for (size_t i = 0; i < t.kwargs.size(); ++i)
    out += (i || !t.args.empty() ? ", " : "") + t.kwargs[i].first + "=" + spec(t.kwargs[i].second);
  return out + "]";
}

// Checks that `prim` can be written and loaded back, and returns its parameters.
std::string saved_params(const Primitive& prim) {
  auto entry = detail::primitive_loader(prim.name());
  if (!entry.loader || entry.type != std::type_index(typeid(prim))) {
    std::string why;
    for (const auto& [n, reason] : detail::unsaved_primitives())
      if (n == prim.name()) why = " (" + reason + ")";
    throw std::invalid_argument(std::string("[export_function] expected primitives that can be exported, got ") +
                                prim.name() + why + ".");
  }
  ParamWriter w;
  prim.save(w);
  return w.bytes();
}

}  // namespace

// ---- exporting ----

namespace detail {

struct ExporterState {
  enum Form { positional, named, both };
  std::string path;
  std::function<std::vector<array>(const Args&, const Kwargs&)> fun;
  bool shapeless = false;
  Form form = both;
  bool closed = false;
  std::vector<array> constants;
  std::unordered_map<uintptr_t, int> constant_index;
  std::vector<Trace> traces;

  void add(const Args& args, const Kwargs& kwargs);
  Trace trace(const Args& args, const Kwargs& kwargs);
  void write() const;
};

Trace ExporterState::trace(const Args& args, const Kwargs& kwargs) {
  Trace t;
  std::vector<array> ph;
  Args ph_args;
  Kwargs ph_kwargs;
  for (const auto& a : args) {
    t.args.push_back({a.shape(), a.dtype()});
    ph_args.emplace_back(a.shape(), a.dtype(), nullptr, std::vector<array>{});
    ph.push_back(ph_args.back());
  }
  for (const auto& [k, a] : kwargs) {
    t.kwargs.push_back({k, {a.shape(), a.dtype()}});
    auto it = ph_kwargs.emplace(k, array(a.shape(), a.dtype(), nullptr, std::vector<array>{})).first;
    ph.push_back(it->second);
  }
  std::vector<array> outs;
  {
    detail::ShapelessTraceScope scope(shapeless);
    outs = fun(ph_args, ph_kwargs);
  }
  if (outs.empty()) throw std::invalid_argument("[export_function] expected the function to return arrays, got none.");

  // The graph (detail::trace_graph): whatever depends on no input is a constant, computed there;
  // a compiled function's fused nodes are recorded as their steps.
  detail::TracedGraph g = detail::trace_graph(ph, outs, true);
  const std::vector<array>& local_constants = g.constants;
  for (auto& n : g.nodes) {
    auto params = saved_params(*n.prim);
    t.nodes.push_back(Node{std::move(n.prim), std::move(params), std::move(n.args), std::move(n.shapes), std::move(n.dtypes)});
  }
  t.outputs = g.outputs;
  for (const auto& c : local_constants) {
    auto [it, fresh] = constant_index.emplace(c.id(), static_cast<int>(constants.size()));
    if (fresh) constants.push_back(c);
    t.constants.push_back(it->second);
  }

  if (shapeless) {
    // Every node must infer its outputs' shapes from its inputs' (and agree with the trace).
    std::vector<Shape> slot_shape;
    for (const auto& p : ph) slot_shape.push_back(p.shape());
    for (const auto& c : local_constants) slot_shape.push_back(c.shape());
    for (const auto& n : t.nodes) {
      std::vector<Shape> in;
      for (int a : n.args) in.push_back(slot_shape[a]);
      auto s = infer_output_shapes(*n.prim, in, n.shapes.size(), "export_function");
      if (s != n.shapes) {
        throw std::invalid_argument(std::string("[export_function] expected ") + n.prim->name() +
                                    "'s output shape to follow from its inputs' shapes for a shapeless export, got " +
                                    show(n.shapes[0]) + " from inputs of other shapes; use shapeless = false.");
      }
      slot_shape.insert(slot_shape.end(), s.begin(), s.end());
    }
  }
  return t;
}

void ExporterState::add(const Args& args, const Kwargs& kwargs) {
  if (closed) throw std::invalid_argument("[exporter] expected an open exporter, got one already closed.");
  if (form == positional && !kwargs.empty()) {
    throw std::invalid_argument("[export_function] expected positional inputs only (the function takes Args), got " +
                                std::to_string(kwargs.size()) + " named inputs.");
  }
  if (form == named && !args.empty()) {
    throw std::invalid_argument("[export_function] expected named inputs only (the function takes Kwargs), got " +
                                std::to_string(args.size()) + " positional inputs.");
  }
  Trace probe;
  for (const auto& a : args) probe.args.push_back({a.shape(), a.dtype()});
  for (const auto& [k, a] : kwargs) probe.kwargs.push_back({k, {a.shape(), a.dtype()}});
  for (const auto& t : traces)
    if (same_signature(t, probe, shapeless)) return;  // an earlier trace covers these inputs
  // A failed trace leaves the state (and the file) as they were.
  const size_t num_constants = constants.size(), num_traces = traces.size();
  try {
    traces.push_back(trace(args, kwargs));
    write();
  } catch (...) {
    if (traces.size() > num_traces) traces.pop_back();
    while (constants.size() > num_constants) {
      constant_index.erase(constants.back().id());
      constants.pop_back();
    }
    throw;
  }
}

void ExporterState::write() const {
  ParamWriter m;  // metadata
  auto shape = [&](const Shape& s) { m.ints(s); };
  std::vector<size_t> nbytes;
  m.u64(constants.size());
  for (const auto& c : constants) {
    m.dtype(c.dtype());
    shape(c.shape());
    nbytes.push_back(c.nbytes());
    m.u64(c.nbytes());
  }
  m.u64(traces.size());
  for (const auto& t : traces) {
    m.u64(t.args.size());
    for (const auto& s : t.args) {
      m.dtype(s.dtype);
      shape(s.shape);
    }
    m.u64(t.kwargs.size());
    for (const auto& [k, s] : t.kwargs) {
      m.str(k);
      m.dtype(s.dtype);
      shape(s.shape);
    }
    m.u64(t.constants.size());
    for (int c : t.constants) m.u64(static_cast<uint64_t>(c));
    m.u64(t.nodes.size());
    for (const auto& n : t.nodes) {
      m.str(n.prim->name());
      m.u8(n.prim->device().type == Device::gpu ? 1 : 0);
      m.str(n.params);
      m.ints(n.args);
      m.u64(n.shapes.size());
      for (size_t k = 0; k < n.shapes.size(); ++k) {
        m.dtype(n.dtypes[k]);
        shape(n.shapes[k]);
      }
    }
    m.ints(t.outputs);
  }
  const std::string& meta = m.bytes();
  size_t end = kHeaderBytes + meta.size();
  for (size_t n : nbytes) end = align_up(end) + n;
  const size_t total = end + kTrailerBytes;

  ParamWriter h;
  h.raw(kMagic, 8);
  h.u32(kVersion);
  h.u32(shapeless ? 1u : 0u);
  h.u64(meta.size());
  h.u64(total);
  Checksum sum;
  io::AtomicFile f(path, "export_function");
  auto put = [&](const void* p, size_t n) {
    sum.add(p, n);
    f.write(p, n);
  };
  put(h.bytes().data(), h.bytes().size());
  put(meta.data(), meta.size());
  static const char zeros[kAlign] = {};
  for (const auto& c : constants) {
    size_t at = static_cast<size_t>(f.written());
    put(zeros, align_up(at) - at);
    io::stream_array(c, put);
  }
  ParamWriter tr;
  tr.u64(sum.value());
  tr.raw(kEndMagic, 8);
  f.write(tr.bytes().data(), tr.bytes().size());
  if (f.written() != total) {
    throw std::logic_error("[export_function] internal error: wrote " + std::to_string(f.written()) +
                           " bytes, expected " + std::to_string(total));
  }
  f.commit();
}

}  // namespace detail

FunctionExporter::FunctionExporter(std::unique_ptr<detail::ExporterState> s) : state_(std::move(s)) {}
FunctionExporter::FunctionExporter(FunctionExporter&&) noexcept = default;
FunctionExporter& FunctionExporter::operator=(FunctionExporter&&) noexcept = default;
FunctionExporter::~FunctionExporter() = default;

void FunctionExporter::operator()(std::initializer_list<array> args) { (*this)(Args(args)); }
void FunctionExporter::operator()(const Args& args) { (*this)(args, Kwargs{}); }
void FunctionExporter::operator()(const Kwargs& kwargs) { (*this)(Args{}, kwargs); }
void FunctionExporter::operator()(const Args& args, const Kwargs& kwargs) {
  if (!state_) throw std::invalid_argument("[exporter] expected an exporter, got one moved from.");
  state_->add(args, kwargs);
}
void FunctionExporter::close() {
  if (!state_) return;
  // The file already holds every trace; closing frees the captured constants.
  state_->closed = true;
  state_->constants.clear();
  state_->constant_index.clear();
  state_->traces.clear();
}

namespace detail {
FunctionExporter make_exporter(const std::string& path, std::function<std::vector<array>(const Args&, const Kwargs&)> fun,
                               bool shapeless, int form) {
  if (path.empty()) throw std::invalid_argument("[exporter] expected a file path, got an empty string.");
  auto s = std::make_unique<ExporterState>();
  s->path = path;
  s->fun = std::move(fun);
  s->shapeless = shapeless;
  s->form = static_cast<ExporterState::Form>(form);
  return FunctionExporter(std::move(s));
}
}  // namespace detail

FunctionExporter exporter(const std::string& path,
                          const std::function<std::vector<array>(const Args&, const Kwargs&)>& fun, bool shapeless) {
  if (!fun) throw std::invalid_argument("[exporter] expected a function, got an empty std::function.");
  return detail::make_exporter(path, fun, shapeless, detail::ExporterState::both);
}

FunctionExporter exporter(const std::string& path, const std::function<std::vector<array>(const Args&)>& fun,
                          bool shapeless) {
  if (!fun) throw std::invalid_argument("[exporter] expected a function, got an empty std::function.");
  return detail::make_exporter(
      path, [fun](const Args& a, const Kwargs&) { return fun(a); }, shapeless, detail::ExporterState::positional);
}

FunctionExporter exporter(const std::string& path, const std::function<std::vector<array>(const Kwargs&)>& fun,
                          bool shapeless) {
  if (!fun) throw std::invalid_argument("[exporter] expected a function, got an empty std::function.");
  return detail::make_exporter(
      path, [fun](const Args&, const Kwargs& k) { return fun(k); }, shapeless, detail::ExporterState::named);
}

void export_function(const std::string& path, const std::function<std::vector<array>(const Args&)>& fun,
                     const Args& args, bool shapeless) {
  auto e = exporter(path, fun, shapeless);
  e(args);
  e.close();
}

void export_function(const std::string& path, const std::function<std::vector<array>(const Kwargs&)>& fun,
                     const Kwargs& kwargs, bool shapeless) {
  auto e = exporter(path, fun, shapeless);
  e(kwargs);
  e.close();
}

void export_function(const std::string& path,
                     const std::function<std::vector<array>(const Args&, const Kwargs&)>& fun, const Args& args,
                     const Kwargs& kwargs, bool shapeless) {
  auto e = exporter(path, fun, shapeless);
  e(args, kwargs);
  e.close();
}

// ---- importing ----

namespace detail {

struct ImportedState {
  std::string name;  // the file, for messages
  bool shapeless = false;
  struct ImportedTrace {
    Trace trace;
    std::vector<array> constants;  // in slot order
  };
  std::vector<ImportedTrace> traces;
};

uint64_t export_checksum(const uint8_t* data, size_t size) {
  Checksum c;
  c.add(data, size);
  return c.value();
}

namespace {

// Bounds-checked reads over the file; every failure is "[import_function] expected …, got …".
class FileReader {
 public:
  FileReader(const io::Bytes& b, size_t begin, size_t end, const std::string& name)
      : b_(b), pos_(begin), end_(end), name_(name) {}
  [[noreturn]] void bad(const std::string& expected, const std::string& got) const {
    throw std::runtime_error("[import_function] expected " + expected + " in " + name_ + ", got " + got + ".");
  }
  const uint8_t* take(size_t n, const char* what) {
    if (n > end_ - pos_) {
      bad(std::to_string(n) + " bytes of " + what + " at offset " + std::to_string(pos_),
          std::to_string(end_ - pos_) + " bytes left in the metadata");
    }
    const uint8_t* p = b_.data + pos_;
    pos_ += n;
    return p;
  }
  uint64_t u64(const char* what) {
    uint64_t v;
    std::memcpy(&v, take(8, what), 8);
    return v;
  }
  uint8_t u8(const char* what) { return *take(1, what); }
  // A count of items of at least `min_bytes` each, checked against the bytes left.
  size_t count(const char* what, size_t min_bytes) {
    uint64_t n = u64(what);
    if (n > (end_ - pos_) / min_bytes) {
      bad(std::string("a count of ") + what + " that fits the metadata", std::to_string(n));
    }
    return static_cast<size_t>(n);
  }
  std::string str(const char* what) {
    size_t n = count(what, 1);
    const uint8_t* p = take(n, what);
    return std::string(reinterpret_cast<const char*>(p), n);
  }
  Dtype dtype() {
    uint8_t v = u8("a dtype");
    if (v >= Dtype::num_types) bad("a dtype tag below " + std::to_string(Dtype::num_types), std::to_string(v));
    return all_dtypes[v];
  }
  std::vector<int32_t> ints(const char* what) {
    size_t n = count(what, 4);
    std::vector<int32_t> v(n);
    const uint8_t* p = take(4 * n, what);
    if (n) std::memcpy(v.data(), p, 4 * n);
    return v;
  }
  Shape shape(Dtype dtype, size_t* nbytes) {
    Shape s = ints("a shape");
    if (s.size() > io::kMaxDims) {
      bad("at most " + std::to_string(io::kMaxDims) + " dimensions", std::to_string(s.size()));
    }
    size_t n = 0;
    if (!io::shape_bytes(s, dtype.size, &n)) bad("a shape with non-negative sizes that fits in memory", show(s));
    if (nbytes) *nbytes = n;
    return s;
  }
  Spec spec() {
    Dtype d = dtype();
    return {shape(d, nullptr), d};
  }
  size_t pos() const { return pos_; }

 private:
  const io::Bytes& b_;
  size_t pos_, end_;
  const std::string& name_;
};

// Checks a node against the shape rules where they apply: a file whose shapes contradict its
// operations is refused before anything runs.
// How many inputs a primitive's kernels read: {min, max}; {0, max} where the count varies
// beyond what is listed here (a user's primitive, Depends).
std::pair<size_t, size_t> arity(const Primitive& p) {
  constexpr size_t any = SIZE_MAX;
  const auto& t = typeid(p);
  static const std::unordered_map<std::type_index, std::pair<size_t, size_t>> fixed = [] {
    std::unordered_map<std::type_index, std::pair<size_t, size_t>> m;
#define MICA_ARITY_1(NAME) m.emplace(typeid(NAME), std::pair<size_t, size_t>{1, 1});
    MICA_UNARY_PLAIN(MICA_ARITY_1)
#undef MICA_ARITY_1
#define MICA_ARITY_2(NAME) m.emplace(typeid(NAME), std::pair<size_t, size_t>{2, 2});
    MICA_BINARY_PLAIN(MICA_ARITY_2)
#undef MICA_ARITY_2
    auto set = [&](const std::type_info& ti, size_t lo, size_t hi) { m.insert_or_assign(ti, std::pair{lo, hi}); };
    for (const std::type_info* ti :
         {&typeid(Log), &typeid(Sqrt), &typeid(AsType), &typeid(StopGradient), &typeid(Reduce), &typeid(ArgReduce),
          &typeid(Scan), &typeid(Softmax), &typeid(LogSumExp), &typeid(Variance), &typeid(NumberOfElements), &typeid(Reshape),
          &typeid(Squeeze), &typeid(ExpandDims), &typeid(Transpose),
          &typeid(Broadcast), &typeid(Copy), &typeid(AsStrided), &typeid(View), &typeid(Slice), &typeid(Sort),
          &typeid(ArgSort), &typeid(Partition), &typeid(ArgPartition), &typeid(RandomBits), &typeid(Inverse),
          &typeid(Cholesky), &typeid(LUF), &typeid(QRF), &typeid(SVD), &typeid(Eig), &typeid(Eigh), &typeid(FFT)}) {
      set(*ti, 1, 1);
    }
    for (const std::type_info* ti : {&typeid(Equal), &typeid(BitwiseBinary), &typeid(DivMod), &typeid(SliceUpdate),
                                     &typeid(DynamicSlice), &typeid(Pad), &typeid(Matmul), &typeid(Convolution),
                                     &typeid(SolveTriangular), &typeid(GatherAxis), &typeid(CrossEntropy)}) {
      set(*ti, 2, 2);
    }
    set(typeid(Select), 3, 3);
    set(typeid(DynamicSliceUpdate), 3, 3);
    set(typeid(AddMM), 3, 3);
    set(typeid(ScatterAxis), 3, 3);
    set(typeid(MaskedScatter), 3, 3);
    set(typeid(QuantizedMatmul), 4, 4);
    set(typeid(CrossEntropyVjp), 4, 4);
    set(typeid(Gelu), 1, 2);
    set(typeid(Rope), 2, 3);
    set(typeid(Concatenate), 1, any);
    set(typeid(Gather), 1, any);
    set(typeid(Scatter), 2, any);
    return m;
  }();
  if (auto* q = dynamic_cast<const LayerNorm*>(&p)) {
    size_t n = 1 + q->has_weight() + q->has_bias();
    return {n, n};
  }
  if (auto* q = dynamic_cast<const RMSNorm*>(&p)) return {1 + q->has_weight(), 1 + q->has_weight()};
  if (auto* q = dynamic_cast<const LayerNormVjp*>(&p)) return {2 + q->has_weight(), 2 + q->has_weight()};
  if (auto* q = dynamic_cast<const RMSNormVjp*>(&p)) return {2 + q->has_weight(), 2 + q->has_weight()};
  if (auto* q = dynamic_cast<const ScaledDotProductAttention*>(&p)) {
    size_t n = 3 + q->has_mask() + q->has_sinks();
    return {n, n};
  }
  if (auto* q = dynamic_cast<const ScaledDotProductAttentionVjp*>(&p)) {
    size_t n = 7 + q->has_mask() + q->has_sinks();
    return {n, n};
  }
  auto it = fixed.find(t);
  return it == fixed.end() ? std::pair<size_t, size_t>{0, any} : it->second;
}

void check_node(const Node& n, const std::vector<Shape>& in, FileReader& r) {
  const auto [lo, hi] = arity(*n.prim);
  if (in.size() < lo || in.size() > hi) {
    r.bad(std::to_string(lo) + (hi == lo ? "" : hi == SIZE_MAX ? " or more" : " to " + std::to_string(hi)) +
              (hi == 1 ? " input for " : " inputs for ") + n.prim->name(),
          std::to_string(in.size()));
  }
  const bool unary = dynamic_cast<const UnaryPrimitive*>(n.prim.get()) != nullptr;
  if (n.shapes.empty() || (unary && n.shapes.size() != 1)) {
    r.bad(std::string(unary ? "one output" : "at least one output") + " for " + n.prim->name(),
          std::to_string(n.shapes.size()));
  }
  std::optional<std::vector<Shape>> expect;
  try {
    expect = try_infer_output_shapes(*n.prim, in, n.shapes.size(), "import_function");
  } catch (const std::invalid_argument& e) {
    r.bad("inputs that fit " + std::string(n.prim->name()), e.what());
  }
  if (expect && *expect != n.shapes) {
    r.bad(std::string(n.prim->name()) + " output shape " + show((*expect)[0]), show(n.shapes[0]));
  }
}

}  // namespace

// Parses a whole file.
std::shared_ptr<const ImportedState> import_bytes(const io::Bytes& b, const std::string& name) {
  auto bad = [&](const std::string& expected, const std::string& got) -> void {
    throw std::runtime_error("[import_function] expected " + expected + " in " + name + ", got " + got + ".");
  };
  if (b.size < kHeaderBytes + kTrailerBytes) {
    bad("a mica function file of at least " + std::to_string(kHeaderBytes + kTrailerBytes) + " bytes",
        std::to_string(b.size) + " bytes");
  }
  if (std::memcmp(b.data, kMagic, 8) != 0) bad("a mica function file (starting \"MICAFUNC\")", "other bytes");
  uint32_t version, flags;
  uint64_t meta_bytes, total;
  std::memcpy(&version, b.data + 8, 4);
  std::memcpy(&flags, b.data + 12, 4);
  std::memcpy(&meta_bytes, b.data + 16, 8);
  std::memcpy(&total, b.data + 24, 8);
  if (version != kVersion) bad("format version " + std::to_string(kVersion), "version " + std::to_string(version));
  if (total != b.size) {
    bad(std::to_string(total) + " bytes (the size its header gives)",
        std::to_string(b.size) + (b.size < total ? " (truncated)" : ""));
  }
  if (std::memcmp(b.data + b.size - 8, kEndMagic, 8) != 0) bad("the end marker \"MICAEND.\"", "other bytes");
  uint64_t stored;
  std::memcpy(&stored, b.data + b.size - kTrailerBytes, 8);
  const uint64_t actual = export_checksum(b.data, b.size - kTrailerBytes);
  if (stored != actual) bad("checksum " + std::to_string(stored), std::to_string(actual) + " (the file is damaged)");
  if (flags > 1) bad("flags 0 or 1", std::to_string(flags));
  const size_t data_end = b.size - kTrailerBytes;
  if (meta_bytes > data_end - kHeaderBytes) {
    bad("metadata within the file", std::to_string(meta_bytes) + " bytes");
  }

  auto st = std::make_shared<ImportedState>();
  st->name = name;
  st->shapeless = flags & 1;
  const size_t meta_end = kHeaderBytes + static_cast<size_t>(meta_bytes);
  FileReader r(b, kHeaderBytes, meta_end, name);

  // Constants: descriptors here, bytes after the metadata.
  std::vector<array> constants;
  size_t at = meta_end;
  const size_t num_constants = r.count("constants", 10);
  for (size_t c = 0; c < num_constants; ++c) {
    Dtype d = r.dtype();
    size_t n = 0;
    Shape shape = r.shape(d, &n);
    uint64_t declared = r.u64("a constant's byte count");
    if (declared != n) bad(std::to_string(n) + " bytes for a constant of " + show(d, shape), std::to_string(declared));
    at = align_up(at);
    if (at > data_end || n > data_end - at) {
      bad("constant " + std::to_string(c) + "'s " + std::to_string(n) + " bytes within the file", "fewer");
    }
    constants.push_back(io::array_from_bytes(b, at, n, std::move(shape), d));
    at += n;
  }
  if (at != data_end) bad("the constants to end where the trailer starts", std::to_string(data_end - at) + " bytes more");

  const size_t num_traces = r.count("traces", 40);
  for (size_t ti = 0; ti < num_traces; ++ti) {
    ImportedState::ImportedTrace it;
    Trace& t = it.trace;
    const size_t na = r.count("positional inputs", 9);
    for (size_t i = 0; i < na; ++i) t.args.push_back(r.spec());
    const size_t nk = r.count("named inputs", 17);
    for (size_t i = 0; i < nk; ++i) {
      std::string k = r.str("an input name");
      if (i && !(t.kwargs.back().first < k)) bad("input names in increasing order", "\"" + k + "\" after \"" + t.kwargs.back().first + "\"");
      t.kwargs.emplace_back(std::move(k), r.spec());
    }
    std::vector<Shape> slot_shape;
    std::vector<Dtype> slot_dtype;
    for (const auto& a : t.args) slot_shape.push_back(a.shape), slot_dtype.push_back(a.dtype);
    for (const auto& [k, a] : t.kwargs) slot_shape.push_back(a.shape), slot_dtype.push_back(a.dtype);
    const size_t nc = r.count("trace constants", 8);
    for (size_t i = 0; i < nc; ++i) {
      uint64_t c = r.u64("a constant index");
      if (c >= constants.size()) bad("a constant index below " + std::to_string(constants.size()), std::to_string(c));
      t.constants.push_back(static_cast<int>(c));
      it.constants.push_back(constants[c]);
      slot_shape.push_back(constants[c].shape());
      slot_dtype.push_back(constants[c].dtype());
    }
    const size_t nn = r.count("nodes", 33);
    for (size_t ni = 0; ni < nn; ++ni) {
      Node n;
      std::string prim_name = r.str("a primitive name");
      uint8_t dev = r.u8("a device type");
      if (dev > 1) bad("a device type of 0 (cpu) or 1 (gpu)", std::to_string(dev));
      n.params = r.str("primitive parameters");
      auto entry = primitive_loader(prim_name);
      if (!entry.loader) bad("a primitive mica can load", "\"" + prim_name + "\"");
      Device device(dev == 1 ? Device::gpu : Device::cpu);
      if (!is_available(device)) device = Device(Device::cpu);
      ParamReader pr(reinterpret_cast<const uint8_t*>(n.params.data()), n.params.size(), prim_name + " in " + name);
      n.prim = entry.loader(pr, default_stream(device));
      pr.finish();
      n.args = r.ints("node arguments");
      const int first = static_cast<int>(slot_shape.size());
      std::vector<Shape> in;
      for (int a : n.args) {
        if (a < 0 || a >= first) {
          bad("arguments of " + prim_name + " made before it (slots below " + std::to_string(first) + ")",
              std::to_string(a));
        }
        in.push_back(slot_shape[a]);
      }
      const size_t no = r.count("node outputs", 9);
      for (size_t k = 0; k < no; ++k) {
        Dtype d = r.dtype();
        n.shapes.push_back(r.shape(d, nullptr));
        n.dtypes.push_back(d);
      }
      check_node(n, in, r);
      if (slot_shape.size() + n.shapes.size() > static_cast<size_t>(INT32_MAX)) bad("fewer values", "too many");
      slot_shape.insert(slot_shape.end(), n.shapes.begin(), n.shapes.end());
      slot_dtype.insert(slot_dtype.end(), n.dtypes.begin(), n.dtypes.end());
      t.nodes.push_back(std::move(n));
    }
    t.outputs = r.ints("outputs");
    if (t.outputs.empty()) bad("at least one output", "none");
    for (int o : t.outputs) {
      if (o < 0 || static_cast<size_t>(o) >= slot_shape.size()) {
        bad("output slots below " + std::to_string(slot_shape.size()), std::to_string(o));
      }
    }
    st->traces.push_back(std::move(it));
  }
  if (r.pos() != meta_end) bad("the metadata to end at offset " + std::to_string(meta_end), "offset " + std::to_string(r.pos()));
  return st;
}

ImportedFunction import_function_bytes(const uint8_t* data, size_t size, const std::string& name) {
  return ImportedFunction(import_bytes(io::copy_bytes(data, size), name));
}

}  // namespace detail

ImportedFunction import_function(const std::string& path) {
  io::Bytes b = io::map_file(path, "import_function");
  return ImportedFunction(detail::import_bytes(b, path));
}

std::vector<array> ImportedFunction::operator()(std::initializer_list<array> args) const { return (*this)(Args(args)); }
std::vector<array> ImportedFunction::operator()(const Args& args) const { return (*this)(args, Kwargs{}); }
std::vector<array> ImportedFunction::operator()(const Kwargs& kwargs) const { return (*this)(Args{}, kwargs); }

std::vector<array> ImportedFunction::operator()(const Args& args, const Kwargs& kwargs) const {
  if (!state_) throw std::invalid_argument("[import_function] expected an imported function, got an empty one.");
  const auto& st = *state_;
  Trace probe;
  for (const auto& a : args) probe.args.push_back({a.shape(), a.dtype()});
  for (const auto& [k, a] : kwargs) probe.kwargs.push_back({k, {a.shape(), a.dtype()}});
  const detail::ImportedState::ImportedTrace* match = nullptr;
  for (const auto& t : st.traces) {
    if (same_signature(t.trace, probe, st.shapeless)) {
      match = &t;
      break;
    }
  }
  if (!match) {
    std::string known;
    for (size_t i = 0; i < st.traces.size(); ++i) known += (i ? " or " : "") + describe(st.traces[i].trace, st.shapeless);
    if (known.empty()) known = "(no traces)";
    throw std::invalid_argument("[import_function] expected inputs matching a trace of " + st.name + ": " + known +
                                ", got " + describe(probe, false) + ".");
  }
  const Trace& t = match->trace;
  std::vector<array> values;
  values.reserve(args.size() + kwargs.size() + match->constants.size() + t.nodes.size());
  values.insert(values.end(), args.begin(), args.end());
  for (const auto& [k, a] : kwargs) values.push_back(a);
  values.insert(values.end(), match->constants.begin(), match->constants.end());
  std::vector<array> in;
  std::vector<Shape> in_shapes;
  for (const auto& n : t.nodes) {
    in.clear();
    for (int a : n.args) in.push_back(values[a]);
    std::vector<Shape> shapes = n.shapes;
    if (st.shapeless) {
      in_shapes.clear();
      for (const auto& a : in) in_shapes.push_back(a.shape());
      shapes = detail::infer_output_shapes(*n.prim, in_shapes, n.shapes.size(), "import_function");
    }
    if (shapes.size() == 1) {
      values.emplace_back(std::move(shapes[0]), n.dtypes[0], n.prim, in);
    } else {
      for (auto& o : array::make_arrays(std::move(shapes), n.dtypes, n.prim, in)) values.push_back(std::move(o));
    }
  }
  std::vector<array> out;
  for (int o : t.outputs) out.push_back(values[o]);
  return out;
}

int ImportedFunction::num_traces() const { return state_ ? static_cast<int>(state_->traces.size()) : 0; }
bool ImportedFunction::shapeless() const { return state_ && state_->shapeless; }

}  // namespace mica
