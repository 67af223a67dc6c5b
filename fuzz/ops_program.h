// The op layer under random programs (issue 19): bytes are read as a short program of ops on a
// pool of arrays (every dtype, ranks 0-4, empty and one-element dimensions, NaN/inf/huge values,
// views), with parameters that are mostly valid and sometimes negative, out of range or huge.
// Each op must either return a well-formed array (shape, size and strides that stay inside its
// buffer; every element readable) or throw an exception whose message names the op as
// "[op] ...". Anything else (a crash, a sanitizer report, another exception, an ill-formed
// result) is a finding.
//
// Shared by the libFuzzer target (fuzz/fuzz_ops.cpp, sanitized) and by tests/ops/op_fuzz_test.cpp,
// which runs fixed-seed programs in the regular suite.
#pragma once
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "mica/fft.h"
#include "mica/linalg.h"
#include "mica/mica.h"

namespace mica_fuzz {

// A finding: not an error the op should have thrown.
struct Finding : std::logic_error {
  using std::logic_error::logic_error;
};

// Reads the program; past the end every read gives zero, so any input is a program.
class Reader {
 public:
  Reader(const uint8_t* data, size_t size) : p_(data), n_(size) {}
  uint8_t byte() { return i_ < n_ ? p_[i_++] : 0; }
  bool done() const { return i_ >= n_; }
  uint32_t u32() {
    uint32_t v = 0;
    for (int k = 0; k < 4; ++k) v = v << 8 | byte();
    return v;
  }
  bool flag() { return byte() & 1; }
  // 0 .. n-1.
  int pick(int n) { return n <= 1 ? 0 : byte() % n; }
  // Mostly lo..hi; one time in eight an extreme (negative, huge, the int limits).
  int integer(int lo, int hi) {
    uint8_t b = byte();
    if (b >= 224) {
      static const int kOdd[] = {-1, -2, -7, 1 << 16, 1 << 30, std::numeric_limits<int>::max(),
                                 std::numeric_limits<int>::min(), -(1 << 20)};
      return kOdd[b % 8];
    }
    return static_cast<int>(lo + b % (int64_t(hi) - lo + 1));
  }
  // An axis of an ndim-dimensional array: usually valid (negative too), sometimes not.
  int axis(int ndim) {
    uint8_t b = byte();
    if (b >= 240) return (b & 1) ? ndim + (b % 3) : -ndim - 1 - (b % 3);
    if (ndim == 0) return 0;
    int ax = b % ndim;
    return (b & 0x40) ? ax - ndim : ax;
  }

 private:
  const uint8_t* p_;
  size_t n_;
  size_t i_ = 0;
};

// Limits that keep one program fast under the sanitizers.
inline constexpr size_t kPoolMax = 4096;      // elements of an array kept for later ops
inline constexpr size_t kEvalMax = 1 << 18;   // elements of a result evaluated and read
inline constexpr double kWorkMax = 1 << 24;   // multiply-adds of one matmul or convolution

// How often each op of the table returned a result, and threw a clear error.
struct Counts {
  std::vector<int> ok, errors;
};

class Program {
 public:
  Program(Reader& r, Counts* counts) : r_(r), counts_(counts) {
    if (counts_) counts_->ok.resize(table().size()), counts_->errors.resize(table().size());
  }

  // Runs up to max_ops ops; throws Finding.
  void run(int max_ops) {
    int n0 = 1 + r_.pick(3);
    for (int k = 0; k < n0; ++k) pool_.push_back(make_input());
    for (int k = 0; k < max_ops && !r_.done(); ++k) step();
  }

  // A result is well formed when its shape, size and strides describe elements inside its
  // buffer and every element can be read; throws Finding otherwise.
  static void check_result(const mica::array& out, const std::string& op) { check(out, op, kEvalMax); }

  // The op names in the table (for the test's coverage count).
  static const std::vector<std::string>& op_names() {
    static std::vector<std::string> names = [] {
      std::vector<std::string> v;
      for (auto& op : table()) v.push_back(op.name);
      return v;
    }();
    return names;
  }

 private:
  struct Op {
    std::string name;
    std::function<std::vector<mica::array>(Program&)> run;
    bool heavy = false;  // work grows with the output times an input (products, convolutions)
  };

  Reader& r_;
  Counts* counts_;
  std::vector<mica::array> pool_;
  size_t largest_input_ = 0;  // of the current op

  // ---- inputs ----
  mica::Dtype dtype() { return mica::all_dtypes[r_.pick(std::size(mica::all_dtypes))]; }
  mica::Dtype float_dtype() {
    static const mica::Dtype f[] = {mica::float32, mica::float16, mica::bfloat16, mica::float64};
    return f[r_.pick(4)];
  }

  mica::Shape small_shape(size_t max_size) {
    int ndim = r_.pick(5);
    mica::Shape s;
    size_t size = 1;
    for (int k = 0; k < ndim; ++k) {
      uint8_t b = r_.byte();
      int d = b < 200 ? b % 6 : 1 + b % 40;
      if (size * std::max(d, 1) > max_size) d = 1;
      size *= std::max(d, 1);
      s.push_back(d);
    }
    return s;
  }

  // A shape given to an op as a parameter: usually small, sometimes negative or huge.
  mica::Shape shape_param() {
    int ndim = r_.pick(5);
    mica::Shape s;
    for (int k = 0; k < ndim; ++k) s.push_back(r_.integer(0, 6));
    return s;
  }

