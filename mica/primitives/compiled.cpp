// Rules of the fused node compile builds (primitives/compiled.h): each transform replays the
// steps as ordinary nodes and applies the steps' own rules.
#include "mica/primitives/compiled.h"

#include "mica/primitives/reduce.h"

#include "mica/ops/creation.h"
#include "mica/ops/utils.h"
#include "mica/transforms.h"

namespace mica {

Shape Compiled::step_shape(const Step& s, const std::vector<Shape>& args) {
  if (auto* r = dynamic_cast<const Reduce*>(s.prim.get())) {
    Shape out = args[0];
    for (int ax : r->axes()) out[ax] = 1;
    return out;
  }
  return broadcast_shapes(args);
}

int Compiled::summed_axes() const {
  for (const auto& s : steps_) {
    if (auto* r = dynamic_cast<const Reduce*>(s.prim.get())) return static_cast<int>(r->axes().size());
  }
  return 0;
}
bool Compiled::has_sums() const { return summed_axes() > 0; }

std::vector<Shape> Compiled::output_shapes(const std::vector<Shape>& inputs) const {
  std::vector<Shape> values(inputs.begin(), inputs.end());
  for (const auto& s : steps_) {
    std::vector<Shape> args;
    for (int v : s.args) args.push_back(values[v]);
    values.push_back(step_shape(s, args));
  }
  std::vector<Shape> outs;
  for (int v : outputs_) outs.push_back(values[v]);
  return outs;
}

std::vector<array> Compiled::expand(const std::vector<array>& inputs) const {
  std::vector<array> values(inputs.begin(), inputs.end());
  values.reserve(inputs.size() + steps_.size());
  for (const auto& s : steps_) {
    std::vector<array> args;
    std::vector<Shape> shapes;
    for (int v : s.args) {
      args.push_back(values[v]);
      shapes.push_back(values[v].shape());
    }
    values.emplace_back(step_shape(s, shapes), s.dtype, s.prim, std::move(args));
  }
  std::vector<array> outs;
  for (int v : outputs_) outs.push_back(values[v]);
  return outs;
}

std::vector<array> Compiled::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                                 const std::vector<int>& argnums, const std::vector<array>&) {
  auto grads = mica::vjp([this](const std::vector<array>& x) { return expand(x); }, primals, cotangents).second;
  std::vector<array> out;
  for (int i : argnums) out.push_back(grads[i]);
  return out;
}

std::vector<array> Compiled::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                                 const std::vector<int>& argnums) {
  std::vector<array> all;
  for (const auto& p : primals) all.push_back(detail::zeros_like_view(p));
  for (size_t i = 0; i < argnums.size(); ++i) all[argnums[i]] = tangents[i];
  return mica::jvp([this](const std::vector<array>& x) { return expand(x); }, primals, all).second;
}

std::pair<std::vector<array>, std::vector<int>> Compiled::vmap(const std::vector<array>& inputs,
                                                               const std::vector<int>& axes) {
  std::vector<int> out_axes(outputs_.size(), 0);
  auto outs = mica::vmap([this](const std::vector<array>& x) { return expand(x); }, axes, out_axes)(inputs);
  return {std::move(outs), std::move(out_axes)};
}

void* Compiled::generated(const std::string& key, const std::function<std::optional<std::string>()>& make_source,
                          const std::function<void*(const std::string&)>& build) const {
  std::lock_guard<std::mutex> lk(generated_mu_);
  auto it = generated_.find(key);
  if (it != generated_.end()) return it->second;
  auto src = make_source();
  void* fn = src ? build(*src) : nullptr;
  generated_.emplace(key, fn);
  return fn;
}

void Compiled::print(std::ostream& os) {
  os << "Compiled(";
  for (size_t i = 0; i < steps_.size(); ++i) os << (i ? " " : "") << steps_[i].prim->name();
  os << ")";
}

}  // namespace mica
