// Each primitive's saved parameters (save) and the loader that reads them back, side by side;
// the loader table is keyed by the registry name. Loaders check every enumerator and count
// they read; the shapes the node will run on are export_function's business (transforms/export.cpp).
#include "mica/primitives/serialize.h"

#include <cstring>
#include <mutex>
#include <stdexcept>
#include <unordered_map>

#include "mica/primitives/all.h"
#include "mica/primitives/registry.h"

namespace mica {

// ---- ParamReader ----

const uint8_t* ParamReader::take(size_t n) {
  if (n > n_ - pos_) {
    bad(std::to_string(n) + " more parameter bytes", std::to_string(n_ - pos_));
  }
  const uint8_t* p = p_ + pos_;
  pos_ += n;
  return p;
}

void ParamReader::bad(const std::string& expected, const std::string& got) const {
  throw std::runtime_error("[import_function] expected " + expected + " in the parameters of " + what_ + ", got " +
                           got + ".");
}

uint8_t ParamReader::u8() { return *take(1); }
bool ParamReader::boolean() {
  uint8_t v = u8();
  if (v > 1) bad("a bool (0 or 1)", std::to_string(v));
  return v == 1;
}
#define MICA_READ_AS(NAME, TYPE)          \
  TYPE ParamReader::NAME() {              \
    TYPE v;                               \
    std::memcpy(&v, take(sizeof(v)), sizeof(v)); \
    return v;                             \
  }
MICA_READ_AS(u32, uint32_t)
MICA_READ_AS(i32, int32_t)
MICA_READ_AS(u64, uint64_t)
MICA_READ_AS(i64, int64_t)
MICA_READ_AS(f32, float)
MICA_READ_AS(f64, double)
#undef MICA_READ_AS

Dtype ParamReader::dtype() {
  uint8_t v = u8();
  if (v >= Dtype::num_types) bad("a dtype tag below " + std::to_string(Dtype::num_types), std::to_string(v));
  return all_dtypes[v];
}

std::string ParamReader::str() {
  uint64_t n = u64();
  if (n > n_ - pos_) bad("a string of at most " + std::to_string(n_ - pos_) + " bytes", std::to_string(n) + " bytes");
  const uint8_t* p = take(static_cast<size_t>(n));
  return std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(n));
}

std::vector<int32_t> ParamReader::ints() {
  uint64_t n = u64();
  if (n > (n_ - pos_) / 4) bad("a list that fits the parameters", std::to_string(n) + " int32 entries");
  std::vector<int32_t> v(static_cast<size_t>(n));
  for (auto& x : v) x = i32();
  return v;
}

std::vector<int64_t> ParamReader::i64s() {
  uint64_t n = u64();
  if (n > (n_ - pos_) / 8) bad("a list that fits the parameters", std::to_string(n) + " int64 entries");
  std::vector<int64_t> v(static_cast<size_t>(n));
  for (auto& x : v) x = i64();
  return v;
}

void ParamReader::finish() const {
  if (pos_ != n_) bad("no bytes after the last parameter", std::to_string(n_ - pos_) + " left over");
}

// ---- save and load, per class ----

namespace {
template <class T, class... A>
std::shared_ptr<Primitive> make(Stream s, A&&... a) {
  return std::make_shared<T>(s, std::forward<A>(a)...);
}
// A linalg primitive's user-facing op name (it names eval-time failures).
std::string op_name(ParamReader& r) {
  std::string op = r.str();
  if (op.size() > 256) r.bad("an op name of at most 256 bytes", std::to_string(op.size()) + " bytes");
  return op;
}
}  // namespace

// Parameterless classes.
#define MICA_SAVE_NOTHING(NAME) \
  void NAME::save(ParamWriter&) const {}
MICA_UNARY_PLAIN(MICA_SAVE_NOTHING)
MICA_BINARY_PLAIN(MICA_SAVE_NOTHING)
MICA_SAVE_NOTHING(StopGradient)
MICA_SAVE_NOTHING(DivMod)
MICA_SAVE_NOTHING(LogSumExp)
MICA_SAVE_NOTHING(MaskedScatter)
MICA_SAVE_NOTHING(Matmul)
#undef MICA_SAVE_NOTHING