  mica::array make_input() {
    mica::Dtype dt = dtype();
    mica::Shape shape = small_shape(kPoolMax);
    size_t n = 1;
    for (int d : shape) n *= d;
    const size_t bytes = n * dt.size;
    std::vector<uint8_t> raw(bytes);
    // Element bytes from the program for the first few, then a simple generator seeded by it.
    uint32_t x = r_.u32() | 1;
    const int kind = r_.pick(4);  // 0: random bits, 1: small values, 2: special values, 3: zeros
    static const double kSpecial[] = {std::nan(""), INFINITY, -INFINITY, -0.0, 1e300, -1e-300, 65504, 3.0};
    std::vector<double> values(n, 0.0);
    for (size_t i = 0; i < n; ++i) {
      x ^= x << 13, x ^= x >> 17, x ^= x << 5;
      uint8_t* e = raw.data() + i * dt.size;
      if (dt == mica::bool_) {
        e[0] = x & 1;
      } else if (kind == 0) {
        for (size_t b = 0; b < dt.size; ++b) e[b] = static_cast<uint8_t>(x >> (8 * (b % 4)));
      }
      if (kind == 1) values[i] = static_cast<int>(x % 11) - 5;
      if (kind == 2) values[i] = kSpecial[x % 8];
    }
    mica::array a = mica::astype(mica::array(values.begin(), shape, mica::float64), dt);
    if (kind == 0 || dt == mica::bool_) {
      auto buf = mica::allocator::malloc(bytes);
      if (bytes) std::memcpy(buf.ptr, raw.data(), bytes);
      a = mica::array(buf, shape, dt);
    }
    // Sometimes a view: transposed, reversed, a strided slice or a broadcast.
    switch (r_.pick(6)) {
      case 1: return a.ndim() >= 2 ? mica::transpose(a) : a;
      case 2: return a.ndim() >= 1 ? mica::flip(a, 0) : a;
      case 3: {
        if (a.ndim() == 0) return a;
        mica::Shape start(a.ndim(), 0), stop = a.shape(), step(a.ndim(), 1);
        step[0] = 2;
        return mica::slice(a, start, stop, step);
      }
      case 4: {
        mica::Shape s = a.shape();
        s.insert(s.begin(), 3);
        return n * 3 <= kPoolMax ? mica::broadcast_to(a, s) : a;
      }
      default: return a;
    }
  }

  mica::array& A() {
    mica::array& a = pool_[r_.pick(static_cast<int>(pool_.size()))];
    largest_input_ = std::max(largest_input_, a.size());
    return a;
  }
  // An index array: integer dtype (sometimes not), values around [-n, n) with strays.
  mica::array indices(int n, const mica::Shape& shape) {
    static const mica::Dtype kIdx[] = {mica::int32, mica::int64, mica::uint32, mica::int16, mica::uint8, mica::float32};
    mica::Dtype dt = kIdx[r_.pick(6)];
    std::vector<int64_t> v;
    size_t size = 1;
    for (int d : shape) size = size > kPoolMax ? size : size * std::max(d, 0);
    if (size > kPoolMax) size = 0;
    mica::Shape s = shape;
    for (int& d : s) d = size ? d : 0;
    for (size_t i = 0; i < size; ++i) {
      uint8_t b = r_.byte();
      const int64_t m = n;
      v.push_back(b >= 248 ? (b & 1 ? m + b % 5 : -m - 1 - b % 5) : (m > 0 ? int64_t(b % (2 * m)) - m : 0));
    }
    return mica::astype(mica::array(v.begin(), s, mica::int64), dt);
  }
  // A float array of the given shape with values in [-2, 2) (for ops whose inputs must match:
  // convolutions, factorizations, quantization).
  mica::array fresh(const mica::Shape& shape, mica::Dtype dt = mica::float32) {
    size_t n = 1;
    for (int d : shape) n = n > kPoolMax ? n : n * std::max(d, 0);
    if (n > kPoolMax) return mica::zeros(shape, dt);  // a shape taken from a huge input: one value
    std::vector<float> v(n);
    uint32_t x = r_.u32() | 1;
    for (auto& f : v) x ^= x << 13, x ^= x >> 17, x ^= x << 5, f = static_cast<float>(x % 4096) / 1024.0f - 2.0f;
    return mica::astype(mica::array(v.begin(), shape, mica::float32), dt);
  }
  // A well-conditioned n x n matrix (batched sometimes), symmetric positive definite if asked.
  mica::array square_matrix(bool spd) {
    const int n = 1 + r_.pick(6);
    mica::Shape shape = {n, n};
    if (r_.flag()) shape.insert(shape.begin(), 1 + r_.pick(3));
    mica::array m = fresh(shape);
    mica::array eye = mica::multiply(mica::eye(n), mica::array(float(2 * n)));
    if (spd) return mica::add(mica::matmul(m, mica::swapaxes(m, -1, -2)), eye);
    return mica::add(m, eye);
  }
  // Usually well-formed input for the structured ops, else any pool array.
  bool valid() { return r_.byte() < 192; }
  std::vector<int> axes(int ndim) {
    std::vector<int> ax;
    int k = r_.pick(ndim + 2);
    for (int i = 0; i < k; ++i) ax.push_back(r_.axis(ndim));
    return ax;
  }

  // The length of axis `ax` of a when it is a valid axis, else `fallback`.
  static int extent(const mica::array& a, int ax, int fallback) {
    const int nd = static_cast<int>(a.ndim());
    return nd && ax >= -nd && ax < nd ? a.shape(ax) : fallback;
  }
  // One index array per axis, all of one shape (for gather and the scatters).
  std::vector<mica::array> index_arrays(const mica::array& a, const std::vector<int>& ax, const mica::Shape& shape) {
    std::vector<mica::array> idx;
    for (int x : ax) idx.push_back(indices(extent(a, x, 3), shape));
    return idx;
  }

  // ---- checks ----
  static bool clear_message(const char* what) { return what && what[0] == '['; }

