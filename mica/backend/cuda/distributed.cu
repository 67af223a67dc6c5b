// GPU kernels of the collectives (backend/cpu/distributed.cpp's twin). With a group whose backend
// moves GPU memory (NCCL) the transfer is enqueued on the primitive's CUDA stream and the host
// never waits; with another backend (MPI) the primitive runs its CPU kernel on the host copies.
// Reductions the backend cannot do itself with mica's rules (NCCL: 16-bit integers, floating
// max/min, which must propagate NaN and order complex numbers as mica::maximum does) all-gather
// the inputs and reduce the `size` blocks here.
#include "mica/backend/cuda/copy.h"
#include "mica/backend/cuda/device/elementwise.cuh"
#include "mica/backend/cuda/device/reduce_ops.cuh"
#include "mica/backend/cuda/device/types.cuh"
#include "mica/backend/cuda/utils.h"
#include "mica/primitives/distributed.h"

namespace mica {

namespace {

using distributed::detail::GroupImpl;
using distributed::detail::ReduceOp;

// out[i] = op over r of gathered[r * stride + offset + i], i < n.
template <typename T, typename Op>
__global__ void reduce_blocks(const T* __restrict__ gathered, T* __restrict__ out, int64_t n, int ranks,
                              int64_t stride, int64_t offset, Op op) {
  using C = typename Op::A;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    C acc = static_cast<C>(gathered[offset + i]);
    for (int r = 1; r < ranks; ++r) acc = op(acc, static_cast<C>(gathered[r * stride + offset + i]));
    out[i] = static_cast<T>(acc);
  }
}

// out (n elements) = the reduction over the group of rows [offset, offset + n) of every rank's
// `in` (in_n elements): all-gather, then reduce the blocks.
void gather_reduce(GroupImpl& g, const void* in, void* out, const Shape& shape, int64_t in_n, int64_t n,
                   int64_t offset, Dtype dtype, ReduceOp op, const Stream& s) {
  int ranks = g.size();
  cu::Scratch gathered(static_cast<size_t>(in_n) * ranks * dtype.size, s);
  cudaStream_t cs = cu::stream(s);
  g.all_gather_gpu(in, gathered.get(), shape, dtype, cs);
  if (n == 0) return;
  cu::dispatch(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using C = cu::compute_t<T>;
    auto launch = [&](auto f) {
      reduce_blocks<<<cu::grid_for(n), cu::kBlock, 0, cs>>>(static_cast<const T*>(gathered.get()), static_cast<T*>(out),
                                                            n, ranks, in_n, offset, f);
    };
    switch (op) {
      case ReduceOp::sum:
        if constexpr (std::is_same_v<T, bool>) launch(cu::MaxOp<bool>{});  // a bool sum is a logical or
        else launch(cu::SumOp<C>{});
        break;
      case ReduceOp::max: launch(cu::MaxOp<C>{}); break;
      case ReduceOp::min: launch(cu::MinOp<C>{}); break;
    }
  });
  cu::check_launch(distributed::detail::all_reduce_name(op));
}

// A group whose backend moves no GPU memory (MPI): the CPU kernel runs on the host copies.
// True when it did.
bool ran_on_host(Primitive& p, const distributed::Group& g, const std::vector<array>& inputs, array& out) {
  if (g.raw_group()->gpu()) return false;
  std::vector<array> outs{out};
  cu::cpu_fallback(p, inputs, outs);
  return true;
}

}  // namespace

void AllReduce::eval_gpu(const std::vector<array>& inputs, array& out) {
  // x: any shape and strides; out: x's shape, row-major (x's buffer when x is donated).
  if (ran_on_host(*this, group_, inputs, out)) return;
  GroupImpl& g = *group_.raw_group();
  const Stream& s = stream();
  const array& in = inputs[0];
  // An input nobody else holds is reduced in place (asked before x adds a reference).
  bool in_place = g.reduces(in.dtype(), type_) && in.flags().row_contiguous && in.data_size() == in.size() &&
                  cu::donatable(in, s);
  array x = cu::ensure_row_contiguous(in, s);
  if (in_place) out.copy_shared_buffer(in);
  else cu::alloc_output(out, s);
  if (g.reduces(x.dtype(), type_)) {
    g.all_reduce_gpu(cu::ptr(x), cu::ptr(out), x.shape(), x.dtype(), type_, cu::stream(s));
  } else {
    int64_t n = static_cast<int64_t>(x.size());
    gather_reduce(g, cu::ptr(x), cu::ptr(out), x.shape(), n, n, 0, x.dtype(), type_, s);
  }
}

void AllGather::eval_gpu(const std::vector<array>& inputs, array& out) {
  // x: (n, ...) any strides; out: (size * n, ...) row-major.
  if (ran_on_host(*this, group_, inputs, out)) return;
  const Stream& s = stream();
  array x = cu::ensure_row_contiguous(inputs[0], s);
  cu::alloc_output(out, s);
  group_.raw_group()->all_gather_gpu(cu::ptr(x), cu::ptr(out), x.shape(), x.dtype(), cu::stream(s));
}

void ReduceScatter::eval_gpu(const std::vector<array>& inputs, array& out) {
  // x: (n, ...) any strides, n divisible by size; out: (n / size, ...) row-major.
  if (ran_on_host(*this, group_, inputs, out)) return;
  GroupImpl& g = *group_.raw_group();
  const Stream& s = stream();
  array x = cu::ensure_row_contiguous(inputs[0], s);
  cu::alloc_output(out, s);
  if (g.reduces(x.dtype(), ReduceOp::sum)) {
    g.reduce_scatter_gpu(cu::ptr(x), cu::ptr(out), x.shape(), x.dtype(), ReduceOp::sum, cu::stream(s));
  } else {
    int64_t n = static_cast<int64_t>(out.size());
    gather_reduce(g, cu::ptr(x), cu::ptr(out), x.shape(), static_cast<int64_t>(x.size()), n, g.rank() * n, x.dtype(),
                  ReduceOp::sum, s);
  }
}

void Send::eval_gpu(const std::vector<array>& inputs, array& out) {
  // x: any strides; the output is x itself.
  if (ran_on_host(*this, group_, inputs, out)) return;
  const Stream& s = stream();
  array x = cu::ensure_row_contiguous(inputs[0], s);
  group_.raw_group()->send_gpu(cu::ptr(x), x.shape(), x.dtype(), dst_, cu::stream(s));
  out.copy_shared_buffer(inputs[0]);
}

void Recv::eval_gpu(const std::vector<array>& inputs, array& out) {
  // out: the given shape, row-major.
  if (ran_on_host(*this, group_, inputs, out)) return;
  const Stream& s = stream();
  cu::alloc_output(out, s);
  group_.raw_group()->recv_gpu(cu::ptr(out), out.shape(), out.dtype(), src_, cu::stream(s));
}

}  // namespace mica