void Arange::save(ParamWriter& w) const {
  w.f64(start_);
  w.f64(stop_);
  w.f64(step_);
}
void Log::save(ParamWriter& w) const { w.enumerator(base_); }
void Sqrt::save(ParamWriter& w) const { w.boolean(recip_); }
void AsType::save(ParamWriter& w) const { w.dtype(dtype_); }
void Equal::save(ParamWriter& w) const { w.boolean(equal_nan_); }
void BitwiseBinary::save(ParamWriter& w) const { w.enumerator(op_); }
void Reduce::save(ParamWriter& w) const {
  w.enumerator(type_);
  w.ints(axes_);
}
void ArgReduce::save(ParamWriter& w) const {
  w.enumerator(type_);
  w.i32(axis_);
}
void Scan::save(ParamWriter& w) const {
  w.enumerator(type_);
  w.i32(axis_);
  w.boolean(reverse_);
  w.boolean(inclusive_);
}
void Softmax::save(ParamWriter& w) const { w.boolean(precise_); }
void Variance::save(ParamWriter& w) const { w.i32(ddof_); }
void NumberOfElements::save(ParamWriter& w) const {
  w.ints(axes_);
  w.boolean(inverted_);
  w.dtype(dtype_);
}
void Reshape::save(ParamWriter& w) const { w.ints(shape_); }
void Squeeze::save(ParamWriter& w) const { w.ints(axes_); }
void ExpandDims::save(ParamWriter& w) const { w.ints(axes_); }
void Transpose::save(ParamWriter& w) const { w.ints(axes_); }
void Broadcast::save(ParamWriter& w) const { w.ints(shape_); }
void Copy::save(ParamWriter& w) const {
  w.enumerator(mode_);
  w.boolean(col_ok_);
}
void AsStrided::save(ParamWriter& w) const {
  w.ints(shape_);
  w.i64s(strides_);
  w.u64(offset_);
}
void View::save(ParamWriter& w) const { w.dtype(dtype_); }
void Slice::save(ParamWriter& w) const {
  w.ints(start_);
  w.ints(stop_);
  w.ints(strides_);
}
void SliceUpdate::save(ParamWriter& w) const {
  w.ints(start_);
  w.ints(stop_);
  w.ints(strides_);
}
void DynamicSlice::save(ParamWriter& w) const {
  w.ints(axes_);
  w.ints(slice_size_);
}
void DynamicSliceUpdate::save(ParamWriter& w) const { w.ints(axes_); }
void Concatenate::save(ParamWriter& w) const { w.i32(axis_); }
void Pad::save(ParamWriter& w) const {
  w.ints(axes_);
  w.ints(low_);
  w.ints(high_);
  w.enumerator(mode_);
}
void Gather::save(ParamWriter& w) const {
  w.ints(axes_);
  w.ints(slice_sizes_);
}
void Scatter::save(ParamWriter& w) const {
  w.enumerator(type_);
  w.ints(axes_);
}
void GatherAxis::save(ParamWriter& w) const { w.i32(axis_); }
void ScatterAxis::save(ParamWriter& w) const {
  w.enumerator(type_);
  w.i32(axis_);
}
void AddMM::save(ParamWriter& w) const {
  w.f32(alpha_);
  w.f32(beta_);
}
void Convolution::save(ParamWriter& w) const {
  w.ints(stride_);
  w.ints(padding_lo_);
  w.ints(padding_hi_);
  w.ints(kernel_dilation_);
  w.ints(input_dilation_);
  w.i32(groups_);
  w.boolean(flip_);
}
#define MICA_SAVE_SORT(NAME)                  \
  void NAME::save(ParamWriter& w) const {     \
    w.i32(axis_);                             \
    w.i32(kth_);                              \
  }
