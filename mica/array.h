// array: a handle to a node of the lazy graph (shape, dtype, primitive, inputs), holding its
// buffer once evaluated.
#pragma once
#include <algorithm>
#include <atomic>
#include <complex>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "mica/allocator.h"
#include "mica/device.h"
#include "mica/dtype.h"

namespace mica {

using Shape = std::vector<int32_t>;
using Strides = std::vector<int64_t>;
using Deleter = std::function<void(allocator::Buffer)>;

class Primitive;
class array;
/** A buffer and how to release it; views of an array share its Data. The elements live in
 * host memory, in GPU memory, or in both (copies made on demand: data<T>() brings them to
 * the host, a GPU kernel's inputs go to the GPU); `where` says which copies are current. */
struct ArrayData {
  enum : uint8_t { kHost = 1, kGpu = 2 };
  allocator::Buffer buffer;  // host copy (ptr null while only the GPU copy exists)
  Deleter d;                 // releases `buffer`
  allocator::Buffer gpu;     // GPU copy (ptr null when none), released by the CUDA backend
  int gpu_stream = -1;       // the stream whose work wrote the GPU copy
  uint8_t where = kHost;
  bool gpu_cross_stream = false;  // read on another stream: its release waits for every stream
  // Scalars keep their element here: one allocation fewer per scalar (graph overhead).
  alignas(16) unsigned char small[16];
  ArrayData(allocator::Buffer b, Deleter d) : buffer(b), d(std::move(d)) {}
  explicit ArrayData(size_t nbytes) : buffer{small, nbytes} {}
  /** GPU-only data (the CUDA backend's outputs). */
  ArrayData(allocator::Buffer gpu_buffer, int stream) : gpu(gpu_buffer), gpu_stream(stream), where(kGpu) {}
  ArrayData(const ArrayData&) = delete;
  ~ArrayData();
};

namespace detail {
// The dtype a C++ element type gives when none is asked for: its own, except double, which
// gives float32 as in MLX (float64 runs on the CPU only; ask for it).
template <typename T>
Dtype default_dtype() {
  if constexpr (std::is_same_v<T, double>) return float32;
  else return TypeToDtype<T>();
}
template <typename T>
struct Nested;
// Writes `n` values of type T converted to `dtype` into `dst`.
template <typename T>
void convert_into(const T* src, size_t n, Dtype dtype, void* dst);
// Reads one element of `dtype` at `src` as T.
template <typename T>
void convert_from(Dtype dtype, const void* src, T* out);

// The CUDA backend (backend/no_cuda without it): copy GPU-only data to the host (waiting for
// the work that writes it), release a GPU copy, and whether this thread runs a GPU kernel.
void ensure_host(ArrayData& d);
void release_gpu(ArrayData& d);
extern thread_local bool g_running_gpu_kernel;

// How many transforms (vjp, jvp, vmap) are tracing on this thread. While one is, evaluation
// keeps the graph of tracer nodes so the transform can still walk it.
extern thread_local int g_tracing_depth;
inline bool in_tracing() { return g_tracing_depth > 0; }
/** Marks the current thread as tracing for its lifetime. */
struct TracingScope {
  TracingScope() { ++g_tracing_depth; }
  ~TracingScope() { --g_tracing_depth; }
  TracingScope(const TracingScope&) = delete;
  TracingScope& operator=(const TracingScope&) = delete;
};
}  // namespace detail

class array {
 public:
  /** A 0-d array holding `val`, converted to `dtype`. */
  template <typename T>
    requires(std::is_arithmetic_v<T> || is_half_v<T> || is_complex_v<T>)
  explicit array(T val, Dtype dtype = TypeToDtype<T>());
  /** A 0-d array from a double scalar: float32, as MLX. */
  explicit array(double val, Dtype dtype = float32);
  /** A 1-d array from a list. */
  template <typename T>
    requires(std::is_arithmetic_v<T> || is_half_v<T> || is_complex_v<T>)
  array(std::initializer_list<T> data, Dtype dtype = detail::default_dtype<T>());
  array(std::initializer_list<float> data);
  /** Also `array({}, dtype)`: an empty 1-d array. */
  array(std::initializer_list<int> data, Dtype dtype);
  /** An array with `shape` from `data` (a list), converted to `dtype`. */
  template <typename T>
    requires(std::is_arithmetic_v<T> || is_half_v<T> || is_complex_v<T>)
  array(std::initializer_list<T> data, Shape shape, Dtype dtype = detail::default_dtype<T>());
  /** A 2-d array from nested lists (rows of equal length), as {{1, 2}, {3, 4}}. */
  template <typename T>
    requires(std::is_arithmetic_v<T> || is_half_v<T> || is_complex_v<T>)
  array(std::initializer_list<std::initializer_list<T>> data, Dtype dtype = detail::default_dtype<T>());
  /** A 3-d array from lists nested three deep. */
  template <typename T>
    requires(std::is_arithmetic_v<T> || is_half_v<T> || is_complex_v<T>)
  array(std::initializer_list<std::initializer_list<std::initializer_list<T>>> data,
        Dtype dtype = detail::default_dtype<T>());
  /** An array with `shape` reading shape-product elements from iterator `data` (any input
   * iterator: pointers, std::vector<bool>'s proxies; a range of doubles gives float32, as MLX). */
  template <typename It, typename V = typename std::iterator_traits<It>::value_type>
    requires(!std::is_void_v<V>)
  array(It data, Shape shape, Dtype dtype = detail::default_dtype<V>());
  /** An array over an existing buffer; `deleter` releases it. */
  array(allocator::Buffer data, Shape shape, Dtype dtype, Deleter deleter = allocator::free);
  /** An array over external memory, without a copy (MLX's constructor): `data` holds
   * shape-product elements of `dtype` in row-major order and stays valid until `deleter(data)`,
   * called when the last array using it goes away. */
  array(void* data, Shape shape, Dtype dtype, const std::function<void(void*)>& deleter);
  /** A lazy node: computed by `primitive` from `inputs`. */
  array(Shape shape, Dtype dtype, std::shared_ptr<Primitive> primitive, std::vector<array> inputs);
  /** Several lazy nodes sharing one primitive (a multi-output op). */
  static std::vector<array> make_arrays(std::vector<Shape> shapes, const std::vector<Dtype>& dtypes,
                                        const std::shared_ptr<Primitive>& primitive,
                                        const std::vector<array>& inputs);

