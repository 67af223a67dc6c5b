// Attention and transformer layers. Every sub-layer is a typed member (nn::Child) or a list
// entry read back from the state on each call, so update_modules() and value_and_grad() are
// honoured.
#include "mica/nn/layers/transformer.h"

#include <cmath>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "mica/fast.h"
#include "mica/nn/layers/dropout.h"
#include "mica/nn/layers/linear.h"
#include "mica/nn/layers/normalization.h"
#include "mica/nn/value_and_grad.h"
#include "mica/ops.h"

namespace mica::nn {

namespace {

void check_positive(const char* layer, const char* what, int v) {
  if (v < 1) {
    throw std::invalid_argument(std::string("[") + layer + "] expected a positive " + what + ", got " +
                                std::to_string(v) + ".");
  }
}

// (B, L, H * d) -> (B, H, L, d).
array split_heads(const array& x, int num_heads, const char* what) {
  if (x.shape(-1) % num_heads != 0) {
    throw std::invalid_argument(std::string("[MultiHeadAttention] expected ") + what +
                                " dims divisible by num_heads (" + std::to_string(num_heads) + "), got " +
                                std::to_string(x.shape(-1)) + ".");
  }
  array r = reshape(x, {x.shape(0), x.shape(1), num_heads, x.shape(-1) / num_heads});
  return transpose(r, {0, 2, 1, 3});
}

void check_3d(const char* what, const array& x) {
  if (x.ndim() != 3) {
    throw std::invalid_argument(std::string("[MultiHeadAttention] expected ") + what +
                                " of shape (batch, length, dims), got " + mica::detail::shape_str(x.shape()) + ".");
  }
}

// softmax(q k^T * scale + mask) v over (B, H, L, d) heads, fused (fast::scaled_dot_product_attention:
// no (L, L) score matrix). Bool masks keep their true entries (a fully masked row is uniform, as
// in MLX); any other mask is cast to the queries' dtype and added, as the composition did.
array attention(const array& q, const array& k, const array& v, double scale, const std::optional<array>& mask,
                const std::string& mask_mode = "") {
  std::optional<array> m = mask;
  if (m && m->dtype() != bool_) m = astype(*m, q.dtype());
  // The op's scale is a float (as MLX's): float64 queries are scaled here to keep their precision.
  if (q.dtype() == float64) return fast::scaled_dot_product_attention(q * scale, k, v, 1.0f, mask_mode, m);
  return fast::scaled_dot_product_attention(q, k, v, static_cast<float>(scale), mask_mode, m);
}

// The layers of a stack's `layers` list as T (throws if an entry is another module).
template <class T>
std::vector<std::shared_ptr<T>> layers_of(const Module& m, const char* stack) {
  std::vector<std::shared_ptr<T>> out;
  for (const Tree& t : m["layers"].as_list()) {
    std::shared_ptr<T> layer = t.is_module() ? std::dynamic_pointer_cast<T>(t.module_ptr()) : nullptr;
    if (!layer) {
      throw std::invalid_argument(
          std::string("[") + stack + "] expected every entry of layers to be a " +
          (std::is_same_v<T, TransformerEncoderLayer> ? "TransformerEncoderLayer" : "TransformerDecoderLayer") +
          ", got " + t.kind_name() + ".");
    }
    out.push_back(std::move(layer));
  }
  return out;
}

// The state of an encoder or decoder stack: `layers` (num_layers Layers) and a final LayerNorm `ln`.
template <class Layer>
void build_stack(Module& m, const char* name, int num_layers, int dims, int num_heads,
                 const TransformerStackOptions& o) {
  if (num_layers < 0) {
    throw std::invalid_argument(std::string("[") + name + "] expected a non-negative num_layers, got " +
                                std::to_string(num_layers) + ".");
  }
  check_positive(name, "dims", dims);
  TransformerLayerOptions lo{o.mlp_dims, o.dropout, o.activation, o.norm_first};
  Tree::List layers;
  for (int i = 0; i < num_layers; ++i) layers.emplace_back(std::make_shared<Layer>(dims, num_heads, lo));
  m.set("layers", Tree(std::move(layers)));
  m.set("ln", std::make_shared<LayerNorm>(dims));
}

}  // namespace

// -- MultiHeadAttention -------------------------------------------------------------------------

MultiHeadAttention::MultiHeadAttention(int dims, int num_heads, const MultiHeadAttentionOptions& options)
    : num_heads_(num_heads) {
  check_positive("MultiHeadAttention", "dims", dims);
  check_positive("MultiHeadAttention", "num_heads", num_heads);
  if (dims % num_heads != 0) {
    throw std::invalid_argument("[MultiHeadAttention] expected dims divisible by num_heads, got " +
                                std::to_string(dims) + " and " + std::to_string(num_heads) + ".");
  }
  // MLX treats 0 like None for these (`x or default`).
  auto pick = [](const std::optional<int>& v, int dflt) { return v && *v != 0 ? *v : dflt; };
  int query_input_dims = pick(options.query_input_dims, dims);
  int key_input_dims = pick(options.key_input_dims, dims);
  int value_input_dims = pick(options.value_input_dims, key_input_dims);
  int value_dims = pick(options.value_dims, dims);
  int value_output_dims = pick(options.value_output_dims, dims);
  query_proj = std::make_shared<Linear>(query_input_dims, dims, options.bias);
  key_proj = std::make_shared<Linear>(key_input_dims, dims, options.bias);
  value_proj = std::make_shared<Linear>(value_input_dims, value_dims, options.bias);
  out_proj = std::make_shared<Linear>(value_dims, value_output_dims, options.bias);
}

array MultiHeadAttention::operator()(const array& queries, const array& keys, const array& values,
                                     const std::optional<array>& mask) {
  return attend(queries, keys, values, mask, "");
}

array MultiHeadAttention::operator()(const array& queries, const array& keys, const array& values,
                                     const std::string& mask_mode) {
  if (mask_mode != "" && mask_mode != "causal") {
    throw std::invalid_argument("[MultiHeadAttention] expected the mask \"causal\" or \"\", got \"" + mask_mode +
                                "\".");
  }
  return attend(queries, keys, values, std::nullopt, mask_mode);
}

array MultiHeadAttention::attend(const array& queries, const array& keys, const array& values,
                                 const std::optional<array>& mask, const std::string& mask_mode) {
  check_3d("queries", queries);
  check_3d("keys", keys);
  check_3d("values", values);
  if (keys.shape(0) != values.shape(0) || keys.shape(1) != values.shape(1)) {
    throw std::invalid_argument("[MultiHeadAttention] expected keys and values with the same batch and length, got " +
                                mica::detail::shape_str(keys.shape()) + " and " +
                                mica::detail::shape_str(values.shape()) + ".");
  }
  array q = split_heads(query_proj(queries), num_heads_, "query");
  array k = split_heads(key_proj(keys), num_heads_, "key");
  array v = split_heads(value_proj(values), num_heads_, "value");
  double scale = std::sqrt(1.0 / q.shape(-1));
  array o = attention(q, k, v, scale, mask, mask_mode);  // (B, H, Lq, dv)
  o = transpose(o, {0, 2, 1, 3});
  o = reshape(o, {o.shape(0), o.shape(1), o.shape(2) * o.shape(3)});
  return out_proj(o);
}

array MultiHeadAttention::create_additive_causal_mask(int N, Dtype dtype) {
  if (N < 0)
    throw std::invalid_argument("[MultiHeadAttention] expected a non-negative N, got " + std::to_string(N) + ".");
  if (!is_floating(dtype)) {
    throw std::invalid_argument("[MultiHeadAttention] expected a floating dtype for the causal mask, got " +
                                dtype_to_string(dtype) + ".");
  }
  array idx = arange(N);
  array above = less(expand_dims(idx, 1), expand_dims(idx, 0));  // key after query
  return multiply(astype(above, dtype), array(finfo(dtype).min, dtype));
}

// -- Encoder ----------------------------------------------------------------------------------

TransformerEncoderLayer::TransformerEncoderLayer(int dims, int num_heads, const TransformerLayerOptions& options)
    : activation_(options.activation ? options.activation : Activation(nn::relu)), norm_first_(options.norm_first) {
  check_positive("TransformerEncoderLayer", "dims", dims);
  int mlp_dims = options.mlp_dims && *options.mlp_dims != 0 ? *options.mlp_dims : 4 * dims;
  check_positive("TransformerEncoderLayer", "mlp_dims", mlp_dims);
  attention = std::make_shared<MultiHeadAttention>(dims, num_heads);
  ln1 = std::make_shared<LayerNorm>(dims);
  ln2 = std::make_shared<LayerNorm>(dims);
  linear1 = std::make_shared<Linear>(dims, mlp_dims);
  linear2 = std::make_shared<Linear>(mlp_dims, dims);
  dropout1 = std::make_shared<Dropout>(options.dropout);
  dropout2 = std::make_shared<Dropout>(options.dropout);
}

array TransformerEncoderLayer::operator()(const array& x, const std::optional<array>& mask) {
  auto mlp = [&](const array& y) { return linear2(dropout2(activation_(linear1(y)))); };
  if (norm_first_) {
    array y = ln1(x);
    array h = add(x, dropout1(attention(y, y, y, mask)));
    return add(h, mlp(ln2(h)));
  }
  array h = ln1(add(x, dropout1(attention(x, x, x, mask))));
  return ln2(add(h, mlp(h)));
}

TransformerEncoder::TransformerEncoder(int num_layers, int dims, int num_heads, const TransformerStackOptions& options)
    : checkpoint_(options.checkpoint) {
  build_stack<TransformerEncoderLayer>(*this, "TransformerEncoder", num_layers, dims, num_heads, options);
}

array TransformerEncoder::operator()(const array& x, const std::optional<array>& mask) {
  array h = x;
  for (auto& layer : layers_of<TransformerEncoderLayer>(*this, "TransformerEncoder")) {
    if (!checkpoint_) {
      h = (*layer)(h, mask);
      continue;
    }
    // The layer's parameters become inputs of the checkpoint; the (constant) mask is captured.
    auto fn = nn::checkpoint(
        *layer, [layer, mask](const std::vector<array>& in) { return std::vector<array>{(*layer)(in[0], mask)}; });
    h = fn({h})[0];
  }
  return call("ln", h);
}

// -- Decoder ----------------------------------------------------------------------------------

TransformerDecoderLayer::TransformerDecoderLayer(int dims, int num_heads, const TransformerLayerOptions& options)
    : activation_(options.activation ? options.activation : Activation(nn::relu)), norm_first_(options.norm_first) {
  check_positive("TransformerDecoderLayer", "dims", dims);
  int mlp_dims = options.mlp_dims && *options.mlp_dims != 0 ? *options.mlp_dims : 4 * dims;
  check_positive("TransformerDecoderLayer", "mlp_dims", mlp_dims);
  self_attention = std::make_shared<MultiHeadAttention>(dims, num_heads);
  cross_attention = std::make_shared<MultiHeadAttention>(dims, num_heads);
  ln1 = std::make_shared<LayerNorm>(dims);
  ln2 = std::make_shared<LayerNorm>(dims);
  ln3 = std::make_shared<LayerNorm>(dims);
  linear1 = std::make_shared<Linear>(dims, mlp_dims);
  linear2 = std::make_shared<Linear>(mlp_dims, dims);
  dropout1 = std::make_shared<Dropout>(options.dropout);
  dropout2 = std::make_shared<Dropout>(options.dropout);
  dropout3 = std::make_shared<Dropout>(options.dropout);
}

array TransformerDecoderLayer::operator()(const array& x, const array& memory, const std::optional<array>& x_mask,
                                          const std::optional<array>& memory_mask) {
  auto mlp = [&](const array& y) { return linear2(dropout3(activation_(linear1(y)))); };
  if (norm_first_) {
    array y = ln1(x);
    array h = add(x, dropout1(self_attention(y, y, y, x_mask)));
    y = ln2(h);
    h = add(h, dropout2(cross_attention(y, memory, memory, memory_mask)));
    return add(h, mlp(ln3(h)));
  }
  array h = ln1(add(x, dropout1(self_attention(x, x, x, x_mask))));
  h = ln2(add(h, dropout2(cross_attention(h, memory, memory, memory_mask))));
  return ln3(add(h, mlp(h)));
}

TransformerDecoder::TransformerDecoder(int num_layers, int dims, int num_heads, const TransformerStackOptions& options)
    : checkpoint_(options.checkpoint) {
  build_stack<TransformerDecoderLayer>(*this, "TransformerDecoder", num_layers, dims, num_heads, options);
}

array TransformerDecoder::operator()(const array& x, const array& memory, const std::optional<array>& x_mask,
                                     const std::optional<array>& memory_mask) {
  array h = x;
  for (auto& layer : layers_of<TransformerDecoderLayer>(*this, "TransformerDecoder")) {
    if (!checkpoint_) {
      h = (*layer)(h, memory, x_mask, memory_mask);
      continue;
    }
    // memory is an input (gradients reach the encoder through it); the masks are captured.
    auto fn = nn::checkpoint(*layer, [layer, x_mask, memory_mask](const std::vector<array>& in) {
      return std::vector<array>{(*layer)(in[0], in[1], x_mask, memory_mask)};
    });
    h = fn({h, memory})[0];
  }
  return call("ln", h);
}

// -- Transformer ------------------------------------------------------------------------------

Transformer::Transformer(const TransformerOptions& o) {
  TransformerStackOptions so{o.mlp_dims, o.dropout, o.activation, o.norm_first, o.checkpoint};
  if (o.custom_encoder) {
    set("encoder", o.custom_encoder);
  } else {
    set("encoder", std::make_shared<TransformerEncoder>(o.num_encoder_layers, o.dims, o.num_heads, so));
  }
  if (o.custom_decoder) {
    set("decoder", o.custom_decoder);
  } else {
    set("decoder", std::make_shared<TransformerDecoder>(o.num_decoder_layers, o.dims, o.num_heads, so));
  }
}

array Transformer::operator()(const array& src, const array& tgt, const std::optional<array>& src_mask,
                              const std::optional<array>& tgt_mask, const std::optional<array>& memory_mask) {
  array memory = (*child<TransformerEncoder>("encoder"))(src, src_mask);
  return (*child<TransformerDecoder>("decoder"))(tgt, memory, tgt_mask, memory_mask);
}

}  // namespace mica::nn