  // A result is well formed when its shape, size and strides describe elements inside its buffer.
  static void check(const mica::array& out, const std::string& op, size_t max_elements) {
    size_t size = 1;
    bool overflow = false;
    for (int d : out.shape()) {
      if (d < 0) throw Finding("[" + op + "] returned a negative dimension");
      overflow = __builtin_mul_overflow(size, static_cast<size_t>(d), &size) || overflow;
    }
    const bool empty = std::find(out.shape().begin(), out.shape().end(), 0) != out.shape().end();
    if (empty) size = 0;
    else if (overflow)
      throw Finding("[" + op + "] returned a shape whose size overflows: " + std::to_string(out.ndim()) + " dims");
    if (size != out.size()) throw Finding("[" + op + "] size() differs from the shape's product");
    if (out.size() > max_elements) return;
    mica::array o = out;
    o.eval();
    if (o.size() == 0) return;
    const uint8_t* base = o.data<uint8_t>();  // on the host (a GPU result is copied back first)
    if (o.strides().size() != o.ndim()) throw Finding("[" + op + "] strides and shape differ in length");
    int64_t lo = 0, hi = 0;
    for (size_t k = 0; k < o.ndim(); ++k) {
      int64_t span = int64_t(o.shape()[k] - 1) * o.strides()[k];
      (span < 0 ? lo : hi) += span;
    }
    const int64_t item = static_cast<int64_t>(o.itemsize());
    const int64_t first = o.byte_offset() + lo * item, last = o.byte_offset() + (hi + 1) * item;
    if (first < 0 || last > static_cast<int64_t>(o.buffer_size()))
      throw Finding("[" + op + "] elements outside the buffer: bytes " + std::to_string(first) + ".." +
                    std::to_string(last) + " of " + std::to_string(o.buffer_size()));
    // Read every element through the strides (the sanitizers see any bad access).
    const bool is_bool = o.dtype() == mica::bool_;
    volatile uint8_t sum = 0;
    std::vector<int32_t> idx(o.ndim(), 0);
    for (size_t i = 0; i < o.size(); ++i) {
      int64_t off = 0;
      for (size_t k = 0; k < o.ndim(); ++k) off += idx[k] * o.strides()[k];
      const uint8_t* e = base + off * item;
      for (int64_t b = 0; b < item; ++b) sum = sum + e[b];
      if (is_bool && e[0] > 1) throw Finding("[" + op + "] a bool element is neither 0 nor 1");
      for (int k = static_cast<int>(o.ndim()) - 1; k >= 0; --k) {
        if (++idx[k] < o.shape()[k]) break;
        idx[k] = 0;
      }
    }
  }

  void step() {
    const auto& ops = table();
    const size_t which = r_.pick(static_cast<int>(ops.size()));
    const Op& op = ops[which];
    std::vector<mica::array> outs;
    largest_input_ = 0;
    static const bool trace = std::getenv("MICA_FUZZ_TRACE") != nullptr;
    if (trace) std::fprintf(stderr, "op %s\n", op.name.c_str());  // before it runs: a hang shows here
    try {
      outs = op.run(*this);
      for (auto& o : outs) {
        size_t limit = kEvalMax;
        if (op.heavy && largest_input_ > 0) limit = std::min<size_t>(limit, kWorkMax / largest_input_);
        check(o, op.name, limit);
      }
    } catch (const Finding&) {
      throw;
    } catch (const std::exception& e) {
      if (!clear_message(e.what()))
        throw Finding("[" + op.name + "] threw an error that names no op: '" + e.what() + "'");
      if (counts_) ++counts_->errors[which];
      return;
    }
    if (counts_) ++counts_->ok[which];
    for (auto& o : outs)
      if (o.size() <= kPoolMax && pool_.size() < 12) pool_.push_back(o);
  }

