// CPU kernels of the collectives: make the input row-contiguous, give the output a buffer and
// hand both to the group's backend (mica/distributed/backend.h), which moves the bytes. An
// all-reduce whose input nobody else holds runs in place in the input's buffer.
#include "mica/allocator.h"
#include "mica/backend/cpu/copy.h"
#include "mica/primitives/distributed.h"

namespace mica {

void AllReduce::eval_cpu(const std::vector<array>& inputs, array& out) {
  // x: any shape and strides; out: x's shape, row-major.
  const array& x = inputs[0];
  if (x.flags().row_contiguous && x.is_donatable() && x.data_size() == x.size()) {
    out.copy_shared_buffer(x);
  } else if (x.flags().row_contiguous && x.data_size() == x.size()) {
    out.set_data(allocator::malloc(out.nbytes()));
    group_.raw_group()->all_reduce(x, out, type_);
    return;
  } else {
    cpu::copy_to_row_contiguous(x, out);
  }
  group_.raw_group()->all_reduce(out, out, type_);
}

void AllGather::eval_cpu(const std::vector<array>& inputs, array& out) {
  // x: (n, ...) any strides; out: (size * n, ...) row-major.
  array x = cpu::ensure_row_contiguous(inputs[0]);
  out.set_data(allocator::malloc(out.nbytes()));
  group_.raw_group()->all_gather(x, out);
}

void ReduceScatter::eval_cpu(const std::vector<array>& inputs, array& out) {
  // x: (n, ...) any strides, n divisible by size; out: (n / size, ...) row-major.
  array x = cpu::ensure_row_contiguous(inputs[0]);
  out.set_data(allocator::malloc(out.nbytes()));
  group_.raw_group()->reduce_scatter(x, out, distributed::detail::ReduceOp::sum);
}

void Send::eval_cpu(const std::vector<array>& inputs, array& out) {
  // x: any strides; the output is x itself.
  array x = cpu::ensure_row_contiguous(inputs[0]);
  group_.raw_group()->send(x, dst_);
  out.copy_shared_buffer(inputs[0]);
}

void Recv::eval_cpu(const std::vector<array>&, array& out) {
  // out: the given shape, row-major.
  out.set_data(allocator::malloc(out.nbytes()));
  group_.raw_group()->recv(out, src_);
}

}  // namespace mica
