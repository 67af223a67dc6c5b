// Quantized layers: weight, scales, biases and bias are typed members that read the state on
// every use, so update() and load_weights() are honoured; nn::quantize swaps layers with
// update_modules.
#include "mica/nn/layers/quantized.h"

#include <cmath>
#include <stdexcept>

#include "mica/nn/layers/embedding.h"
#include "mica/nn/layers/linear.h"
#include "mica/ops.h"
#include "mica/random.h"

namespace mica::nn {

namespace {
// Sets weight, scales and biases from the float matrix w (rows, cols).
void set_quantized(Param& weight, Param& scales, Param& biases, const array& w, const QuantizeParams& p) {
  auto q = mica::quantize(w, p.group_size, p.bits, p.mode);
  weight = q[0];
  scales = q[1];
  if (q.size() > 2) biases = q[2];
}

// The dequantized matrix's column count from the stored scales.
int unpacked_cols(const Param& scales, int group_size) {
  const array s = scales;
  return s.ndim() == 2 ? s.shape(1) * group_size : -1;
}
}  // namespace

// -- QuantizedLinear -------------------------------------------------------------------------------

QuantizedLinear::QuantizedLinear(const QuantizeParams& p) : group_size_(p.group_size), bits_(p.bits), mode_(p.mode) {}

QuantizedLinear::QuantizedLinear(int input_dims, int output_dims, const QuantizedLinearOptions& o)
    : group_size_(o.group_size), bits_(o.bits), mode_(o.mode) {
  if (input_dims <= 0 || output_dims <= 0) {
    throw std::invalid_argument("[QuantizedLinear] expected positive input_dims and output_dims, got " +
                                std::to_string(input_dims) + " and " + std::to_string(output_dims) + ".");
  }
  double scale = std::sqrt(1.0 / input_dims);
  set_quantized(weight, scales, biases, random::uniform(-scale, scale, {output_dims, input_dims}),
                {o.group_size, o.bits, o.mode});
  if (o.bias) bias = zeros({output_dims});
  freeze();
}

std::shared_ptr<QuantizedLinear> QuantizedLinear::from_linear(const Linear& linear, const QuantizeParams& p) {
  std::shared_ptr<QuantizedLinear> q(new QuantizedLinear(p));
  set_quantized(q->weight, q->scales, q->biases, linear.weight, p);
  if (linear.bias) q->bias = linear.bias.get();
  q->freeze();
  return q;
}

void QuantizedLinear::unfreeze_self(const std::vector<std::string>& keys) {
  Module::unfreeze_self(keys);
  Module::freeze_self({});
}

std::string QuantizedLinear::extra_repr() const {
  const array w = weight;
  return "input_dims=" + std::to_string(unpacked_cols(scales, group_size_)) +
         ", output_dims=" + (w.ndim() == 2 ? std::to_string(w.shape(0)) : std::string("?")) +
         ", bias=" + (bias ? "True" : "False") + ", group_size=" + std::to_string(group_size_) +
         ", bits=" + std::to_string(bits_);
}

array QuantizedLinear::operator()(const array& x) {
  array y = quantized_matmul(x, weight, scales, biases.maybe(), true, group_size_, bits_, mode_);
  if (bias) y = add(y, bias);
  return y;
}

// -- QuantizedEmbedding ----------------------------------------------------------------------------

QuantizedEmbedding::QuantizedEmbedding(const QuantizeParams& p)
    : group_size_(p.group_size), bits_(p.bits), mode_(p.mode) {}

QuantizedEmbedding::QuantizedEmbedding(int num_embeddings, int dims, const QuantizeParams& p)
    : group_size_(p.group_size), bits_(p.bits), mode_(p.mode) {
  if (num_embeddings <= 0 || dims <= 0) {
    throw std::invalid_argument("[QuantizedEmbedding] expected positive num_embeddings and dims, got " +
                                std::to_string(num_embeddings) + " and " + std::to_string(dims) + ".");
  }
  float scale = static_cast<float>(std::sqrt(1.0 / dims));
  set_quantized(weight, scales, biases, random::normal({num_embeddings, dims}, 0.0f, scale), p);
  freeze();
}

std::shared_ptr<QuantizedEmbedding> QuantizedEmbedding::from_embedding(const Embedding& embedding,
                                                                       const QuantizeParams& p) {
  std::shared_ptr<QuantizedEmbedding> q(new QuantizedEmbedding(p));
  set_quantized(q->weight, q->scales, q->biases, embedding.weight, p);
  q->freeze();
  return q;
}

void QuantizedEmbedding::unfreeze_self(const std::vector<std::string>& keys) {
  Module::unfreeze_self(keys);
  Module::freeze_self({});
}

std::string QuantizedEmbedding::extra_repr() const {
  const array w = weight;
  return (w.ndim() == 2 ? std::to_string(w.shape(0)) : std::string("?")) + ", " +
         std::to_string(unpacked_cols(scales, group_size_)) + ", group_size=" + std::to_string(group_size_) +
         ", bits=" + std::to_string(bits_);
}

array QuantizedEmbedding::operator()(const array& x) {
  if (!is_integral(x.dtype()) || x.dtype() == bool_) {
    throw std::invalid_argument("[QuantizedEmbedding] expected integer indices, got dtype " +
                                dtype_to_string(x.dtype()) + ".");
  }
  std::optional<array> b = biases.maybe();
  if (b) b = take(*b, x, 0);
  return dequantize(take(weight, x, 0), take(scales, x, 0), b, group_size_, bits_, mode_);
}

array QuantizedEmbedding::as_linear(const array& x) const {
  return quantized_matmul(x, weight, scales, biases.maybe(), true, group_size_, bits_, mode_);
}

// -- nn::quantize ----------------------------------------------------------------------------------

std::shared_ptr<Module> to_quantized(const Module& m, const QuantizeParams& params) {
  if (auto* l = dynamic_cast<const Linear*>(&m)) return QuantizedLinear::from_linear(*l, params);
  if (auto* e = dynamic_cast<const Embedding*>(&m)) return QuantizedEmbedding::from_embedding(*e, params);
  if (auto* q = dynamic_cast<const Quantizable*>(&m)) return q->to_quantized(params);
  throw std::invalid_argument("[quantize] expected a Linear, Embedding or Quantizable module to quantize, got " +
                              m.name() + ".");
}

void quantize(Module& model, const QuantizeOptions& options) {
  const QuantizeParams defaults{options.group_size, options.bits, options.mode};
  auto default_predicate = [&](const std::string&, const Module& m) -> std::variant<bool, QuantizeParams> {
    if (dynamic_cast<const Linear*>(&m) || dynamic_cast<const Embedding*>(&m)) {
      const array w = m.param("weight");
      return w.ndim() == 2 && w.shape(-1) % options.group_size == 0;
    }
    return dynamic_cast<const Quantizable*>(&m) != nullptr;
  };
  Tree replacements = tree_map_with_path(
      [&](const std::string& path, const Tree& leaf, const std::vector<Tree>&) -> Tree {
        if (!leaf.is_module()) return Tree();
        const Module& m = leaf.as_module();
        auto choice = options.class_predicate ? options.class_predicate(path, m) : default_predicate(path, m);
        if (auto* yes = std::get_if<bool>(&choice)) {
          if (!*yes) return Tree();
          return Tree(to_quantized(m, defaults));
        }
        return Tree(to_quantized(m, std::get<QuantizeParams>(choice)));
      },
      model.leaf_modules());
  model.update_modules(replacements);
}

void quantize(Module& model, int group_size, int bits, QuantizePredicate class_predicate) {
  quantize(model, QuantizeOptions{group_size, bits, "affine", std::move(class_predicate)});
}

}  // namespace mica::nn
