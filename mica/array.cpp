#include "mica/array.h"

#include <limits>
#include <stdexcept>

#include "mica/ops.h"
#include "mica/primitives/primitive.h"
#include "mica/transforms.h"
#include "mica/types/cast.h"

namespace mica {

namespace detail {
template <typename T>
void convert_into(const T* src, size_t n, Dtype dtype, void* dst) {
  dispatch_dtype(dtype, [&](auto tag) {
    using O = typename decltype(tag)::type;
    auto* o = static_cast<O*>(dst);
    for (size_t i = 0; i < n; ++i) o[i] = cast_to<O>(src[i]);
  });
}
template <typename T>
void convert_from(Dtype dtype, const void* src, T* out) {
  dispatch_dtype(dtype, [&](auto tag) {
    using I = typename decltype(tag)::type;
    *out = cast_to<T>(*static_cast<const I*>(src));
  });
}
#define MICA_INSTANTIATE(T)                                                   \
  template void convert_into<T>(const T*, size_t, Dtype, void*);             \
  template void convert_from<T>(Dtype, const void*, T*);
MICA_INSTANTIATE(bool)
MICA_INSTANTIATE(uint8_t)
MICA_INSTANTIATE(uint16_t)
MICA_INSTANTIATE(uint32_t)
MICA_INSTANTIATE(uint64_t)
MICA_INSTANTIATE(int8_t)
MICA_INSTANTIATE(int16_t)
MICA_INSTANTIATE(int32_t)
MICA_INSTANTIATE(int64_t)
MICA_INSTANTIATE(float16_t)
MICA_INSTANTIATE(bfloat16_t)
MICA_INSTANTIATE(float)
MICA_INSTANTIATE(double)
MICA_INSTANTIATE(complex64_t)
MICA_INSTANTIATE(long long)
MICA_INSTANTIATE(unsigned long long)
#undef MICA_INSTANTIATE
}  // namespace detail

Strides row_strides(const Shape& shape) {
  Strides s(shape.size(), 1);
  for (int i = static_cast<int>(shape.size()) - 2; i >= 0; --i) {
    // Plain products, as MLX's: an empty array's strides are zero outside its last zero
    // dimension. Only an empty array's strides can pass int64 (its other dimensions may be
    // huge); they address nothing, so they saturate.
    if (__builtin_mul_overflow(s[i + 1], static_cast<int64_t>(shape[i + 1]), &s[i])) s[i] = std::numeric_limits<int64_t>::max();
  }
  return s;
}

namespace {
size_t shape_size(const Shape& shape) {
  size_t n = 1;
  bool overflow = false, zero = false;
  for (auto d : shape) {
    if (d < 0) throw std::invalid_argument("[array] expected non-negative dimensions, got " + std::to_string(d) + ".");
    zero = zero || d == 0;
    overflow = overflow || __builtin_mul_overflow(n, static_cast<size_t>(d), &n);
  }
  // A size past 2^63 would wrap to a wrong (often zero) count of elements; MLX reports it so.
  if (zero) return 0;
  if (overflow || n > static_cast<size_t>(std::numeric_limits<int64_t>::max()))
    throw std::overflow_error("[array] expected a shape with at most 2^63 - 1 elements, got " +
                              std::to_string(shape.size()) + " dimensions whose product overflows.");
  return n;
}
}  // namespace

namespace detail {
thread_local int g_tracing_depth = 0;
}

array::ArrayDesc::ArrayDesc(Shape s, Dtype d) : shape(std::move(s)), dtype(d) {
  size = shape_size(shape);
  strides = row_strides(shape);
}
array::ArrayDesc::ArrayDesc(Shape s, Dtype d, std::shared_ptr<Primitive> p, std::vector<array> in)
    : shape(std::move(s)), dtype(d), primitive(std::move(p)), inputs(std::move(in)) {
  size = shape_size(shape);
  strides = row_strides(shape);
  if (detail::in_tracing()) {
    for (auto& x : inputs) is_tracer |= x.is_tracer();
  }
}

// Releasing a long unevaluated chain through nested shared_ptr destructors would recurse once
// per node; instead, inputs that would die with this node are moved to a local stack.
array::ArrayDesc::~ArrayDesc() {
  if (inputs.empty()) return;
  std::vector<std::shared_ptr<ArrayDesc>> pending;
  auto take = [&pending](std::vector<array>& v) {
    for (auto& a : v) {
      if (a.desc_ && a.desc_.use_count() == 1) pending.push_back(std::move(a.desc_));
    }
    v.clear();
  };
  take(inputs);
  while (!pending.empty()) {
    auto d = std::move(pending.back());
    pending.pop_back();
    if (d.use_count() == 1) {
      // The node's links go with it (the others' handles pointed back at it), cleared before any
      // handle in them is released.
      std::vector<array> links = std::move(d->siblings);
      d->siblings.clear();
      std::vector<std::vector<array>> released;
      for (auto& s : links) {
        released.push_back(std::move(s.desc_->siblings));
        s.desc_->siblings.clear();
      }
      take(d->inputs);
    }
  }
}

array::array(allocator::Buffer data, Shape shape, Dtype dtype, Deleter deleter)
    : desc_(std::make_shared<ArrayDesc>(std::move(shape), dtype)) {
  set_data(data, std::move(deleter));
}

array::array(void* data, Shape shape, Dtype dtype, const std::function<void(void*)>& deleter)
    : desc_(std::make_shared<ArrayDesc>(std::move(shape), dtype)) {
  set_data(allocator::Buffer{data, nbytes()}, [deleter](allocator::Buffer b) {
    if (deleter) deleter(b.ptr);
  });
}

array array::ArrayIterator::operator*() const {
  Shape start(arr_->ndim(), 0), stop = arr_->shape();
  start[0] = idx_;
  stop[0] = idx_ + 1;
  return squeeze(slice(*arr_, start, stop), 0);
}

array::ArrayIterator array::begin() const {
  if (ndim() == 0) throw std::invalid_argument("[array::begin] expected an array with at least one dimension, got a 0-d array.");
  return ArrayIterator(*this, 0);
}
array::ArrayIterator array::end() const {
  if (ndim() == 0) throw std::invalid_argument("[array::end] expected an array with at least one dimension, got a 0-d array.");
  return ArrayIterator(*this, shape(0));
}

array::array(Shape shape, Dtype dtype, std::shared_ptr<Primitive> primitive, std::vector<array> inputs)
    : desc_(std::make_shared<ArrayDesc>(std::move(shape), dtype, std::move(primitive), std::move(inputs))) {}

array::array(double val, Dtype dtype) : desc_(std::make_shared<ArrayDesc>(Shape{}, dtype)) {
  set_scalar_data();
  detail::convert_into<double>(&val, 1, dtype, host_ptr());
}
array::array(std::initializer_list<float> data) : array(data.begin(), Shape{static_cast<int32_t>(data.size())}, float32) {}
array::array(std::initializer_list<int> data, Dtype dtype)
    : array(data.begin(), Shape{static_cast<int32_t>(data.size())}, dtype) {}
std::vector<array> array::make_arrays(std::vector<Shape> shapes, const std::vector<Dtype>& dtypes,
                                      const std::shared_ptr<Primitive>& primitive,
                                      const std::vector<array>& inputs) {
  std::vector<array> outputs;
  for (size_t i = 0; i < shapes.size(); ++i) {
    outputs.emplace_back(std::move(shapes[i]), dtypes[i], primitive, i == 0 ? inputs : std::vector<array>{});
  }
  if (outputs.size() < 2) return outputs;
  for (size_t i = 1; i < outputs.size(); ++i) {
    outputs[i].desc_->siblings = {outputs[0]};
    outputs[i].desc_->position = static_cast<uint32_t>(i);
    outputs[i].desc_->is_tracer = outputs[0].desc_->is_tracer;
  }
  outputs[0].desc_->siblings.assign(outputs.begin() + 1, outputs.end());
  return outputs;
}

// The outputs of a node link to each other (see ArrayDesc::siblings); when only those links
// remain besides this handle, they are broken so the node can go.
array::~array() {
  if (!desc_ || desc_->siblings.empty()) return;
  const std::shared_ptr<ArrayDesc>& first = desc_->position == 0 ? desc_ : desc_->siblings[0].desc_;
  const long others = static_cast<long>(first->siblings.size());
  // The first output is held by each other's link, each other by the first's list; this handle
  // adds one to its own.
  if (first.use_count() != others + (first == desc_ ? 1 : 0)) return;
  for (const auto& s : first->siblings) {
    if (s.desc_.use_count() != 1 + (s.desc_ == desc_ ? 1 : 0)) return;
  }
  std::shared_ptr<ArrayDesc> keep = first;
  std::vector<array> links = std::move(keep->siblings);
  keep->siblings.clear();
  std::vector<std::vector<array>> released;  // let go once every link is cleared
  for (auto& s : links) {
    released.push_back(std::move(s.desc_->siblings));
    s.desc_->siblings.clear();
  }
}

std::vector<array> array::siblings() const {
  if (desc_->siblings.empty()) return {};
  std::vector<array> out = outputs();
  out.erase(out.begin() + desc_->position);
  return out;
}

int array::shape(int dim) const {
  int nd = static_cast<int>(ndim());
  if (dim < -nd || dim >= nd) {
    throw std::out_of_range("[shape] expected a dimension in [" + std::to_string(-nd) + ", " + std::to_string(nd) +
                            "), got " + std::to_string(dim) + ".");
  }
  return desc_->shape[dim < 0 ? dim + nd : dim];
}
int64_t array::strides(int dim) const {
  int nd = static_cast<int>(ndim());
  if (dim < -nd || dim >= nd) {
    throw std::out_of_range("[strides] expected a dimension in [" + std::to_string(-nd) + ", " + std::to_string(nd) +
                            "), got " + std::to_string(dim) + ".");
  }
  return desc_->strides[dim < 0 ? dim + nd : dim];
}

void array::eval() {
  if (!is_available()) mica::eval({*this});
}

std::vector<array> array::outputs() const {
  if (desc_->siblings.empty()) return {*this};
  const array& first = desc_->position == 0 ? *this : desc_->siblings[0];
  std::vector<array> out;
  out.reserve(first.desc_->siblings.size() + 1);
  out.push_back(first);
  out.insert(out.end(), first.desc_->siblings.begin(), first.desc_->siblings.end());
  return out;
}

void array::detach() {
  // Every list of the node is emptied before any handle in them is released: releasing one may
  // run ~array's link check or free inputs, which must see the node consistent (no list of it
  // half cleared, none being walked).
  if (desc_->siblings.empty()) {
    desc_->primitive = nullptr;
    std::vector<array> inputs = std::move(desc_->inputs);
    desc_->inputs.clear();
    return;
  }
  std::vector<array> all = outputs();
  std::vector<std::vector<array>> released;
  for (auto& o : all) {
    o.desc_->primitive = nullptr;
    released.push_back(std::move(o.desc_->inputs));
    o.desc_->inputs.clear();
    released.push_back(std::move(o.desc_->siblings));
    o.desc_->siblings.clear();
  }
}

ArrayData::~ArrayData() {
  if (gpu.ptr) detail::release_gpu(*this);
  if (d && buffer.ptr) d(buffer);
}

namespace detail {
thread_local bool g_running_gpu_kernel = false;
}

void array::set_data(allocator::Buffer buffer, Deleter d) {
  desc_->data = std::make_shared<Data>(buffer, std::move(d));
  desc_->byte_offset = 0;
  desc_->data_size = desc_->size;
  desc_->strides = row_strides(desc_->shape);
  desc_->flags.contiguous = true;
  desc_->flags.row_contiguous = true;
  bool col = true;
  int64_t expect = 1;
  // (An empty array is every kind of contiguous; its dimensions' product may pass int64.)
  for (size_t i = 0; i < ndim() && desc_->size > 1; ++i) {
    if (desc_->shape[i] != 1 && desc_->strides[i] != expect) col = false;
    expect *= desc_->shape[i];
  }
  desc_->flags.col_contiguous = col || desc_->size <= 1;
  desc_->status = available;
}

void array::set_scalar_data() {
  desc_->data = std::make_shared<Data>(static_cast<size_t>(itemsize()));
  desc_->byte_offset = 0;
  desc_->data_size = 1;
  desc_->flags.contiguous = desc_->flags.row_contiguous = desc_->flags.col_contiguous = true;
  desc_->status = available;
}

void array::set_data(allocator::Buffer buffer, size_t data_size, Strides strides, Flags flags, Deleter d) {
  desc_->data = std::make_shared<Data>(buffer, std::move(d));
  desc_->byte_offset = 0;
  desc_->data_size = data_size;
  desc_->strides = std::move(strides);
  desc_->flags = flags;
  desc_->status = available;
}

void array::set_gpu_data(allocator::Buffer gpu_buffer, int stream, size_t data_size, Strides strides, Flags flags) {
  desc_->data = std::make_shared<Data>(gpu_buffer, stream);
  desc_->byte_offset = 0;
  desc_->data_size = data_size;
  desc_->strides = std::move(strides);
  desc_->flags = flags;
  desc_->status = available;
}

void array::copy_shared_buffer(const array& other, const Strides& strides, Flags flags, size_t data_size,
                               int64_t offset) {
  desc_->data = other.desc_->data;
  desc_->byte_offset = other.desc_->byte_offset + offset * static_cast<int64_t>(other.itemsize());
  desc_->data_size = data_size;
  desc_->strides = strides;
  desc_->flags = flags;
  desc_->status = available;
}
void array::copy_shared_buffer(const array& other) {
  copy_shared_buffer(other, other.strides(), other.flags(), other.data_size());
}
void array::move_shared_buffer(array other, const Strides& strides, Flags flags, size_t data_size, int64_t offset) {
  desc_->data = std::move(other.desc_->data);
  desc_->byte_offset = other.desc_->byte_offset + offset * static_cast<int64_t>(other.itemsize());
  desc_->data_size = data_size;
  desc_->strides = strides;
  desc_->flags = flags;
  desc_->status = available;
}
void array::move_shared_buffer(array other) {
  auto strides = other.strides();
  auto flags = other.flags();
  auto ds = other.data_size();
  move_shared_buffer(std::move(other), strides, flags, ds);
}

}  // namespace mica