MICA_SAVE_SORT(Sort)
MICA_SAVE_SORT(ArgSort)
MICA_SAVE_SORT(Partition)
MICA_SAVE_SORT(ArgPartition)
#undef MICA_SAVE_SORT
void RandomBits::save(ParamWriter& w) const {
  w.ints(shape_);
  w.i32(width_);
}
void Inverse::save(ParamWriter& w) const {
  w.str(op());
  w.boolean(tri_);
  w.boolean(upper_);
}
void Cholesky::save(ParamWriter& w) const {
  w.str(op());
  w.boolean(upper_);
}
void SolveTriangular::save(ParamWriter& w) const {
  w.str(op());
  w.boolean(upper_);
  w.boolean(unit_);
}
void LUF::save(ParamWriter& w) const { w.str(op()); }
void QRF::save(ParamWriter& w) const { w.str(op()); }
void SVD::save(ParamWriter& w) const {
  w.str(op());
  w.boolean(compute_uv_);
}
void Eig::save(ParamWriter& w) const {
  w.str(op());
  w.boolean(vectors_);
}
void Eigh::save(ParamWriter& w) const {
  w.str(op());
  w.boolean(upper_);
  w.boolean(vectors_);
}
void FFT::save(ParamWriter& w) const {
  w.ints(axes_);
  w.boolean(inverse_);
  w.boolean(real_);
  w.i32(real_n_);
}
void QuantizedMatmul::save(ParamWriter& w) const {
  w.i32(group_size_);
  w.i32(bits_);
  w.boolean(transpose_);
}
void LayerNorm::save(ParamWriter& w) const {
  w.f32(eps_);
  w.boolean(has_weight_);
  w.boolean(has_bias_);
}
void LayerNormVjp::save(ParamWriter& w) const {
  w.f32(eps_);
  w.boolean(has_weight_);
}
void RMSNorm::save(ParamWriter& w) const {
  w.f32(eps_);
  w.boolean(has_weight_);
}
void RMSNormVjp::save(ParamWriter& w) const {
  w.f32(eps_);
  w.boolean(has_weight_);
}
void Gelu::save(ParamWriter& w) const { w.i32(order_); }
void Rope::save(ParamWriter& w) const {
  w.i32(dims_);
  w.boolean(traditional_);
  w.f32(base_);
  w.f32(scale_);
  w.boolean(with_freqs_);
  w.boolean(forward_);
}
void AdamStep::save(ParamWriter& w) const {
  w.f64(beta1_);
  w.f64(beta2_);
  w.f64(eps_);
}
void CrossEntropy::save(ParamWriter& w) const { w.f32(smoothing_); }
void CrossEntropyVjp::save(ParamWriter& w) const { w.f32(smoothing_); }
void ScaledDotProductAttention::save(ParamWriter& w) const {
  w.f32(scale_);
  w.boolean(causal_);
  w.boolean(has_mask_);
  w.boolean(has_sinks_);
}
void ScaledDotProductAttentionVjp::save(ParamWriter& w) const {
  w.f32(scale_);
  w.boolean(causal_);
  w.boolean(has_mask_);
  w.boolean(has_sinks_);
}
void Depends::save(ParamWriter& w) const { w.i32(num_deps_); }
void CustomKernel::save(ParamWriter& w) const {
  const Spec& sp = spec_;
  w.str(sp.op);
  w.str(sp.name);
  w.str(sp.source);
  w.str(sp.image);
  w.str(sp.entry);
  for (int v : sp.grid) w.i32(v);
  for (int v : sp.block) w.i32(v);
  w.i32(sp.shared_memory);
  w.boolean(sp.init_value.has_value());
  w.f32(sp.init_value.value_or(0.0f));
  w.boolean(sp.ensure_row_contiguous);
  w.ints(std::vector<int32_t>(sp.shape_args.begin(), sp.shape_args.end()));
  w.u32(static_cast<uint32_t>(sp.scalars.size()));
  for (const auto& v : sp.scalars) {
    w.u8(static_cast<uint8_t>(v.index()));  // 0 bool, 1 int, 2 float
    if (auto* b = std::get_if<bool>(&v)) w.boolean(*b);
    else if (auto* i = std::get_if<int>(&v)) w.i32(*i);
    else w.f32(std::get<float>(v));
  }
}

