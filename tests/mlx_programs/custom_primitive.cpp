// MLX-style program: a user-defined primitive (z = alpha * x + beta * y) written the way MLX's
// extension guide describes — subclass mlx::core::Primitive, implement eval and the transform
// rules, build nodes with the array constructor — then evaluated, differentiated, vmapped and
// composed with grad of vmap.
#include <algorithm>
#include <memory>
#include <stdexcept>
#include <vector>

#include "check.h"
#include "mlx/mlx.h"
#include "mlx/primitives.h"

namespace mx = mlx::core;
using check::expect;
using check::values;

namespace {

int evaluations = 0;  // how often the CPU kernel ran

class Axpby : public mx::Primitive {
 public:
  Axpby(mx::Stream stream, float alpha, float beta) : mx::Primitive(stream), alpha_(alpha), beta_(beta) {}

  void eval_cpu(const std::vector<mx::array>& inputs, std::vector<mx::array>& outputs) override {
    const mx::array& x = inputs[0];
    const mx::array& y = inputs[1];
    mx::array& out = outputs[0];
    ++evaluations;
    // The op below broadcasts and casts, so both inputs arrive float32 with out's shape, but
    // possibly as strided views: read them through their strides.
    out.set_data(mx::allocator::malloc(out.nbytes()));
    float* o = out.data<float>();
    const float* px = x.data<float>();
    const float* py = y.data<float>();
    const size_t n = out.size();
    const int nd = static_cast<int>(out.ndim());
    std::vector<int64_t> index(nd, 0);
    for (size_t i = 0; i < n; ++i) {
      int64_t ox = 0, oy = 0;
      for (int d = 0; d < nd; ++d) {
        ox += index[d] * x.strides()[d];
        oy += index[d] * y.strides()[d];
      }
      o[i] = alpha_ * px[ox] + beta_ * py[oy];
      for (int d = nd - 1; d >= 0; --d) {
        if (++index[d] < out.shape(d)) break;
        index[d] = 0;
      }
    }
  }
  void eval_gpu(const std::vector<mx::array>& inputs, std::vector<mx::array>& outputs) override {
    throw std::runtime_error("[Axpby] no GPU kernel");
  }

  std::vector<mx::array> jvp(const std::vector<mx::array>& primals, const std::vector<mx::array>& tangents,
                             const std::vector<int>& argnums) override {
    // d(alpha x + beta y) = alpha dx + beta dy over the differentiated inputs.
    mx::array t = mx::zeros_like(primals[0]);
    for (size_t i = 0; i < argnums.size(); ++i)
      t = t + tangents[i] * (argnums[i] == 0 ? alpha_ : beta_);
    return {t};
  }
  std::vector<mx::array> vjp(const std::vector<mx::array>& primals, const std::vector<mx::array>& cotangents,
                             const std::vector<int>& argnums, const std::vector<mx::array>& outputs) override {
    std::vector<mx::array> out;
    for (int a : argnums) out.push_back(cotangents[0] * (a == 0 ? alpha_ : beta_));
    return out;
  }
  std::pair<std::vector<mx::array>, std::vector<int>> vmap(const std::vector<mx::array>& inputs,
                                                           const std::vector<int>& axes) override {
    // Move both batch axes to the front, then run the op itself on the batched arrays.
    auto front = [](const mx::array& a, int ax) { return ax < 0 ? mx::expand_dims(a, 0) : mx::moveaxis(a, ax, 0); };
    mx::array x = front(inputs[0], axes[0]), y = front(inputs[1], axes[1]);
    return {{axpby_impl(x, y, alpha_, beta_, stream())}, {0}};
  }

  const char* name() const override { return "Axpby"; }
  bool is_equivalent(const mx::Primitive& other) const override {
    auto* o = dynamic_cast<const Axpby*>(&other);
    return o && o->alpha_ == alpha_ && o->beta_ == beta_;
  }

  static mx::array axpby_impl(const mx::array& x, const mx::array& y, float alpha, float beta, mx::Stream s) {
    auto promoted = mx::broadcast_arrays({mx::astype(x, mx::float32), mx::astype(y, mx::float32)});
    return mx::array(promoted[0].shape(), mx::float32, std::make_shared<Axpby>(s, alpha, beta), promoted);
  }

 private:
  float alpha_, beta_;
};

mx::array axpby(const mx::array& x, const mx::array& y, float alpha, float beta, mx::StreamOrDevice s = {}) {
  return Axpby::axpby_impl(x, y, alpha, beta, mx::to_stream(s, mx::Device::cpu));
}

}  // namespace

int main() {
  mx::array x({1.0f, 2.0f, 3.0f});
  mx::array y({10.0f, 20.0f, 30.0f});
  expect(values(axpby(x, y, 2.0f, 0.5f), {7, 14, 21}, {3}), "eval");
  expect(evaluations == 1, "the CPU kernel ran once");
  // Broadcast and strided (transposed) inputs.
  mx::array m = mx::reshape(mx::arange(6.0f), {2, 3});
  expect(values(axpby(mx::transpose(m), mx::array(1.0f), 1.0f, 3.0f), {3, 6, 4, 7, 5, 8}, {3, 2}), "strided");
  // grad through the user's vjp, both arguments.
  auto loss = [](const std::vector<mx::array>& in) { return mx::sum(axpby(in[0], in[1], 2.0f, -3.0f)); };
  auto g = mx::grad(loss, std::vector<int>{0, 1})({x, y});
  expect(values(g[0], {2, 2, 2}, {3}) && values(g[1], {-3, -3, -3}, {3}), "grad uses the vjp");
  // jvp.
  auto f = [](const std::vector<mx::array>& in) { return std::vector<mx::array>{axpby(in[0], in[1], 2.0f, -3.0f)}; };
  auto [outs, tans] = mx::jvp(f, {x, y}, {mx::ones({3}), mx::full({3}, 2.0f)});
  expect(values(tans[0], {-4, -4, -4}, {3}), "jvp");
  // vmap over the second axis of x with y unbatched.
  mx::array xb = mx::reshape(mx::arange(6.0f), {3, 2});
  auto vf = mx::vmap([](const std::vector<mx::array>& in) { return std::vector<mx::array>{axpby(in[0], in[1], 1.0f, 1.0f)}; },
                     {1, -1});
  auto vo = vf({xb, y});
  expect(values(vo[0], {10, 22, 34, 11, 23, 35}, {2, 3}), "vmap");
  // grad of a vmapped function: d/dx sum(vmap(axpby)(x, y)) = alpha everywhere.
  auto gv = mx::grad([&](const mx::array& a) { return mx::sum(vf({a, y})[0]); })(xb);
  expect(values(gv, {1, 1, 1, 1, 1, 1}, {3, 2}), "grad of vmap");
  // The node carries the user's primitive; is_equivalent compares parameters.
  mx::array node = axpby(x, y, 1.0f, 2.0f);
  expect(node.has_primitive() && std::string(node.primitive().name()) == "Axpby", "the node's primitive");
  expect(node.primitive().is_equivalent(Axpby(mx::default_stream(mx::Device::cpu), 1.0f, 2.0f)) &&
             !node.primitive().is_equivalent(Axpby(mx::default_stream(mx::Device::cpu), 1.0f, 3.0f)),
         "is_equivalent");
  return check::finish("custom_primitive");
}