  array(const array&) = default;
  array(array&&) = default;
  array& operator=(const array&) & = default;
  array& operator=(array&&) & = default;
  ~array();

  Dtype dtype() const { return desc_->dtype; }
  const Shape& shape() const { return desc_->shape; }
  /** Size of dimension `dim` (negative counts from the end). */
  int shape(int dim) const;
  const Strides& strides() const { return desc_->strides; }
  int64_t strides(int dim) const;
  size_t size() const { return desc_->size; }
  size_t ndim() const { return desc_->shape.size(); }
  size_t itemsize() const { return desc_->dtype.size; }
  size_t nbytes() const { return size() * itemsize(); }

  /** Evaluates the array (and what it depends on). */
  void eval();
  /** The single element as T; evaluates. */
  template <typename T>
  T item();
  template <typename T>
  T item() const;
  /** Pointer to the first element; call eval() first. */
  template <typename T>
  T* data() { return static_cast<T*>(host_ptr()); }
  template <typename T>
  const T* data() const { return static_cast<const T*>(host_ptr()); }

  enum Status { unscheduled, scheduled, available };
  Status status() const { return desc_->status.load(std::memory_order_acquire); }
  bool is_available() const { return status() == available; }
  bool is_evaluated() const { return status() == available; }
  void set_status(Status s) const { desc_->status.store(s, std::memory_order_release); }

  struct Flags {
    bool contiguous : 1;      // elements fill data_size slots without gaps (any order)
    bool row_contiguous : 1;  // C order, no broadcasting
    bool col_contiguous : 1;  // Fortran order, no broadcasting
  };
  const Flags& flags() const { return desc_->flags; }
  /** Number of elements the buffer region spans (<= size for broadcasts). */
  size_t data_size() const { return desc_->data_size; }
  size_t buffer_size() const { return desc_->data->buffer.size; }
  allocator::Buffer& buffer() { return desc_->data->buffer; }
  const allocator::Buffer& buffer() const { return desc_->data->buffer; }
  int64_t offset() const { return desc_->byte_offset / static_cast<int64_t>(itemsize()); }  // in elements
  /** Byte offset of the first element into the buffer (the same on the host and the GPU). */
  int64_t byte_offset() const { return desc_->byte_offset; }
  /** The data record this array's elements live in, shared by its views (MLX's name). */
  const std::shared_ptr<ArrayData>& data_shared_ptr() const { return desc_->data; }

  /** Iteration over the first axis, as MLX: each step is a lazy (ndim - 1)-d slice. */
  class ArrayIterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = array;
    using difference_type = std::ptrdiff_t;
    ArrayIterator(const array& a, int index) : arr_(&a), idx_(index) {}
    array operator*() const;
    ArrayIterator& operator++() {
      ++idx_;
      return *this;
    }
    ArrayIterator operator++(int) {
      ArrayIterator t = *this;
      ++idx_;
      return t;
    }
    bool operator==(const ArrayIterator& o) const { return arr_ == o.arr_ && idx_ == o.idx_; }
    bool operator!=(const ArrayIterator& o) const { return !(*this == o); }

