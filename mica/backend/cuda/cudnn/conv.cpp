// Convolution on the GPU through cuDNN's convolution engines (conv_fprop), channels-last as mica
// keeps its arrays: x (N, *L, C_in) is cuDNN's (N, C_in, *L) with strides, w (C_out, *K, C_in/G)
// its (C_out, C_in/G, *K), groups from the channel ratio, flip as CONVOLUTION mode. cuDNN has no
// input dilation and no negative padding: when a node has either (the input gradient of a strided
// convolution, transposed convolutions, crops) the dilated, padded input is materialized first
// (backend/cuda/conv.cu), a copy of (dilation^d) times the input. float32 uses engines without
// tensor cores unless gpu::set_allow_tf32(true); float64 runs where cuDNN has a double engine,
// else on the CPU.
#include <optional>

#include "mica/backend/cuda/conv.h"
#include "mica/backend/cuda/copy.h"
#include "mica/backend/cuda/cudnn/cudnn.h"
#include "mica/backend/cuda/utils.h"
#include "mica/primitives/conv.h"

namespace mica {

namespace {
using namespace cu::dnn;
enum Uid : int64_t { kX = 1, kW, kY };

// (N, *L, C) channels-last as cuDNN's (N, C, *L), with a unit spatial dim added to 1-D data
// (cuDNN's convolutions are 2-D or 3-D).
Desc channels_last(int64_t n, int64_t c, std::vector<int64_t> len) {
  if (len.size() == 1) len.insert(len.begin(), 1);
  Desc d{{n, c}, {0, 1}};
  int64_t stride = c;
  std::vector<int64_t> st(len.size());
  for (int i = static_cast<int>(len.size()) - 1; i >= 0; --i) {
    st[i] = stride;
    stride *= len[i];
  }
  d.stride[0] = stride;
  d.dim.insert(d.dim.end(), len.begin(), len.end());
  d.stride.insert(d.stride.end(), st.begin(), st.end());
  return d;
}

std::vector<int64_t> widen(std::vector<int64_t> v, size_t dims, int64_t unit) {
  if (dims == 1) v.insert(v.begin(), unit);
  return v;
}
}  // namespace

void Convolution::eval_gpu(const std::vector<array>& inputs, array& out) {
  const Stream& s = stream();
  const Dtype dt = out.dtype();
  if (!(dt == float16 || dt == bfloat16 || dt == float32 || dt == float64)) {
    std::vector<array> outs{out};
    cu::cpu_fallback(*this, inputs, outs);
    return;
  }
  const array& x0 = inputs[0];
  const array& w0 = inputs[1];
  const size_t dims = x0.ndim() - 2;
  const int64_t n = x0.shape(0), c_in = x0.shape(-1), c_out = w0.shape(0), cg = w0.shape(-1);
  std::vector<int64_t> in_len, k_len, out_len, padded;
  bool materialize = false;
  for (size_t d = 0; d < dims; ++d) {
    in_len.push_back(x0.shape(d + 1));
    k_len.push_back(w0.shape(d + 1));
    out_len.push_back(out.shape(d + 1));
    materialize = materialize || input_dilation_[d] > 1 || padding_lo_[d] < 0 || padding_hi_[d] < 0;
    padded.push_back((in_len[d] - 1) * input_dilation_[d] + 1 + padding_lo_[d] + padding_hi_[d]);
  }
  std::vector<int64_t> pre(dims, 0), post(dims, 0), stride, dilation;
  for (size_t d = 0; d < dims; ++d) {
    if (!materialize) {
      pre[d] = padding_lo_[d];
      post[d] = padding_hi_[d];
    }
    stride.push_back(stride_[d]);
    dilation.push_back(kernel_dilation_[d]);
  }
  const std::vector<int64_t>& x_len = materialize ? padded : in_len;
  const Desc xd = channels_last(n, c_in, x_len), yd = channels_last(n, c_out, out_len);
  Desc wd = channels_last(c_out, cg, k_len);
  const bool exact_f32 = dt == float32 && !gpu::allow_tf32();
  std::string key = "conv|" + dtype_to_string(dt) + (exact_f32 ? "|exact|" : "|") + key_of(xd) + "|" + key_of(wd) +
                    "|" + key_of(yd) + "|" + (flip_ ? "f" : "-");
  for (size_t d = 0; d < dims; ++d) {
    key += "|" + std::to_string(pre[d]) + "," + std::to_string(post[d]) + "," + std::to_string(stride[d]) + "," +
           std::to_string(dilation[d]);
  }
  const fe::DataType_t compute = dt == float64 ? fe::DataType_t::DOUBLE : fe::DataType_t::FLOAT;
  std::vector<fe::NumericalNote_t> exclude;
  if (exact_f32) exclude = {fe::NumericalNote_t::TENSOR_CORE, fe::NumericalNote_t::DOWN_CONVERT_INPUTS};
  const Plan& p = plan(
      key,
      [&] {
        auto g = std::make_shared<Graph>();
        g->set_io_data_type(data_type(dt)).set_intermediate_data_type(compute).set_compute_data_type(compute);
        auto attrs = fe::graph::Conv_fprop_attributes()
                         .set_name("conv")
                         .set_pre_padding(widen(pre, dims, 0))
                         .set_post_padding(widen(post, dims, 0))
                         .set_stride(widen(stride, dims, 1))
                         .set_dilation(widen(dilation, dims, 1))
                         .set_convolution_mode(flip_ ? fe::ConvolutionMode_t::CONVOLUTION
                                                     : fe::ConvolutionMode_t::CROSS_CORRELATION);
        attrs.set_compute_data_type(compute);
        auto y = g->conv_fprop(tensor(*g, "x", kX, xd), tensor(*g, "w", kW, wd), attrs);
        y->set_output(true).set_uid(kY).set_dim(yd.dim).set_stride(yd.stride);
        return g;
      },
      exclude);
  if (!p.graph) {
    std::vector<array> outs{out};
    cu::cpu_fallback(*this, inputs, outs);
    return;
  }
  cu::prepare(inputs, s);
  cu::alloc_output(out, s);
  if (out.size() == 0) return;
  array x = cu::ensure_row_contiguous(x0, s);
  array w = cu::ensure_row_contiguous(w0, s);
  std::optional<cu::Scratch> dilated;
  void* px = cu::ptr(x);
  if (materialize) {
    size_t elems = static_cast<size_t>(n * c_in);
    for (auto l : padded) elems *= static_cast<size_t>(l);
    dilated.emplace(std::max<size_t>(elems * dt.size, 1), s);
    std::vector<int> lo(padding_lo_.begin(), padding_lo_.end());
    cu::dilate_pad(px, dilated->get(), dt.size, n, c_in, in_len, padded, input_dilation_, lo, cu::stream(s));
    px = dilated->get();
  }
  std::unordered_map<int64_t, void*> pack{{kX, px}, {kW, cu::ptr(w)}, {kY, cu::ptr(out)}};
  execute(p, pack, s, "conv");
}

}  // namespace mica
