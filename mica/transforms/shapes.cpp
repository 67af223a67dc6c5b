// Shape rules for replaying a traced graph on inputs of new shapes (transforms/shapes.h).
#include "mica/transforms/shapes.h"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <typeindex>
#include <unordered_set>

#include "mica/ops/utils.h"
#include "mica/primitives/all.h"
#include "mica/primitives/registry.h"

namespace mica::detail {

namespace {
bool elementwise(const Primitive& p) {
  static const std::unordered_set<std::type_index> types = [] {
    std::unordered_set<std::type_index> s;
#define MICA_ELEMENTWISE(NAME, FAMILY, KIND, GPU) \
  if (std::string(#FAMILY) == "unary" || std::string(#FAMILY) == "binary") s.emplace(typeid(NAME));
    MICA_PRIMITIVES(MICA_ELEMENTWISE)
#undef MICA_ELEMENTWISE
    return s;
  }();
  return types.count(typeid(p)) > 0;
}

std::string show(const Shape& s) {
  std::string out = "(";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + (s.size() == 1 ? ",)" : ")");
}

[[noreturn]] void unfit(const char* op, const Primitive& p, const std::string& expected, const std::string& got) {
  throw std::invalid_argument(std::string("[") + op + "] expected " + expected + " for " + p.name() + ", got " + got +
                              ".");
}
}  // namespace

std::optional<std::vector<Shape>> try_infer_output_shapes(const Primitive& prim, const std::vector<Shape>& in,
                                                          size_t num_outputs, const char* op) {
  auto same = [&](Shape s) { return std::vector<Shape>(num_outputs, std::move(s)); };
  if (auto* c = dynamic_cast<const Compiled*>(&prim)) return c->output_shapes(in);
  if (elementwise(prim)) return same(broadcast_shapes(in));
  if (auto* r = dynamic_cast<const Reduce*>(&prim)) {
    Shape s = in[0];
    for (int ax : r->axes()) {
      if (ax < 0 || ax >= static_cast<int>(s.size())) unfit(op, prim, "axes within the input", show(in[0]));
      s[ax] = 1;
    }
    return same(s);
  }
  if (auto* r = dynamic_cast<const ArgReduce*>(&prim)) {
    Shape s = in[0];
    if (r->axis() < 0 || r->axis() >= static_cast<int>(s.size())) unfit(op, prim, "an axis within the input", show(s));
    s[r->axis()] = 1;
    return same(s);
  }
  // Squeeze's and ExpandDims' axes: distinct, sorted, within the input (output) dimensions.
  auto axes_fit = [](const std::vector<int>& ax, size_t nd) {
    return std::is_sorted(ax.begin(), ax.end()) && std::adjacent_find(ax.begin(), ax.end()) == ax.end() &&
           (ax.empty() || (ax.front() >= 0 && ax.back() < static_cast<int>(nd)));
  };
  if (auto* q = dynamic_cast<const Squeeze*>(&prim)) {
    const auto& ax = q->axes();
    if (!axes_fit(ax, in[0].size())) unfit(op, prim, "distinct sorted axes within the input", show(in[0]));
    Shape s;
    for (int d = 0; d < static_cast<int>(in[0].size()); ++d) {
      if (!std::binary_search(ax.begin(), ax.end(), d)) s.push_back(in[0][d]);
      else if (in[0][d] != 1) unfit(op, prim, "axes of size 1", show(in[0]));
    }
    return same(s);
  }
  if (auto* q = dynamic_cast<const ExpandDims*>(&prim)) {
    const auto& ax = q->axes();
    const int nd = static_cast<int>(in[0].size() + ax.size());
    if (!axes_fit(ax, nd)) unfit(op, prim, "distinct sorted axes within the output", show(in[0]));
    Shape s;
    size_t k = 0;
    for (int d = 0; d < nd; ++d) s.push_back(std::binary_search(ax.begin(), ax.end(), d) ? 1 : in[0][k++]);
    return same(s);
  }
  const auto& t = typeid(prim);
  if (t == typeid(LayerNorm) || t == typeid(RMSNorm)) {
    // weight and bias: 1-D, the size of x's last axis
    for (size_t i = 1; i < in.size(); ++i) {
      if (in[0].empty() || in[i] != Shape{in[0].back()}) {
        unfit(op, prim, "a weight and bias of the input's last size", show(in[0]) + " and " + show(in[i]));
      }
    }
    return same(in[0]);
  }
  if (auto* r = dynamic_cast<const Rope*>(&prim)) {
    if (in[0].size() < 3 || in[0].back() < r->dims())
      unfit(op, prim, "an input of at least 3 dimensions and " + std::to_string(r->dims()) + " features", show(in[0]));
    if (in[1].size() > 1 || (in[1].size() == 1 && in[1][0] != in[0][0]))
      unfit(op, prim, "a scalar offset or one per entry of the first axis", show(in[1]));
    return same(in[0]);
  }
  if (t == typeid(Gelu)) {
    if (in.size() == 2 && in[1] != in[0]) unfit(op, prim, "a cotangent of the input's shape", show(in[1]));
    return same(in[0]);
  }
  if (t == typeid(Softmax)) return same(in[0]);
  if (auto* r = dynamic_cast<const NumberOfElements*>(&prim)) {
    for (int ax : r->axes()) {
      if (ax < 0 || ax >= static_cast<int>(in[0].size())) unfit(op, prim, "axes within the input", show(in[0]));
    }
    return same(Shape{});
  }
  if (t == typeid(LogSumExp) || t == typeid(Variance)) {  // per row of the last axis
    Shape s = in[0];
    if (s.empty()) unfit(op, prim, "an input with an axis", show(s));
    s.back() = 1;
    return same(s);
  }
  if (t == typeid(Matmul) && in[0].size() >= 2 && in[1].size() >= 2) {
    if (in[0].back() != in[1][in[1].size() - 2]) {
      unfit(op, prim, "inner sizes that agree", show(in[0]) + " @ " + show(in[1]));
    }
    Shape a(in[0].begin(), in[0].end() - 2), b(in[1].begin(), in[1].end() - 2);
    Shape s = broadcast_shapes(a, b);
    if (s != a || s != b) unfit(op, prim, "equal batch shapes", show(in[0]) + " @ " + show(in[1]));
    s.push_back(in[0][in[0].size() - 2]);
    s.push_back(in[1].back());
    return same(s);
  }
  return std::nullopt;
}

std::vector<Shape> infer_output_shapes(const Primitive& prim, const std::vector<Shape>& in, size_t num_outputs,
                                       const char* op) {
  if (auto s = try_infer_output_shapes(prim, in, num_outputs, op)) return *s;
  throw std::invalid_argument(std::string("[") + op +
                              "] expected operations whose output shape follows from their inputs' shapes "
                              "(shapeless), got " +
                              prim.name() + "; use shapeless = false.");
}

}  // namespace mica::detail