namespace {

using Table = std::unordered_map<std::string, detail::LoaderEntry>;

// An entry for class T.
template <class T>
detail::LoaderEntry entry(PrimitiveLoader f) {
  return detail::LoaderEntry{f, std::type_index(typeid(T))};
}

Table builtin_loaders() {
  Table t;
#define MICA_LOAD_PLAIN(NAME) \
  t.emplace(#NAME, entry<NAME>([](ParamReader&, Stream s) { return make<NAME>(s); }));
  MICA_UNARY_PLAIN(MICA_LOAD_PLAIN)
  MICA_BINARY_PLAIN(MICA_LOAD_PLAIN)
  MICA_LOAD_PLAIN(StopGradient)
  MICA_LOAD_PLAIN(DivMod)
  MICA_LOAD_PLAIN(LogSumExp)
  MICA_LOAD_PLAIN(MaskedScatter)
  MICA_LOAD_PLAIN(Matmul)
#undef MICA_LOAD_PLAIN
// The body may hold commas, so it is the variadic rest.
#define MICA_LOAD(NAME, ...) \
  t.emplace(#NAME, entry<NAME>([](ParamReader& r, Stream s) -> std::shared_ptr<Primitive> __VA_ARGS__));
  MICA_LOAD(Arange, {
    double a = r.f64(), b = r.f64(), c = r.f64();
    return make<Arange>(s, a, b, c);
  })
  MICA_LOAD(Log, { return make<Log>(s, r.enumerator<Log::Base>(3)); })
  MICA_LOAD(Sqrt, { return make<Sqrt>(s, r.boolean()); })
  MICA_LOAD(AsType, { return make<AsType>(s, r.dtype()); })
  MICA_LOAD(Equal, { return make<Equal>(s, r.boolean()); })
  MICA_LOAD(BitwiseBinary, { return make<BitwiseBinary>(s, r.enumerator<BitwiseBinary::Op>(5)); })
  MICA_LOAD(Reduce, {
    auto type = r.enumerator<Reduce::ReduceType>(6);
    return make<Reduce>(s, type, r.ints());
  })
  MICA_LOAD(ArgReduce, {
    auto type = r.enumerator<ArgReduce::ReduceType>(2);
    return make<ArgReduce>(s, type, r.i32());
  })
  MICA_LOAD(Scan, {
    auto type = r.enumerator<Scan::ReduceType>(5);
    int axis = r.i32();
    bool reverse = r.boolean();
    bool inclusive = r.boolean();
    return make<Scan>(s, type, axis, reverse, inclusive);
  })
  MICA_LOAD(Softmax, { return make<Softmax>(s, r.boolean()); })
  MICA_LOAD(Variance, { return make<Variance>(s, r.i32()); })
  MICA_LOAD(NumberOfElements, {
    auto axes = r.ints();
    bool inverted = r.boolean();
    return make<NumberOfElements>(s, std::move(axes), inverted, r.dtype());
  })
  MICA_LOAD(Reshape, { return make<Reshape>(s, r.ints()); })
  MICA_LOAD(Squeeze, { return make<Squeeze>(s, r.ints()); })
  MICA_LOAD(ExpandDims, { return make<ExpandDims>(s, r.ints()); })
  MICA_LOAD(Transpose, { return make<Transpose>(s, r.ints()); })
  MICA_LOAD(Broadcast, { return make<Broadcast>(s, r.ints()); })
  MICA_LOAD(Copy, {
    auto mode = r.enumerator<Copy::Mode>(2);
    return make<Copy>(s, mode, r.boolean());
  })
  MICA_LOAD(AsStrided, {
    Shape shape = r.ints();
    Strides strides = r.i64s();
    uint64_t offset = r.u64();
    return make<AsStrided>(s, std::move(shape), std::move(strides), static_cast<size_t>(offset));
  })
  MICA_LOAD(View, { return make<View>(s, r.dtype()); })
  MICA_LOAD(Slice, {
    Shape a = r.ints(), b = r.ints(), c = r.ints();
    return make<Slice>(s, std::move(a), std::move(b), std::move(c));
  })
  MICA_LOAD(SliceUpdate, {
    Shape a = r.ints(), b = r.ints(), c = r.ints();
    return make<SliceUpdate>(s, std::move(a), std::move(b), std::move(c));
  })
  MICA_LOAD(DynamicSlice, {
    std::vector<int> axes = r.ints();
    return make<DynamicSlice>(s, std::move(axes), r.ints());
  })
  MICA_LOAD(DynamicSliceUpdate, { return make<DynamicSliceUpdate>(s, r.ints()); })
  MICA_LOAD(Concatenate, { return make<Concatenate>(s, r.i32()); })
  MICA_LOAD(Pad, {
    std::vector<int> axes = r.ints();
    Shape low = r.ints(), high = r.ints();
    return make<Pad>(s, std::move(axes), std::move(low), std::move(high), r.enumerator<Pad::Mode>(4));
  })
  MICA_LOAD(Gather, {
    std::vector<int> axes = r.ints();
    return make<Gather>(s, std::move(axes), r.ints());
  })
  MICA_LOAD(Scatter, {
    auto type = r.enumerator<Scatter::ReduceType>(5);
    return make<Scatter>(s, type, r.ints());
  })
  MICA_LOAD(GatherAxis, { return make<GatherAxis>(s, r.i32()); })
  MICA_LOAD(ScatterAxis, {
    auto type = r.enumerator<ScatterAxis::ReduceType>(2);
    return make<ScatterAxis>(s, type, r.i32());
  })
  MICA_LOAD(AddMM, {
    float alpha = r.f32(), beta = r.f32();
    return make<AddMM>(s, alpha, beta);
  })
  MICA_LOAD(Convolution, {
    std::vector<int> stride = r.ints(), lo = r.ints(), hi = r.ints(), kd = r.ints(), id = r.ints();
    int groups = r.i32();
    if (groups < 1) r.bad("a positive group count", std::to_string(groups));
    return make<Convolution>(s, std::move(stride), std::move(lo), std::move(hi), std::move(kd), std::move(id), groups,
                             r.boolean());
  })
#define MICA_LOAD_SORT(NAME)      \
  MICA_LOAD(NAME, {               \
    int axis = r.i32();           \
    return make<NAME>(s, axis, r.i32()); \
  })
  MICA_LOAD_SORT(Sort)
  MICA_LOAD_SORT(ArgSort)
  MICA_LOAD_SORT(Partition)
  MICA_LOAD_SORT(ArgPartition)
#undef MICA_LOAD_SORT
  MICA_LOAD(RandomBits, {
    Shape shape = r.ints();
    int width = r.i32();
    if (width != 1 && width != 2 && width != 4) r.bad("a width of 1, 2 or 4 bytes", std::to_string(width));
    return make<RandomBits>(s, std::move(shape), width);
  })
  MICA_LOAD(Inverse, {
    std::string op = op_name(r);
    bool tri = r.boolean();
    return make<Inverse>(s, std::move(op), tri, r.boolean());
  })
  MICA_LOAD(Cholesky, {
    std::string op = op_name(r);
    return make<Cholesky>(s, std::move(op), r.boolean());
  })
  MICA_LOAD(SolveTriangular, {
    std::string op = op_name(r);
    bool upper = r.boolean();
    return make<SolveTriangular>(s, std::move(op), upper, r.boolean());
  })
  MICA_LOAD(LUF, { return make<LUF>(s, op_name(r)); })
  MICA_LOAD(QRF, { return make<QRF>(s, op_name(r)); })
  MICA_LOAD(SVD, {
    std::string op = op_name(r);
    return make<SVD>(s, std::move(op), r.boolean());
  })
  MICA_LOAD(Eig, {
    std::string op = op_name(r);
    return make<Eig>(s, std::move(op), r.boolean());
  })
  MICA_LOAD(Eigh, {
    std::string op = op_name(r);
    bool upper = r.boolean();
    return make<Eigh>(s, std::move(op), upper, r.boolean());
  })
  MICA_LOAD(FFT, {
    std::vector<int> axes = r.ints();
    bool inverse = r.boolean(), real = r.boolean();
    return make<FFT>(s, std::move(axes), inverse, real, r.i32());
  })
  MICA_LOAD(QuantizedMatmul, {
    int group_size = r.i32(), bits = r.i32();
    return make<QuantizedMatmul>(s, group_size, bits, r.boolean());
  })
  MICA_LOAD(LayerNorm, {
    float eps = r.f32();
    bool w = r.boolean();
    return make<LayerNorm>(s, eps, w, r.boolean());
  })
  MICA_LOAD(LayerNormVjp, {
    float eps = r.f32();
    return make<LayerNormVjp>(s, eps, r.boolean());
  })
  MICA_LOAD(RMSNorm, {
    float eps = r.f32();
    return make<RMSNorm>(s, eps, r.boolean());
  })
  MICA_LOAD(RMSNormVjp, {
    float eps = r.f32();
    return make<RMSNormVjp>(s, eps, r.boolean());
  })
  MICA_LOAD(Gelu, {
    int order = r.i32();
    if (order != 0 && order != 1) r.bad("a GELU derivative order of 0 or 1", std::to_string(order));
    return make<Gelu>(s, order);
  })
  MICA_LOAD(Rope, {
    int dims = r.i32();
    if (dims <= 0 || dims % 2 != 0) r.bad("a positive even number of rotated features", std::to_string(dims));
    bool traditional = r.boolean();
    float base = r.f32(), scale = r.f32();
    bool with_freqs = r.boolean();
    return make<Rope>(s, dims, traditional, base, scale, with_freqs, r.boolean());
  })
  MICA_LOAD(AdamStep, {
    double b1 = r.f64(), b2 = r.f64(), eps = r.f64();
    return make<AdamStep>(s, b1, b2, eps);
  })
  MICA_LOAD(CrossEntropy, { return make<CrossEntropy>(s, r.f32()); })
  MICA_LOAD(CrossEntropyVjp, { return make<CrossEntropyVjp>(s, r.f32()); })
  MICA_LOAD(ScaledDotProductAttention, {
    float scale = r.f32();
    bool causal = r.boolean(), mask = r.boolean(), sinks = r.boolean();
    return make<ScaledDotProductAttention>(s, scale, causal, mask, sinks);
  })
  MICA_LOAD(ScaledDotProductAttentionVjp, {
    float scale = r.f32();
    bool causal = r.boolean(), mask = r.boolean(), sinks = r.boolean();
    return make<ScaledDotProductAttentionVjp>(s, scale, causal, mask, sinks);
  })
  MICA_LOAD(Depends, {
    int n = r.i32();
    if (n < 0) r.bad("a non-negative dependency count", std::to_string(n));
    return make<Depends>(s, n);
  })
  MICA_LOAD(CustomKernel, {
    CustomKernel::Spec sp;
    sp.op = r.str();
    if (sp.op != "cuda_kernel" && sp.op != "precompiled_cuda_kernel") r.bad("a kind of custom kernel", sp.op);
    sp.name = r.str();
    sp.source = r.str();
    sp.image = r.str();
    sp.entry = r.str();
    if (sp.entry.empty() || sp.source.empty() == sp.image.empty()) {
      r.bad("a kernel's entry and either its source or its image", "neither or both");
    }
    int64_t threads = 1;
    for (int& v : sp.grid) v = r.i32();
    for (int& v : sp.block) threads *= (v = r.i32());
    for (int v : sp.grid) if (v <= 0) r.bad("a positive grid", std::to_string(v));
    for (int v : sp.block) if (v <= 0) r.bad("a positive threadgroup", std::to_string(v));
    if (threads > 1024) r.bad("at most 1024 threads per block", std::to_string(threads));
    sp.shared_memory = r.i32();
    if (sp.shared_memory < 0) r.bad("non-negative shared memory", std::to_string(sp.shared_memory));
    const bool has_init = r.boolean();
    const float init = r.f32();
    if (has_init) sp.init_value = init;
    sp.ensure_row_contiguous = r.boolean();
    for (int32_t b : r.ints()) {
      if (b < 0 || b > 7) r.bad("shape-argument flags in [0, 7]", std::to_string(b));
      sp.shape_args.push_back(static_cast<uint8_t>(b));
    }
    const uint32_t n = r.u32();
    for (uint32_t k = 0; k < n; ++k) {
      const uint8_t kind = r.u8();
      if (kind == 0) sp.scalars.emplace_back(r.boolean());
      else if (kind == 1) sp.scalars.emplace_back(static_cast<int>(r.i32()));
      else if (kind == 2) sp.scalars.emplace_back(r.f32());
      else r.bad("a scalar kind below 3", std::to_string(kind));
    }
    return make<CustomKernel>(s, std::move(sp));
  })
#undef MICA_LOAD
  return t;
}

std::mutex g_mu;
Table& table() {
  static Table t = builtin_loaders();
  return t;
}

}  // namespace

namespace detail {

LoaderEntry primitive_loader(const std::string& name) {
  std::lock_guard<std::mutex> lk(g_mu);
  auto& t = table();
  auto it = t.find(name);
  return it == t.end() ? LoaderEntry{} : it->second;
}

void register_primitive_loader(const std::string& name, std::type_index type, PrimitiveLoader loader) {
  if (!loader) throw std::invalid_argument("[register_primitive_loader] expected a loader, got null.");
  std::lock_guard<std::mutex> lk(g_mu);
  auto& t = table();
  auto it = t.find(name);
  if (it != t.end() && it->second.type != type) {
    throw std::invalid_argument("[register_primitive_loader] expected a name no other class uses, got " + name + ".");
  }
  t.insert_or_assign(name, LoaderEntry{loader, type});
}

const std::vector<std::pair<std::string, std::string>>& unsaved_primitives() {
  static const std::vector<std::pair<std::string, std::string>> v = {
      {"AllReduce", "a collective's group exists only in the process that made it"},
      {"AllGather", "a collective's group exists only in the process that made it"},
      {"ReduceScatter", "a collective's group exists only in the process that made it"},
      {"Send", "a collective's group exists only in the process that made it"},
      {"Recv", "a collective's group exists only in the process that made it"},
      {"CustomTransforms", "its rules are C++ functions of the exporting program"},
      {"Compiled", "export_function writes a fused node's steps as ordinary nodes"},
  };
  return v;
}

}  // namespace detail

}  // namespace mica