  static const std::vector<Op>& table();

};

inline const std::vector<Program::Op>& Program::table() {
  using namespace mica;
  using V = std::vector<array>;
  auto unary = [](const char* name, array (*f)(const array&, StreamOrDevice)) {
    return Op{name, [f](Program& p) { return V{f(p.A(), {})}; }};
  };
  auto binary = [](const char* name, array (*f)(const array&, const array&, StreamOrDevice)) {
    return Op{name, [f](Program& p) {
                array& a = p.A();
                array& b = p.A();
                return V{f(a, b, {})};
              }};
  };
  using Red = array (*)(const array&, const std::vector<int>&, bool, StreamOrDevice);
  auto reduce = [](const char* name, Red f) {
    return Op{name, [f](Program& p) {
                array& a = p.A();
                return V{f(a, p.axes(static_cast<int>(a.ndim())), p.r_.flag(), {})};
              }};
  };
  using Scan = array (*)(const array&, int, bool, bool, StreamOrDevice);
  auto scan = [](const char* name, Scan f) {
    return Op{name, [f](Program& p) {
                array& a = p.A();
                return V{f(a, p.r_.axis(static_cast<int>(a.ndim())), p.r_.flag(), p.r_.flag(), {})};
              }};
  };
  auto two_axes = [](const char* name, array (*f)(const array&, int, int, StreamOrDevice)) {
    return Op{name, [f](Program& p) {
                array& a = p.A();
                const int nd = static_cast<int>(a.ndim());
                const int x = p.r_.axis(nd);
                return V{f(a, x, p.r_.axis(nd), {})};
              }};
  };
  using Scatter = array (*)(const array&, const std::vector<array>&, const array&, const std::vector<int>&,
                            StreamOrDevice);
  auto scatter_op = [](const char* name, Scatter f) {
    return Op{name, [f](Program& p) {
                array& a = p.A();
                const int nd = static_cast<int>(a.ndim());
                std::vector<int> ax = p.axes(nd);
                mica::Shape ishape = p.small_shape(16);
                std::vector<array> idx = p.index_arrays(a, ax, ishape);
                mica::Shape ushape = ishape;
                for (int k = 0; k < nd; ++k) ushape.push_back(p.r_.flag() ? 1 : a.shape(k));
                array upd = p.r_.flag() ? astype(p.A(), a.dtype()) : zeros(ushape, a.dtype());
                return V{f(a, idx, upd, ax, {})};
              }};
  };
  auto heavy = [](Op op) {
    op.heavy = true;
    return op;
  };
  static const std::vector<Op> ops = {
      unary("abs", abs), unary("negative", negative), unary("sign", sign), unary("square", square),
      unary("sqrt", sqrt), unary("rsqrt", rsqrt), unary("reciprocal", reciprocal), unary("exp", exp),
      unary("expm1", expm1), unary("log", log), unary("log1p", log1p), unary("sin", sin), unary("tan", tan),
      unary("arcsin", arcsin), unary("arccosh", arccosh), unary("arctanh", arctanh), unary("tanh", tanh),
      unary("sigmoid", sigmoid), unary("erf", erf), unary("erfinv", erfinv), unary("floor", floor),
      unary("ceil", ceil), unary("trunc", trunc), unary("real", real), unary("imag", imag),
      unary("conjugate", conjugate), unary("isnan", isnan), unary("isinf", isinf), unary("isfinite", isfinite),
      unary("logical_not", logical_not), unary("bitwise_invert", bitwise_invert),
      unary("stop_gradient", stop_gradient),
      Op{"round", [](Program& p) { return V{round(p.A(), p.r_.integer(-3, 3))}; }},
      Op{"astype", [](Program& p) { return V{astype(p.A(), p.dtype())}; }},
      Op{"view", [](Program& p) { return V{view(p.A(), p.dtype())}; }},
      Op{"nan_to_num", [](Program& p) { return V{nan_to_num(p.A(), 1.5f, 7.0f, -7.0f)}; }},
      binary("add", add), binary("subtract", subtract), binary("multiply", multiply), binary("divide", divide),
      binary("floor_divide", floor_divide), binary("remainder", remainder), binary("power", power),
      binary("maximum", maximum), binary("minimum", minimum), binary("arctan2", arctan2),
      binary("logaddexp", logaddexp), binary("equal", equal), binary("less_equal", less_equal),
      binary("logical_and", logical_and), binary("logical_xor", logical_xor), binary("bitwise_and", bitwise_and),
      binary("bitwise_xor", bitwise_xor), binary("left_shift", left_shift), binary("right_shift", right_shift),
      heavy(binary("matmul", matmul)), heavy(binary("inner", inner)), binary("outer", outer),
      Op{"divmod", [](Program& p) {
           array& a = p.A();
           return divmod(a, p.A());
         }},
      Op{"where", [](Program& p) {
           array c = astype(p.A(), bool_);
           array& x = p.A();
           return V{where(c, x, p.A())};
         }},
      Op{"clip", [](Program& p) {
           array& a = p.A();
           std::optional<array> lo, hi;
           if (p.r_.flag()) lo = p.A();
           if (p.r_.flag()) hi = p.A();
           return V{clip(a, lo, hi)};
         }},
      Op{"isclose", [](Program& p) {
           array& a = p.A();
           return V{isclose(a, p.A(), 1e-3, 1e-5, p.r_.flag())};
         }},
      reduce("sum", sum), reduce("prod", prod), reduce("mean", mean), reduce("max", max), reduce("min", min),
      reduce("all", all), reduce("any", any), reduce("logsumexp", logsumexp),
      Op{"var", [](Program& p) {
           array& a = p.A();
           return V{var(a, p.axes(static_cast<int>(a.ndim())), p.r_.flag(), p.r_.integer(0, 3))};
         }},
      Op{"argmax", [](Program& p) {
           array& a = p.A();
           return V{argmax(a, p.r_.axis(static_cast<int>(a.ndim())), p.r_.flag())};
         }},
      Op{"argmin", [](Program& p) { return V{argmin(p.A(), p.r_.flag())}; }},
      Op{"softmax", [](Program& p) {
           array& a = p.A();
           return V{softmax(a, p.axes(static_cast<int>(a.ndim())), p.r_.flag())};
         }},
      scan("cumsum", cumsum), scan("cumprod", cumprod), scan("cummax", cummax), scan("cummin", cummin),
      scan("logcumsumexp", logcumsumexp),
      Op{"reshape", [](Program& p) {
           array& a = p.A();
           mica::Shape s = p.shape_param();
           if (!s.empty() && p.r_.flag()) s[p.r_.pick(static_cast<int>(s.size()))] = -1;
           return V{reshape(a, s)};
         }},
      two_axes("flatten", flatten),
      Op{"unflatten", [](Program& p) {
           array& a = p.A();
           return V{unflatten(a, p.r_.axis(static_cast<int>(a.ndim())), p.shape_param())};
         }},
      Op{"squeeze", [](Program& p) {
           array& a = p.A();
           return V{squeeze(a, p.axes(static_cast<int>(a.ndim())))};
         }},
      Op{"expand_dims", [](Program& p) {
           array& a = p.A();
           return V{expand_dims(a, p.axes(static_cast<int>(a.ndim()) + 2))};
         }},
      Op{"transpose", [](Program& p) {
           array& a = p.A();
           std::vector<int> perm;
           for (size_t k = 0; k < a.ndim(); ++k) perm.push_back(static_cast<int>(k));
           for (size_t k = 0; k + 1 < perm.size(); ++k) std::swap(perm[k], perm[k + p.r_.pick(int(perm.size() - k))]);
           if (p.r_.byte() > 240) perm = p.axes(static_cast<int>(a.ndim()));
           return V{transpose(a, perm)};
         }},
      two_axes("swapaxes", swapaxes),
      two_axes("moveaxis", moveaxis),
      Op{"broadcast_to", [](Program& p) {
           array& a = p.A();
           mica::Shape s = a.shape();
           for (auto& d : s)
             if (d == 1 && p.r_.flag()) d = p.r_.integer(0, 5);
           if (p.r_.flag()) s.insert(s.begin(), p.r_.integer(0, 4));
           if (p.r_.byte() > 240) s = p.shape_param();
           return V{broadcast_to(a, s)};
         }},
      Op{"concatenate", [](Program& p) {
           array& a = p.A();
           array& b = p.A();
           return V{concatenate({a, b, p.r_.flag() ? a : b}, p.r_.axis(static_cast<int>(a.ndim())))};
         }},
      Op{"stack", [](Program& p) {
           array& a = p.A();
           array& b = p.r_.flag() ? a : p.A();
           return V{stack({a, b}, p.r_.axis(static_cast<int>(a.ndim()) + 1))};
         }},
      Op{"split", [](Program& p) {
           array& a = p.A();
           const int ax = p.r_.axis(static_cast<int>(a.ndim()));
           if (p.r_.flag()) return split(a, p.r_.integer(1, 4), ax);
           return split(a, p.shape_param(), ax);
         }},
      Op{"repeat", [](Program& p) {
           array& a = p.A();
           return V{repeat(a, p.r_.integer(0, 3), p.r_.axis(static_cast<int>(a.ndim())))};
         }},
      Op{"tile", [](Program& p) {
           array& a = p.A();
           mica::Shape reps = p.shape_param();
           return V{tile(a, std::vector<int>(reps.begin(), reps.end()))};
         }},
      Op{"pad", [](Program& p) {
           array& a = p.A();
           std::vector<int> ax = p.axes(static_cast<int>(a.ndim()));
           mica::Shape lo, hi;
           for (size_t k = 0; k < ax.size(); ++k) lo.push_back(p.r_.integer(0, 3)), hi.push_back(p.r_.integer(0, 3));
           static const char* kModes[] = {"constant", "edge", "reflect", "wrap"};
           return V{pad(a, ax, lo, hi, array(2), kModes[p.r_.pick(4)])};
         }},
      Op{"roll", [](Program& p) {
           array& a = p.A();
           return V{roll(a, p.r_.integer(-6, 6), p.axes(static_cast<int>(a.ndim())))};
         }},
      Op{"flip", [](Program& p) {
           array& a = p.A();
           return V{flip(a, p.axes(static_cast<int>(a.ndim())))};
         }},
      Op{"diagonal", [](Program& p) {
           array& a = p.A();
           const int nd = static_cast<int>(a.ndim());
           return V{diagonal(a, p.r_.integer(-3, 3), p.r_.axis(nd), p.r_.axis(nd))};
         }},
      Op{"diag", [](Program& p) { return V{diag(p.A(), p.r_.integer(-3, 3))}; }},
      Op{"contiguous", [](Program& p) { return V{contiguous(p.A(), p.r_.flag())}; }},
      Op{"slice", [](Program& p) {
           array& a = p.A();
           mica::Shape start, stop, step;
           for (size_t k = 0; k < a.ndim(); ++k) {
             start.push_back(p.r_.integer(-6, 6));
             stop.push_back(p.r_.integer(-6, 6));
             int s = p.r_.integer(-3, 3);
             step.push_back(s == 0 ? 1 : s);
           }
           if (p.r_.byte() > 245) step.push_back(1);
           return V{slice(a, start, stop, step)};
         }},
      Op{"slice_update", [](Program& p) {
           array& a = p.A();
           mica::Shape start, stop, step;
           for (size_t k = 0; k < a.ndim(); ++k) {
             start.push_back(p.r_.integer(-4, 4));
             stop.push_back(p.r_.integer(-4, 6));
             step.push_back(p.r_.flag() ? 1 : p.r_.integer(-2, 2));
           }
           return V{slice_update(a, p.A(), start, stop, step)};
         }},
      Op{"dynamic_slice", [](Program& p) {
           array& a = p.A();
           std::vector<int> ax = p.axes(static_cast<int>(a.ndim()));
           mica::Shape size;
           for (size_t k = 0; k < a.ndim(); ++k) size.push_back(p.r_.integer(0, 4));
           return V{slice(a, p.indices(6, {static_cast<int>(ax.size())}), ax, size)};
         }},
      Op{"take", [](Program& p) {
           array& a = p.A();
           const int nd = static_cast<int>(a.ndim());
           const int ax = p.r_.axis(nd);
           const int n = extent(a, ax, 3);
           return V{take(a, p.indices(n, p.small_shape(32)), ax)};
         }},
      Op{"take_along_axis", [](Program& p) {
           array& a = p.A();
           const int nd = static_cast<int>(a.ndim());
           const int ax = p.r_.axis(nd);
           mica::Shape s = a.shape();
           if (!s.empty() && ax >= -nd && ax < nd) s[ax < 0 ? ax + nd : ax] = p.r_.pick(5);
           return V{take_along_axis(a, p.indices(extent(a, ax, 2), s), ax)};
         }},
      Op{"put_along_axis", [](Program& p) {
           array& a = p.A();
           const int nd = static_cast<int>(a.ndim());
           const int ax = p.r_.axis(nd);
           array idx = p.indices(extent(a, ax, 2), a.shape());
           if (p.r_.flag()) return V{scatter_add_axis(a, idx, p.A(), ax)};
           return V{put_along_axis(a, idx, p.A(), ax)};
         }},
      Op{"gather", [](Program& p) {
           array& a = p.A();
           const int nd = static_cast<int>(a.ndim());
           std::vector<int> ax = p.axes(nd);
           std::vector<array> idx = p.index_arrays(a, ax, p.small_shape(16));
           mica::Shape sizes;
           for (int k = 0; k < nd; ++k) sizes.push_back(p.r_.flag() ? 1 : p.r_.integer(0, a.shape(k)));
           return V{gather(a, idx, ax, sizes)};
         }},
      scatter_op("scatter", scatter), scatter_op("scatter_add", scatter_add), scatter_op("scatter_prod", scatter_prod),
      scatter_op("scatter_max", scatter_max), scatter_op("scatter_min", scatter_min),
      Op{"masked_scatter", [](Program& p) {
           array& a = p.A();
           array mask = astype(p.A(), bool_);
           return V{masked_scatter(a, mask, p.A())};
         }},
      Op{"sort", [](Program& p) {
           array& a = p.A();
           return V{sort(a, p.r_.axis(static_cast<int>(a.ndim())))};
         }},
      Op{"median", [](Program& p) {
           array& a = p.A();
           return V{median(a, p.r_.axis(static_cast<int>(a.ndim())), p.r_.flag())};
         }},
      Op{"searchsorted", [](Program& p) {
           array& a = p.A();
           return V{searchsorted(a.ndim() == 1 && p.valid() ? sort(a) : a, p.A(), p.r_.flag() ? "left" : "right")};
         }},
      Op{"diff", [](Program& p) {
           array& a = p.A();
           return V{diff(a, p.r_.integer(-1, 3), p.r_.axis(static_cast<int>(a.ndim())))};
         }},
      Op{"kron", [](Program& p) {
           array& a = p.A();
           array& b = p.A();
           if (a.size() * b.size() > kPoolMax) return V{kron(a, a.size() > 8 ? slice(b, mica::Shape(b.ndim(), 0), mica::Shape(b.ndim(), 1)) : b)};
           return V{kron(a, b)};
         }},
      Op{"hadamard", [](Program& p) {
           // Sometimes a last axis of 12, 20 or 28 times a power of two (MLX's other orders).
           if (p.valid()) {
             const int m = std::array<int, 4>{1, 12, 20, 28}[p.r_.pick(4)];
             return V{hadamard_transform(p.fresh({p.r_.pick(4), m << p.r_.pick(3)}, p.float_dtype()))};
           }
           return V{hadamard_transform(p.A())};
         }},
      Op{"number_of_elements", [](Program& p) {
           array& a = p.A();
           return V{number_of_elements(a, p.axes(static_cast<int>(a.ndim())), p.r_.flag(), p.dtype())};
         }},
      Op{"gated_delta", [](Program& p) {
           if (!p.valid()) {  // mostly errors; a long time axis (one graph step each) is left alone
             array& q = p.A();
             if (q.ndim() == 4 && q.shape(1) > 16) return V{q};
             return fast::gated_delta_update(q, p.A(), p.A(), p.A(), p.A());
           }
           const int B = p.r_.pick(3), T = p.r_.pick(4), Hk = 1 + p.r_.pick(2), Hv = Hk * (1 + p.r_.pick(2));
           const int Dk = 1 + p.r_.pick(3), Dv = 1 + p.r_.pick(3);
           const mica::Dtype dt = p.float_dtype();
           std::optional<array> state, mask;
           if (p.r_.flag()) state = p.fresh({B, Hv, Dv, Dk}, dt);
           if (p.r_.flag()) mask = astype(p.fresh({B, T}), bool_);
           return fast::gated_delta_update(p.fresh({B, T, Hk, Dk}, dt), p.fresh({B, T, Hk, Dk}, dt),
                                           p.fresh({B, T, Hv, Dv}, dt), p.fresh({B, T, Hv}, dt),
                                           p.fresh({B, T, Hv}, dt), state, mask);
         }},
      heavy(Op{"stft", [](Program& p) {
           array& a = p.A();
           const int n_fft = p.r_.integer(0, 9);
           array y = fft::stft(a, n_fft, p.r_.integer(0, 4), std::nullopt, std::nullopt, p.r_.flag());
           if (p.r_.flag()) return V{y};
           return V{y, fft::istft(y, n_fft, p.r_.integer(0, 4))};
         }}),
      Op{"argsort", [](Program& p) {
           array& a = p.A();
           return V{argsort(a, p.r_.axis(static_cast<int>(a.ndim())))};
         }},
      Op{"partition", [](Program& p) {
           array& a = p.A();
           return V{argpartition(a, p.r_.integer(-3, 5), p.r_.axis(static_cast<int>(a.ndim())))};
         }},
      Op{"topk", [](Program& p) {
           array& a = p.A();
           return V{topk(a, p.r_.integer(0, 5), p.r_.axis(static_cast<int>(a.ndim())))};
         }},
      Op{"arange", [](Program& p) {
           double start = p.r_.integer(-5, 5), stop = p.r_.integer(-5, 40), step = p.r_.integer(-3, 3) / 2.0;
           return V{arange(start, stop, step, p.dtype())};
         }},
      Op{"linspace", [](Program& p) { return V{linspace(-1.0, 2.0, p.r_.integer(0, 20), p.float_dtype())}; }},
      Op{"full", [](Program& p) {
           mica::Shape s = p.shape_param();
           return V{full(s, p.A(), p.dtype())};
         }},
      Op{"zeros", [](Program& p) { return V{zeros(p.shape_param(), p.dtype())}; }},
      Op{"eye", [](Program& p) {
           int n = p.r_.integer(0, 6), m = p.r_.integer(0, 6);
           return V{eye(n, m, p.r_.integer(-3, 3), p.dtype())};
         }},
      Op{"tri", [](Program& p) {
           int n = p.r_.integer(0, 6), m = p.r_.integer(0, 6);
           return V{tri(n, m, p.r_.integer(-3, 3), p.dtype())};
         }},
      Op{"tril", [](Program& p) { return V{p.r_.flag() ? tril(p.A(), p.r_.integer(-2, 2)) : triu(p.A(), p.r_.integer(-2, 2))}; }},
      Op{"meshgrid", [](Program& p) {
           array a = p.A();
           array b = p.A();
           if (p.valid()) a = flatten(a), b = flatten(b);
           return meshgrid({a, b}, p.r_.flag(), p.r_.flag() ? "xy" : "ij");
         }},
      heavy(Op{"addmm", [](Program& p) {
           array& c = p.A();
           array& a = p.A();
           return V{addmm(c, a, p.A(), 0.5f, 2.0f)};
         }}),
      heavy(Op{"tensordot", [](Program& p) {
           array& a = p.A();
           return V{tensordot(a, p.A(), p.r_.integer(0, 2))};
         }}),
      heavy(Op{"conv", [](Program& p) {
           array in = p.A();
           array w = p.A();
           if (p.valid()) {
             // (N, spatial..., C_in) and (C_out, kernel..., C_in / groups).
             const int sp = 1 + p.r_.pick(3), groups = 1 + p.r_.pick(2);
             mica::Shape is = {1 + p.r_.pick(2)}, ws = {groups * (1 + p.r_.pick(3))};
             for (int k = 0; k < sp; ++k) is.push_back(3 + p.r_.pick(5)), ws.push_back(1 + p.r_.pick(3));
             const int cin = groups * (1 + p.r_.pick(3));
             is.push_back(cin), ws.push_back(cin / groups);
             in = p.fresh(is), w = p.fresh(ws);
           }
           const int sp = std::max(0, static_cast<int>(in.ndim()) - 2);
           std::vector<int> stride, lo, hi, kd, id;
           for (int k = 0; k < sp; ++k) {
             stride.push_back(p.r_.integer(1, 3));
             lo.push_back(p.r_.integer(0, 2));
             hi.push_back(p.r_.integer(0, 2));
             kd.push_back(p.r_.integer(1, 2));
             id.push_back(p.r_.integer(1, 2));
           }
           const int groups = in.ndim() ? in.shape(-1) / std::max(1, w.ndim() ? w.shape(-1) : 1) : 1;
           return V{conv_general(in, w, stride, lo, hi, kd, id, p.r_.flag() ? groups : p.r_.integer(1, 3),
                                 p.r_.flag())};
         }}),
      heavy(Op{"conv_transpose1d", [](Program& p) {
           array in = p.A();
           array w = p.A();
           if (p.valid()) in = p.fresh({1 + p.r_.pick(2), 2 + p.r_.pick(6), 2}), w = p.fresh({3, 1 + p.r_.pick(3), 2});
           return V{conv_transpose1d(in, w, p.r_.integer(1, 3), p.r_.integer(0, 2), p.r_.integer(1, 2),
                                     p.r_.integer(0, 1), p.r_.integer(1, 2))};
         }}),
      Op{"fft", [](Program& p) {
           array& a = p.A();
           const int ax = p.r_.axis(static_cast<int>(a.ndim()));
           switch (p.r_.pick(3)) {
             case 0: return V{fft::fft(a, p.r_.integer(1, 9), ax)};
             case 1: return V{fft::rfft(a, p.r_.integer(1, 9), ax)};
             default: return V{fft::irfft(a, p.r_.integer(1, 9), ax)};
           }
         }},
      Op{"fftn", [](Program& p) {
           array& a = p.A();
           return V{fft::fftn(a, p.axes(static_cast<int>(a.ndim())))};
         }},
      Op{"norm", [](Program& p) {
           array& a = p.A();
           static const double kOrd[] = {1, 2, INFINITY, -INFINITY, 0, 3};
           if (p.r_.flag()) return V{linalg::norm(a, p.r_.flag() ? "fro" : "nuc")};
           return V{linalg::norm(a, kOrd[p.r_.pick(6)], p.r_.axis(static_cast<int>(a.ndim())))};
         }},
      Op{"inv", [](Program& p) { return V{linalg::inv(p.valid() ? p.square_matrix(false) : p.A())}; }},
      Op{"cholesky", [](Program& p) {
           return V{linalg::cholesky(p.valid() ? p.square_matrix(true) : p.A(), p.r_.flag())};
         }},
      Op{"solve", [](Program& p) {
           array a = p.valid() ? p.square_matrix(false) : p.A();
           array b = p.A();
           if (p.valid() && a.ndim() >= 2) b = p.fresh({a.shape(-1), 1 + p.r_.pick(3)});
           return V{linalg::solve(a, b)};
         }},
      Op{"qr", [](Program& p) {
           auto [q, r] = linalg::qr(p.valid() ? p.fresh({1 + p.r_.pick(5), 1 + p.r_.pick(5)}) : p.A());
           return V{q, r};
         }},
      Op{"svd", [](Program& p) {
           return linalg::svd(p.valid() ? p.fresh({1 + p.r_.pick(5), 1 + p.r_.pick(5)}) : p.A(), p.r_.flag());
         }},
      Op{"eigh", [](Program& p) {
           auto [w, v] = linalg::eigh(p.valid() ? p.square_matrix(true) : p.A());
           return V{w, v};
         }},
      Op{"det", [](Program& p) { return V{linalg::det(p.valid() ? p.square_matrix(false) : p.A())}; }},
      Op{"cross", [](Program& p) {
           array& a = p.A();
           return V{linalg::cross(a, p.A(), p.r_.axis(static_cast<int>(a.ndim())))};
         }},
      Op{"quantize", [](Program& p) {
           static const int kGroups[] = {32, 64, 128, 16};
           static const int kBits[] = {1, 2, 3, 4, 5, 6, 8, 7};
           static const char* kModes[] = {"affine", "mxfp4", "mxfp8", "nvfp4"};
           const int group = kGroups[p.r_.pick(4)], bits = kBits[p.r_.pick(8)];
           const std::string mode = kModes[p.r_.pick(4)];
           array w = p.valid() ? p.fresh({1 + p.r_.pick(3), group * (1 + p.r_.pick(2))}, p.float_dtype()) : p.A();
           V q = quantize(w, group, bits, mode);
           if (q.size() >= 2 && p.r_.flag()) {
             std::optional<array> biases;
             if (q.size() > 2) biases = q[2];
             q.push_back(dequantize(q[0], q[1], biases, group, bits, mode));
           }
           return q;
         }},
      Op{"rope", [](Program& p) {
           array& x = p.A();
           const int d = p.r_.integer(0, 5);
           const int dims = d > -64 && d < 64 ? 2 * d : d;  // odd strays (1 << 30, INT_MIN) as they come
           std::optional<float> base;
           std::optional<array> freqs;
           if (p.r_.flag()) base = 10000.0f;
           else freqs = p.valid() && dims >= 0 && dims < 128 ? p.fresh({dims / 2}) : p.A();
           if (p.r_.flag()) return V{fast::rope(x, dims, p.r_.flag(), base, 0.5f, p.r_.integer(-3, 9), freqs)};
           array off = p.valid() && x.ndim() ? p.indices(8, mica::Shape{x.shape(0)}) : p.A();
           return V{fast::rope(x, dims, p.r_.flag(), base, 1.0f, off, freqs)};
         }},
      Op{"fp8", [](Program& p) {
           array& a = p.A();
           if (p.r_.flag()) return V{from_fp8(a, p.float_dtype())};
           return V{to_fp8(a)};
         }},
      Op{"layer_norm", [](Program& p) {
           array& x = p.A();
           std::optional<array> w, b;
           const int d = x.ndim() ? x.shape(-1) : 1;
           if (p.r_.flag()) w = p.valid() ? p.fresh({d}, p.float_dtype()) : p.A();
           if (p.r_.flag()) b = p.valid() ? p.fresh({d}) : p.A();
           if (p.r_.flag()) return V{fast::rms_norm(x, w, 1e-5f)};
           return V{fast::layer_norm(x, w, b, p.r_.flag() ? 1e-5f : 0.0f)};
         }},
      Op{"gelu", [](Program& p) { return V{fast::gelu(p.A())}; }},
      Op{"cross_entropy", [](Program& p) {
           array logits = p.valid() ? p.fresh({1 + p.r_.pick(4), 1 + p.r_.pick(9)}, p.float_dtype()) : p.A();
           const int v = logits.ndim() ? logits.shape(-1) : 1;
           mica::Shape ts = logits.shape();
           if (!ts.empty()) ts.pop_back();
           array targets = p.valid() ? p.indices(v, ts) : p.A();
           return V{fast::cross_entropy(logits, targets, p.r_.flag() ? 0.1f : 0.0f)};
         }},
      heavy(Op{"attention", [](Program& p) {
           // (B, heads, L, D) queries; keys and values with kv heads dividing the query heads.
           array q = p.A(), k = p.A(), v = p.A();
           if (p.valid()) {
             const int b = 1 + p.r_.pick(2), kvh = 1 + p.r_.pick(2), h = kvh * (1 + p.r_.pick(2));
             const int lq = 1 + p.r_.pick(5), lk = 1 + p.r_.pick(5), d = 4 << p.r_.pick(3);
             const mica::Dtype dt = p.float_dtype();
             q = p.fresh({b, h, lq, d}, dt), k = p.fresh({b, kvh, lk, d}, dt), v = p.fresh({b, kvh, lk, d}, dt);
           }
           static const char* kModes[] = {"", "causal", "array"};
           const std::string mode = kModes[p.r_.pick(3)];
           std::optional<array> mask;
           if (mode == "array" && q.ndim() == 4 && k.ndim() == 4)
             mask = p.r_.flag() ? astype(p.fresh({q.shape(2), k.shape(2)}), bool_) : p.fresh({q.shape(2), k.shape(2)}, q.dtype());
           std::optional<array> sinks;
           if (p.r_.flag() && q.ndim() == 4) sinks = p.fresh({q.shape(1)}, q.dtype());
           return V{fast::scaled_dot_product_attention(q, k, v, 0.5f, mode == "array" ? "" : mode, mask, sinks)};
         }}),
      Op{"adam_step", [](Program& p) {
           // p, g, m, v of one shape and dtype (float32 or float64), coef (3,), when valid.
           if (!p.valid()) {
             array& w = p.A();
             array& g = p.A();
             array& m = p.A();
             array& v = p.A();
             return fast::adam_step(w, g, m, v, p.A(), 0.9, 0.999, 1e-8);
           }
           const mica::Dtype dt = p.r_.flag() ? float32 : float64;
           array w = p.fresh(p.small_shape(256), dt);
           array g = p.fresh(w.shape(), dt), m = p.fresh(w.shape(), dt), v = abs(p.fresh(w.shape(), dt));
           return fast::adam_step(w, g, m, v, astype(array({1e-3f, 1.0f, 0.99f}, float32), dt), 0.9, 0.999, 1e-8);
         }},
      heavy(Op{"einsum", [](Program& p) {
           static const char* kSubs[] = {"ij,jk->ik", "ii->i", "ij->", "bij,bjk->bik", "i,i->", "ij,kj->ikj", "ii", "i->ii"};
           array& a = p.A();
           return V{einsum(kSubs[p.r_.pick(8)], {a, p.A()})};
         }}),
      heavy(Op{"gather_mm", [](Program& p) {
           array& a = p.A();
           array& b = p.A();
           // Indices into the matrices of the batch (at least one, so that some are out of range).
           auto batches = [](const array& x) {
             const size_t m = size_t(x.shape(-1)) * size_t(x.shape(-2));
             return static_cast<int>(std::min<size_t>(kPoolMax, std::max<size_t>(1, x.size() / std::max<size_t>(1, m))));
           };
           std::optional<array> li, ri;
           if (p.r_.flag() && a.ndim() >= 2) li = p.indices(batches(a), {2});
           if (p.r_.flag() && b.ndim() >= 2) ri = p.indices(batches(b), {2});
           return V{gather_mm(a, b, li, ri)};
         }}),
      heavy(Op{"quantized_matmul", [](Program& p) {
           const int bits = p.r_.flag() ? 4 : 8, group = 32 << p.r_.pick(3);
           const int rows = 1 + p.r_.pick(4), cols = group * (1 + p.r_.pick(2));
           V q = quantize(p.fresh({rows, cols}), group, bits);
           array x = p.valid() ? p.fresh({1 + p.r_.pick(3), cols}, p.float_dtype()) : p.A();
           return V{quantized_matmul(x, q[0], q[1], q[2], true, group, bits)};
         }}),
      heavy(Op{"qqmm", [](Program& p) {
           static const char* kModes[] = {"nvfp4", "mxfp8", "mxfp4", "affine"};
           const std::string mode = kModes[p.r_.pick(4)];
           const int cols = 32 * (1 + p.r_.pick(2));
           array w = p.valid() ? p.fresh({1 + p.r_.pick(3), cols}, p.float_dtype()) : p.A();
           array x = p.valid() ? p.fresh({1 + p.r_.pick(3), cols}, p.float_dtype()) : p.A();
           if (p.r_.flag()) return V{qqmm(x, w, std::nullopt, std::nullopt, std::nullopt, mode)};
           V q = quantize(w, std::nullopt, std::nullopt, mode);
           return V{qqmm(x, q[0], q[1], std::nullopt, std::nullopt, mode)};
         }}),
      Op{"random", [](Program& p) {
           mica::Shape s = p.shape_param();
           array key = random::key(p.r_.u32());
           switch (p.r_.pick(3)) {
             case 0: return V{random::uniform(s, p.dtype(), key)};
             case 1: return V{random::bits(s, p.r_.integer(1, 8), key)};
             default: return V{random::randint(array(-3), array(p.r_.integer(-2, 9)), s, p.dtype(), key)};
           }
         }},
  };
  return ops;
}

// Runs the program the bytes describe; throws Finding.
inline void run_program(const uint8_t* data, size_t size, Counts* counts = nullptr) {
  Reader r(data, size);
  Program(r, counts).run(8);
}

}  // namespace mica_fuzz
