// The collectives' GPU kernels (backend/cuda/distributed.cu) through the NCCL backend, on the one
// GPU a test machine has: an NCCL world of one process. The ops return their input for a group of
// one, so the nodes are built directly (as the ops build them for larger groups); over one rank
// every collective is the identity, which checks the bytes NCCL moves, the kernels' layouts
// (strided, donated, 0-d, empty), the reductions NCCL does not do itself (floating max/min,
// 16-bit integers: all-gather, then reduce on the GPU), CPU arrays through an NCCL group, and
// that no collective fell back to the CPU. Several ranks: tests/distributed/ranks.cpp under the
// NCCL backend on a machine with several GPUs.
#include <gtest/gtest.h>

#include <cmath>

#include "gpu/gpu_checks.h"
#include "mica/backend/gpu_info.h"
#include "mica/distributed/distributed.h"
#include "mica/primitives/distributed.h"

namespace mica::test {
namespace {

namespace dist = mica::distributed;
using distributed::detail::ReduceOp;

dist::Group nccl_world() { return dist::init(true, "nccl"); }

array all_reduce_node(const array& x, const dist::Group& g, ReduceOp op, const Stream& s) {
  return array(x.shape(), x.dtype(), std::make_shared<AllReduce>(s, g, op), {x});
}
array all_gather_node(const array& x, const dist::Group& g, const Stream& s) {
  Shape shape = x.shape();
  if (shape.empty()) shape.push_back(g.size());
  else shape[0] *= g.size();
  return array(shape, x.dtype(), std::make_shared<AllGather>(s, g), {x});
}
array sum_scatter_node(const array& x, const dist::Group& g, const Stream& s) {
  Shape shape = x.shape();
  shape[0] /= g.size();
  return array(shape, x.dtype(), std::make_shared<ReduceScatter>(s, g), {x});
}

// Equal as values, NaN equal to NaN (a group of one reduces nothing).
testing::AssertionResult identical(const array& got, const array& want) {
  if (got.shape() != want.shape()) return testing::AssertionFailure() << "shape differs";
  if (got.dtype() != want.dtype()) return testing::AssertionFailure() << got.dtype() << " vs " << want.dtype();
  Device cpu(Device::cpu);
  if (!array_equal(got, want, is_inexact(want.dtype()), cpu).item<bool>()) {
    return testing::AssertionFailure() << want.dtype() << ": values differ";
  }
  return testing::AssertionSuccess();
}

// Random values with NaN and infinities among the floating ones.
array input(const Shape& shape, Dtype d, uint32_t seed) {
  array x = random_input(shape, d, -50, 50, seed);
  if (is_inexact(d) && d != complex64 && x.size() >= 3) {
    Device cpu(Device::cpu);
    array flat = reshape(x, {static_cast<int>(x.size())}, cpu);
    array special = astype(array({NAN, INFINITY, -INFINITY}), d, cpu);
    flat = slice_update(flat, special, {0}, {3}, cpu);
    x = reshape(flat, shape, cpu);
    eval(x);
  }
  return x;
}

TEST(DistributedGpu, NcclWorldOfOne) {
  MICA_REQUIRE_GPU();
  ASSERT_TRUE(dist::is_available("nccl"));
  ASSERT_TRUE(dist::is_available());
  dist::Group g = nccl_world();
  EXPECT_EQ(g.backend(), "nccl");
  EXPECT_EQ(g.size(), 1);
  EXPECT_EQ(g.rank(), 0);
  EXPECT_EQ(nccl_world().raw_group(), g.raw_group());  // initialized once
  // The ops return their input for a group of one.
  array x = array({1.0f, 2.0f});
  EXPECT_EQ(dist::all_sum(x, g).id(), x.id());
  dist::Group sub = g.split(0);
  EXPECT_EQ(sub.backend(), "nccl");
  EXPECT_EQ(sub.size(), 1);
  EXPECT_NE(sub.raw_group(), g.raw_group());
}

TEST(DistributedGpu, AllReduceEveryDtype) {
  MICA_REQUIRE_GPU();
  dist::Group g = nccl_world();
  Stream s = default_stream(Device(Device::gpu));
  size_t fallbacks = gpu::cpu_fallback_count();
  for (Dtype d : all_dtypes) {
    array x = input({37, 5}, d, 3);
    for (ReduceOp op : {ReduceOp::sum, ReduceOp::max, ReduceOp::min}) {
      EXPECT_TRUE(identical(all_reduce_node(x, g, op, s), x)) << d << " " << dist::detail::all_reduce_name(op);
      // A transposed input (made row-contiguous on the GPU first).
      array t = transpose(x, Device(Device::cpu));
      EXPECT_TRUE(identical(all_reduce_node(t, g, op, s), t)) << d << " transposed";
      // The output of a GPU op nobody else holds: reduced in its own buffer.
      array doubled = all_reduce_node(add(x, x, s), g, op, s);
      EXPECT_TRUE(identical(doubled, add(x, x, Device(Device::cpu)))) << d << " donated";
    }
    // 0-d and empty arrays.
    array one = astype(array(7), d);
    EXPECT_TRUE(identical(all_reduce_node(one, g, ReduceOp::sum, s), one)) << d;
    array empty = zeros({0, 3}, d);
    EXPECT_EQ(all_reduce_node(empty, g, ReduceOp::max, s).shape(), Shape({0, 3}));
  }
  EXPECT_EQ(gpu::cpu_fallback_count(), fallbacks);
}

TEST(DistributedGpu, AllGatherAndSumScatter) {
  MICA_REQUIRE_GPU();
  dist::Group g = nccl_world();
  Stream s = default_stream(Device(Device::gpu));
  size_t fallbacks = gpu::cpu_fallback_count();
  for (Dtype d : all_dtypes) {
    array x = input({6, 4}, d, 5);
    EXPECT_TRUE(identical(all_gather_node(x, g, s), x)) << d;
    array scalar = astype(array(3), d);
    array gathered = all_gather_node(scalar, g, s);
    EXPECT_EQ(gathered.shape(), Shape({1})) << d;
    EXPECT_TRUE(identical(reshape(gathered, {}, Device(Device::cpu)), scalar)) << d;
    EXPECT_TRUE(identical(sum_scatter_node(x, g, s), x)) << d;
    EXPECT_TRUE(identical(sum_scatter_node(transpose(x, Device(Device::cpu)), g, s), transpose(x, Device(Device::cpu))))
        << d;
  }
  EXPECT_EQ(gpu::cpu_fallback_count(), fallbacks);
}

TEST(DistributedGpu, CpuArraysThroughNccl) {
  MICA_REQUIRE_GPU();
  dist::Group g = nccl_world();
  Stream cpu = default_stream(Device(Device::cpu));
  for (Dtype d : {bool_, uint8, int32, int64, float16, bfloat16, float32, float64, complex64}) {
    array x = input({9, 2}, d, 7);
    EXPECT_TRUE(identical(all_reduce_node(x, g, ReduceOp::sum, cpu), x)) << d;
    EXPECT_TRUE(identical(all_gather_node(x, g, cpu), x)) << d;
    EXPECT_TRUE(identical(sum_scatter_node(x, g, cpu), x)) << d;
  }
  // What NCCL cannot reduce on CPU data is refused, not computed wrong.
  try {
    eval(all_reduce_node(array({1.5f, 2.0f}), g, ReduceOp::max, cpu));
    ADD_FAILURE() << "no error";
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()), "[all_max] expected a GPU array for float32 over an NCCL group, got a CPU array.");
  }
}

TEST(DistributedGpu, CollectivesInAGraph) {
  MICA_REQUIRE_GPU();
  dist::Group g = nccl_world();
  Stream s = default_stream(Device(Device::gpu));
  Device cpu(Device::cpu);
  // A sum over the group between GPU ops, and its gradient (the all_sum's vjp passes the
  // cotangent through).
  array w = random_input({64, 32}, float32, -1, 1, 11);
  auto f = [&](const array& a) {
    array h = all_reduce_node(matmul(a, w, s), g, ReduceOp::sum, s);
    return sum(multiply(h, h, s), false, s);
  };
  array x = random_input({8, 64}, float32, -1, 1, 12);
  auto [value, gx] = value_and_grad(f)(x);
  array h = matmul(x, w, cpu);
  EXPECT_TRUE(same_values(value, sum(multiply(h, h, cpu), false, cpu), 1e-4, 1e-4));
  EXPECT_TRUE(same_values(gx, matmul(multiply(h, array(2.0f), cpu), transpose(w, cpu), cpu), 1e-4, 1e-4));
}

}  // namespace
}  // namespace mica::test