   private:
    const array* arr_;
    int idx_;
  };
  /** Throws std::invalid_argument for a 0-d array. */
  ArrayIterator begin() const;
  ArrayIterator end() const;

  bool has_primitive() const { return desc_->primitive != nullptr; }
  Primitive& primitive() const { return *desc_->primitive; }
  const std::shared_ptr<Primitive>& primitive_ptr() const { return desc_->primitive; }
  /** The node's inputs (one list for all outputs of a multi-output node). */
  std::vector<array>& inputs() { return node_desc().inputs; }
  const std::vector<array>& inputs() const { return node_desc().inputs; }
  /** The node's other outputs, in output order (empty for a single-output node). */
  std::vector<array> siblings() const;
  /** True if the node has other outputs. */
  bool has_siblings() const { return !desc_->siblings.empty(); }
  /** This array and its siblings, in output order. */
  std::vector<array> outputs() const;
  int position() const { return desc_->position; }
  /** Drops the primitive and inputs (after evaluation). */
  void detach();
  /** A unique id for the node. */
  uintptr_t id() const { return reinterpret_cast<uintptr_t>(desc_.get()); }
  bool is_same(const array& o) const { return desc_ == o.desc_; }
  /** True if nobody else references the node or its buffer, and its only current copy is on
   * the side (host or GPU) of the kernel asking, which may then write into it. */
  bool is_donatable() const {
    return desc_.use_count() == 1 && desc_->data && desc_->data.use_count() == 1 &&
           desc_->data->where == (detail::g_running_gpu_kernel ? ArrayData::kGpu : ArrayData::kHost);
  }
  /** True while a transform is tracing through this node (see detail::TracingScope). */
  bool is_tracer() const { return desc_->is_tracer && detail::in_tracing(); }
  void set_tracer(bool t) { desc_->is_tracer = t; }

  // Used by kernels to fill outputs.
  /** Gives the array a fresh row-contiguous buffer. */
  void set_data(allocator::Buffer buffer, Deleter d = allocator::free);
  /** Gives the array a buffer with explicit strides and flags. */
  void set_data(allocator::Buffer buffer, size_t data_size, Strides strides, Flags flags,
                Deleter d = allocator::free);
  /** Makes this array a view of `other`'s buffer. */
  void copy_shared_buffer(const array& other, const Strides& strides, Flags flags, size_t data_size,
                          int64_t offset = 0);
  void copy_shared_buffer(const array& other);
  /** Takes over `other`'s buffer (donation). */
  void move_shared_buffer(array other, const Strides& strides, Flags flags, size_t data_size,
                          int64_t offset = 0);
  void move_shared_buffer(array other);
  /** Epoch mark used by graph walks to avoid revisiting nodes. */
  uint64_t& mark() const { return desc_->mark; }

  using Data = ArrayData;
  /** The buffer record (null before evaluation); the CUDA backend reads and moves copies. */
  Data* data_record() const { return desc_->data.get(); }
  /** Gives the array GPU-only data with explicit strides and flags (the CUDA backend's outputs). */
  void set_gpu_data(allocator::Buffer gpu_buffer, int stream, size_t data_size, Strides strides, Flags flags);

 private:
  struct ArrayDesc {
    Shape shape;
    Strides strides;
    size_t size = 0;
    Dtype dtype;
    std::shared_ptr<Primitive> primitive;
    // Written by the thread that evaluates (async_eval's worker) while others build graphs.
    std::atomic<Status> status{unscheduled};
    bool is_tracer = false;
    uint32_t position = 0;
    uint64_t mark = 0;
    std::shared_ptr<Data> data;
    int64_t byte_offset = 0;
    size_t data_size = 0;
    Flags flags{};
    std::vector<array> inputs;
    // A multi-output node's links: the first output holds the others, each other output holds
    // the first (so a node of n outputs keeps 2 (n - 1) handles, not n (n - 1)). Empty once
    // the node is detached.
    std::vector<array> siblings;

