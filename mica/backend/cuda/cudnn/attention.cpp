// ScaledDotProductAttention and its Vjp on the GPU through cuDNN's fused flash attention
// (forward with the row log-sum-exp as its "stats", backward from them). q, k, v, out and dout
// are taken with their strides when rows are 16-byte aligned (a (B, L, N, D) projection viewed as
// (B, N, L, D) needs no copy); grouped-query heads, causal (lower-right aligned) and an additive
// bias of (1|B, 1|N_q, L_q, L_kv) as cuDNN takes them. ops/attention.cpp sends here only the cases
// fused_attention_supported() accepts. The lse cotangent is not an input of cuDNN's backward: it
// is zero unless lse is used, and only the fused op itself sees lse.
#include <optional>

#include "mica/backend/cuda/cudnn/cudnn.h"
#include "mica/backend/cuda/copy.h"
#include "mica/backend/cuda/utils.h"
#include "mica/backend/gpu_info.h"
#include "mica/primitives/attention.h"

namespace mica {

namespace {
using namespace cu::dnn;
enum Uid : int64_t { kQ = 1, kK, kV, kO, kStats, kBias, kDO, kDQ, kDK, kDV };
constexpr const char* kOp = "scaled_dot_product_attention";

// cuDNN reads q, k, v, out and dout with any strides whose rows are 16-byte aligned.
bool takes_strided(const array& a) {
  if (a.strides()[3] != 1 && a.shape(3) != 1) return false;
  for (int i = 0; i < 3; ++i) {
    if (a.shape(i) != 1 && (a.strides()[i] <= 0 || a.strides()[i] % 8 != 0)) return false;
  }
  return reinterpret_cast<uintptr_t>(cu::ptr(a)) % 16 == 0;
}
array as_taken(const array& a, const Stream& s) { return takes_strided(a) ? a : cu::ensure_row_contiguous(a, s); }

Desc stats_desc(int64_t b, int64_t h, int64_t l) { return {{b, h, l, 1}, {h * l, l, 1, 1}}; }

struct Options {
  Dtype dt;
  float scale;
  bool causal;
};

std::string key(const char* what, const Options& o, const std::vector<const Desc*>& ds) {
  std::string k = std::string(what) + "|" + dtype_to_string(o.dt) + "|" + std::to_string(o.scale) + "|" +
                  (o.causal ? "c" : "-");
  for (auto* d : ds) k += "|" + (d ? key_of(*d) : std::string("none"));
  return k;
}

template <typename Attributes>
void mask_options(Attributes& a, Graph& g, const Options& o, const Desc* bias, int64_t lq, int64_t lkv) {
  if (o.causal) {
    if (lq == lkv) a.set_causal_mask(true);
    else a.set_causal_mask_bottom_right(true);
  }
  if (bias) a.set_bias(tensor(g, "bias", kBias, *bias));
}

std::shared_ptr<Graph> graph(const Options& o) {
  auto g = std::make_shared<Graph>();
  g->set_io_data_type(data_type(o.dt))
      .set_intermediate_data_type(fe::DataType_t::FLOAT)
      .set_compute_data_type(fe::DataType_t::FLOAT);
  return g;
}

const Plan& forward_plan(const Options& o, const Desc& q, const Desc& k, const Desc& v, const Desc& out,
                         const Desc* bias) {
  return plan(key("fwd", o, {&q, &k, &v, &out, bias}), [&] {
    auto g = graph(o);
    auto attrs = fe::graph::SDPA_attributes().set_name("sdpa").set_generate_stats(true).set_attn_scale(o.scale);
    mask_options(attrs, *g, o, bias, q.dim[2], k.dim[2]);
    auto [to, stats] = g->sdpa(tensor(*g, "q", kQ, q), tensor(*g, "k", kK, k), tensor(*g, "v", kV, v), attrs);
    to->set_output(true).set_uid(kO).set_dim(out.dim).set_stride(out.stride);
    const Desc sd = stats_desc(q.dim[0], q.dim[1], q.dim[2]);
    stats->set_output(true).set_uid(kStats).set_data_type(fe::DataType_t::FLOAT).set_dim(sd.dim).set_stride(sd.stride);
    return g;
  });
}

const Plan& backward_plan(const Options& o, const Desc& q, const Desc& k, const Desc& v, const Desc& out,
                          const Desc& dout, const Desc* bias) {
  return plan(key("bwd", o, {&q, &k, &v, &out, &dout, bias}), [&] {
    auto g = graph(o);
    // Deterministic: the default engine adds dQ's tiles atomically (in varying order); training
    // is reproducible by default, so this one keeps dP in a workspace and adds in a fixed order.
    auto attrs = fe::graph::SDPA_backward_attributes()
                     .set_name("sdpa_backward")
                     .set_attn_scale(o.scale)
                     .set_deterministic_algorithm(true);
    mask_options(attrs, *g, o, bias, q.dim[2], k.dim[2]);
    const Desc sd = stats_desc(q.dim[0], q.dim[1], q.dim[2]);
    auto stats = tensor(*g, "stats", kStats, sd);
    stats->set_data_type(fe::DataType_t::FLOAT);
    auto [dq, dk, dv] = g->sdpa_backward(tensor(*g, "q", kQ, q), tensor(*g, "k", kK, k), tensor(*g, "v", kV, v),
                                         tensor(*g, "o", kO, out), tensor(*g, "do", kDO, dout), stats, attrs);
    const Desc dqd = row_major(q.dim), dkd = row_major(k.dim), dvd = row_major(v.dim);
    dq->set_output(true).set_uid(kDQ).set_dim(dqd.dim).set_stride(dqd.stride);
    dk->set_output(true).set_uid(kDK).set_dim(dkd.dim).set_stride(dkd.stride);
    dv->set_output(true).set_uid(kDV).set_dim(dvd.dim).set_stride(dvd.stride);
    return g;
  });
}

bool half_dtype(Dtype dt) { return dt == float16 || dt == bfloat16; }
}  // namespace

void ScaledDotProductAttention::eval_gpu(const std::vector<array>& inputs, std::vector<array>& outputs) {
  const Stream& s = stream();
  const Dtype dt = inputs[0].dtype();
  if (has_sinks_ || !half_dtype(dt) || outputs[0].size() == 0 || inputs[1].shape(2) == 0) {
    cu::cpu_fallback(*this, inputs, outputs);
    return;
  }
  cu::prepare(inputs, s);
  array q = as_taken(inputs[0], s), k = as_taken(inputs[1], s), v = as_taken(inputs[2], s);
  std::optional<array> bias;
  if (has_mask_) bias = cu::ensure_row_contiguous(inputs[3], s);
  const Options o{dt, scale_, causal_};
  const Desc dq = desc_of(q), dk = desc_of(k), dv = desc_of(v), dout = row_major(desc_of(outputs[0]).dim);
  const Desc db = bias ? desc_of(*bias) : Desc{};
  const Plan& p = forward_plan(o, dq, dk, dv, dout, bias ? &db : nullptr);
  if (!p.graph) {
    cu::cpu_fallback(*this, inputs, outputs);
    return;
  }
  for (auto& out : outputs) cu::alloc_output(out, s);
  std::unordered_map<int64_t, void*> pack{{kQ, cu::ptr(q)},         {kK, cu::ptr(k)},
                                          {kV, cu::ptr(v)},         {kO, cu::ptr(outputs[0])},
                                          {kStats, cu::ptr(outputs[1])}};
  if (bias) pack[kBias] = cu::ptr(*bias);
  execute(p, pack, s, kOp);
}

void ScaledDotProductAttentionVjp::eval_gpu(const std::vector<array>& inputs, std::vector<array>& outputs) {
  // Inputs: q, k, v, out, lse, dout, dlse, [mask].
  const Stream& s = stream();
  const Dtype dt = inputs[0].dtype();
  if (has_sinks_ || !half_dtype(dt) || inputs[0].size() == 0 || inputs[1].shape(2) == 0) {
    cu::cpu_fallback(*this, inputs, outputs);
    return;
  }
  cu::prepare(inputs, s);
  array q = as_taken(inputs[0], s), k = as_taken(inputs[1], s), v = as_taken(inputs[2], s);
  array out = as_taken(inputs[3], s), dout = as_taken(inputs[5], s);
  array lse = cu::ensure_row_contiguous(inputs[4], s);
  std::optional<array> bias;
  if (has_mask_) bias = cu::ensure_row_contiguous(inputs[7], s);
  const Options o{dt, scale_, causal_};
  const Desc dq = desc_of(q), dk = desc_of(k), dv = desc_of(v), dot = desc_of(out), ddo = desc_of(dout);
  const Desc db = bias ? desc_of(*bias) : Desc{};
  const Plan& p = backward_plan(o, dq, dk, dv, dot, ddo, bias ? &db : nullptr);
  if (!p.graph) {
    cu::cpu_fallback(*this, inputs, outputs);
    return;
  }
  for (auto& g : outputs) cu::alloc_output(g, s);
  std::unordered_map<int64_t, void*> pack{
      {kQ, cu::ptr(q)},     {kK, cu::ptr(k)},        {kV, cu::ptr(v)},        {kO, cu::ptr(out)},
      {kDO, cu::ptr(dout)}, {kStats, cu::ptr(lse)},  {kDQ, cu::ptr(outputs[0])}, {kDK, cu::ptr(outputs[1])},
      {kDV, cu::ptr(outputs[2])}};
  if (bias) pack[kBias] = cu::ptr(*bias);
  execute(p, pack, s, "scaled_dot_product_attention (backward)");
}

namespace gpu {
bool fused_attention_supported(const AttentionCase& c) {
  if (c.batch <= 0 || c.q_heads <= 0 || c.kv_heads <= 0 || c.q_len <= 0 || c.kv_len <= 0 || c.head_dim <= 0 ||
      c.value_dim <= 0 || c.head_dim % 8 != 0 || c.value_dim % 8 != 0 || c.head_dim > 256 || c.value_dim > 256) {
    return false;
  }
  if (device_count() == 0) return false;
  // Both directions are built for row-major tensors (the plans stay cached for contiguous inputs).
  try {
    const Options o{c.bf16 ? bfloat16 : float16, c.scale, c.causal};
    const Desc q = row_major({c.batch, c.q_heads, c.q_len, c.head_dim});
    const Desc k = row_major({c.batch, c.kv_heads, c.kv_len, c.head_dim});
    const Desc v = row_major({c.batch, c.kv_heads, c.kv_len, c.value_dim});
    const Desc out = row_major({c.batch, c.q_heads, c.q_len, c.value_dim});
    const Desc bias = row_major({c.mask_batch, c.mask_heads, c.q_len, c.kv_len});
    const Desc* b = c.mask_batch > 0 ? &bias : nullptr;
    return forward_plan(o, q, k, v, out, b).graph && backward_plan(o, q, k, v, out, out, b).graph;
  } catch (const std::exception&) {
    return false;
  }
}
}  // namespace gpu

}  // namespace mica