    ArrayDesc(Shape shape, Dtype dtype);
    ArrayDesc(Shape shape, Dtype dtype, std::shared_ptr<Primitive> p, std::vector<array> inputs);
    ~ArrayDesc();
  };
  // The outputs of a multi-output node share one input list, held by the first output (the
  // others reach it through their link until the node is detached).
  ArrayDesc& node_desc() const {
    return desc_->position == 0 || desc_->siblings.empty() ? *desc_ : *desc_->siblings[0].desc_;
  }
  template <typename It>
  void init(It src);
  template <typename T>
  array(detail::Nested<T>&& n, Dtype dtype);
  /** Gives a 0-d array its inline buffer (see Data::small). */
  void set_scalar_data();
  /** Host address of the first element: brings the data to the host if only the GPU has it. */
  void* host_ptr() const {
    Data* d = desc_->data.get();
    if (!d) return nullptr;
    if (!(d->where & Data::kHost)) detail::ensure_host(*d);
    return static_cast<char*>(d->buffer.ptr) + desc_->byte_offset;
  }
  std::shared_ptr<ArrayDesc> desc_;
};

/** Strides of a row-major array of this shape. */
Strides row_strides(const Shape& shape);

template <typename It>
void array::init(It src) {
  using T = typename std::iterator_traits<It>::value_type;
  auto tmp = std::make_unique<T[]>(size());
  for (size_t i = 0; i < size(); ++i, ++src) tmp[i] = *src;
  set_data(allocator::malloc(nbytes()));
  detail::convert_into<T>(tmp.get(), size(), dtype(), host_ptr());
}

template <typename It, typename V>
  requires(!std::is_void_v<V>)
array::array(It data, Shape shape, Dtype dtype) : desc_(std::make_shared<ArrayDesc>(std::move(shape), dtype)) {
  init(data);
}

namespace detail {
// The leaves of lists nested `depth` deep, in order, and their shape; every list at one depth
// must have the length of the first.
template <typename T>
struct Nested {
  Shape shape;
  std::vector<T> flat;
  template <typename L>
  void add(const std::initializer_list<L>& l, size_t depth) {
    if (shape.size() == depth) shape.push_back(static_cast<int32_t>(l.size()));
    if (static_cast<size_t>(shape[depth]) != l.size()) {
      throw std::invalid_argument("[array] expected nested lists of one length per depth, got lengths " +
                                  std::to_string(shape[depth]) + " and " + std::to_string(l.size()) + " at depth " +
                                  std::to_string(depth) + ".");
    }
    if constexpr (std::is_same_v<L, T>) flat.insert(flat.end(), l.begin(), l.end());
    else for (const auto& inner : l) add(inner, depth + 1);
  }
  template <typename L>
  Nested(const std::initializer_list<L>& l, size_t ndim) {
    add(l, 0);
    while (shape.size() < ndim) shape.push_back(0);  // empty lists inside
  }
};
}  // namespace detail

template <typename T>
  requires(std::is_arithmetic_v<T> || is_half_v<T> || is_complex_v<T>)
array::array(std::initializer_list<std::initializer_list<T>> data, Dtype dtype)
    : array(detail::Nested<T>(data, 2), dtype) {}

template <typename T>
  requires(std::is_arithmetic_v<T> || is_half_v<T> || is_complex_v<T>)
array::array(std::initializer_list<std::initializer_list<std::initializer_list<T>>> data, Dtype dtype)
    : array(detail::Nested<T>(data, 3), dtype) {}

template <typename T>
array::array(detail::Nested<T>&& n, Dtype dtype) : array(n.flat.begin(), n.shape, dtype) {}

template <typename T>
  requires(std::is_arithmetic_v<T> || is_half_v<T> || is_complex_v<T>)
array::array(T val, Dtype dtype) : desc_(std::make_shared<ArrayDesc>(Shape{}, dtype)) {
  set_scalar_data();
  detail::convert_into<T>(&val, 1, dtype, host_ptr());
}

template <typename T>
  requires(std::is_arithmetic_v<T> || is_half_v<T> || is_complex_v<T>)
array::array(std::initializer_list<T> data, Dtype dtype)
    : desc_(std::make_shared<ArrayDesc>(Shape{static_cast<int32_t>(data.size())}, dtype)) {
  init(data.begin());
}

template <typename T>
  requires(std::is_arithmetic_v<T> || is_half_v<T> || is_complex_v<T>)
array::array(std::initializer_list<T> data, Shape shape, Dtype dtype)
    : desc_(std::make_shared<ArrayDesc>(std::move(shape), dtype)) {
  if (data.size() != size()) {
    throw std::invalid_argument("[array] expected " + std::to_string(size()) +
                                " values for the given shape, got " + std::to_string(data.size()) + ".");
  }
  init(data.begin());
}

template <typename T>
T array::item() {
  if (size() != 1) {
    throw std::invalid_argument("[item] expected an array of size 1, got size " + std::to_string(size()) + ".");
  }
  eval();
  T out;
  detail::convert_from(dtype(), data<void>() , &out);
  return out;
}
template <typename T>
T array::item() const {
  return const_cast<array*>(this)->item<T>();
}

}  // namespace mica
