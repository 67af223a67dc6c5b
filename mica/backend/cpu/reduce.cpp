// CPU kernels of Reduce and ArgReduce. in: any strides; out: row-major, reduced dims of size 1.
//
// The dims are split into kept and reduced ones and merged where memory allows. When a reduced
// dim is contiguous (stride 1) each output reduces rows with the vectorized row kernel; when a
// kept dim is contiguous each output block accumulates whole rows of inputs element-wise
// (vectorized across the kept dim). Other layouts are first copied row-major.
#include "mica/backend/cpu/reduce.h"

#include <stdexcept>

#include "mica/backend/cpu/copy.h"
#include "mica/backend/cpu/parallel.h"
#include "mica/primitives/reduce.h"

namespace mica {

namespace {
using namespace cpu::red;
using cpu::num_threads;
using cpu::parallel_for;

// Kept dims (input and output strides) and reduced dims (input strides), merged.
struct Layout {
  Shape kshape;
  Strides kin, kout;
  Shape rshape;
  Strides rin;
};

Layout plan(const array& in, const array& out, const std::vector<int>& axes) {
  Layout L;
  std::vector<bool> reduced(in.ndim(), false);
  for (int a : axes) reduced[a] = true;
  std::vector<std::pair<int32_t, int64_t>> rdims;
  for (size_t d = 0; d < in.ndim(); ++d) {
    int32_t n = in.shape()[d];
    if (n == 1) continue;
    int64_t si = in.strides()[d];
    if (reduced[d]) {
      rdims.emplace_back(n, si);
      continue;
    }
    int64_t so = out.strides()[d];
    if (!L.kshape.empty() && L.kin.back() == si * n && L.kout.back() == so * n) {
      L.kshape.back() *= n;
      L.kin.back() = si;
      L.kout.back() = so;
    } else {
      L.kshape.push_back(n);
      L.kin.push_back(si);
      L.kout.push_back(so);
    }
  }
  // Reduced dims in memory order, outermost first (broadcast dims first), so a contiguous one
  // ends up last; the order of a reduction does not matter.
  auto key = [](int64_t s) { return s == 0 ? std::numeric_limits<int64_t>::max() : (s < 0 ? -s : s); };
  std::stable_sort(rdims.begin(), rdims.end(), [&](auto& a, auto& b) { return key(a.second) > key(b.second); });
  for (auto [n, s] : rdims) {
    if (!L.rshape.empty() && L.rin.back() == s * n) {
      L.rshape.back() *= n;
      L.rin.back() = s;
    } else {
      L.rshape.push_back(n);
      L.rin.push_back(s);
    }
  }
  return L;
}

// Removes dim d from a shape and its stride lists; an emptied shape becomes {1}.
void drop_dim(Shape& s, Strides& a, Strides& b, size_t d) {
  s.erase(s.begin() + d);
  a.erase(a.begin() + d);
  b.erase(b.begin() + d);
  if (s.empty()) {
    s.push_back(1);
    a.push_back(0);
    b.push_back(0);
  }
}

template <typename Op, typename I, typename O>
void reduce_typed(const array& in, array& out, const std::vector<int>& axes, Op op) {
  using A = typename Op::A;
  const I* src = in.data<I>();
  O* dst = out.data<O>();
  if (in.size() == 0) {  // empty reduced dims: every output is the identity
    O v = cast_to<O>(Op::init());
    for (size_t i = 0; i < out.size(); ++i) dst[i] = v;
    return;
  }
  Layout L = plan(in, out, axes);
  if (L.rshape.empty()) {
    L.rshape = {1};
    L.rin = {0};
  }
  if (L.kshape.empty()) {
    L.kshape = {1};
    L.kin = {0};
    L.kout = {0};
  }
  const int64_t M = prod(L.kshape), Nr = prod(L.rshape);
  const int T = num_threads();
  bool row_mode = L.rin.back() == 1;
  int col_dim = -1;
  for (int k = static_cast<int>(L.kshape.size()) - 1; k >= 0 && !row_mode && col_dim < 0; --k) {
    if (L.kin[k] == 1 && L.kshape[k] > 1) col_dim = k;
  }

  if (!row_mode && col_dim < 0) {
    if (M * Nr > 4096 && !in.flags().row_contiguous) {
      array c = cpu::ensure_row_contiguous(in);
      reduce_typed<Op, I, O>(c, out, axes, op);
      return;
    }
    // Small or degenerate layouts: element by element.
    Walker<2> wk(L.kshape, {&L.kin, &L.kout});
    for (int64_t o = 0; o < M; ++o, wk.next()) {
      A acc = Op::init();
      Walker<1> wr(L.rshape, {&L.rin});
      for (int64_t r = 0; r < Nr; ++r, wr.next()) acc = op(acc, cast_to<A>(src[wk.off[0] + wr.off[0]]));
      dst[wk.off[1]] = cast_to<O>(acc);
    }
    return;
  }

  if (row_mode) {
    // Each output reduces Nr elements: rows of n contiguous ones under the outer reduced dims.
    const int64_t n = L.rshape.back();
    Shape ro(L.rshape.begin(), L.rshape.end() - 1);
    Strides ros(L.rin.begin(), L.rin.end() - 1);
    if (ro.empty()) {
      ro = {1};
      ros = {0};
    }
    // Reduces the flat range [b, e) of one output's reduced elements.
    auto span = [&](const I* base, int64_t b, int64_t e) {
      A acc = Op::init();
      int64_t inner = b % n;
      Walker<1> w(ro, {&ros}, b / n);
      while (b < e) {
        int64_t len = std::min(n - inner, e - b);
        acc = op(acc, reduce_contig(base + w.off[0] + inner, len, op));
        b += len;
        inner = 0;
        w.next();
      }
      return acc;
    };
    if (M * Nr < 2 * kGrain || M >= 4 * T) {
      parallel_for(M, std::max<int64_t>(1, kGrain / Nr), [&](int64_t ob, int64_t oe) {
        Walker<2> w(L.kshape, {&L.kin, &L.kout}, ob);
        for (int64_t o = ob; o < oe; ++o, w.next()) dst[w.off[1]] = cast_to<O>(span(src + w.off[0], 0, Nr));
      });
      return;
    }
    // Few long reductions: split each one across the threads.
    auto part = scratch<A>(T);
    int64_t per = (Nr + T - 1) / T;
    Walker<2> w(L.kshape, {&L.kin, &L.kout});
    for (int64_t o = 0; o < M; ++o, w.next()) {
      parallel_for(T, 1, [&](int64_t cb, int64_t ce) {
        for (int64_t c = cb; c < ce; ++c) part[c] = span(src + w.off[0], std::min(Nr, c * per), std::min(Nr, (c + 1) * per));
      });
      A acc = Op::init();
      for (int c = 0; c < T; ++c) acc = op(acc, part[c]);
      dst[w.off[1]] = cast_to<O>(acc);
    }
    return;
  }

  // Column mode: kept dim col_dim is contiguous; blocks of it accumulate rows element-wise.
  const int64_t m = L.kshape[col_dim], os = L.kout[col_dim];
  drop_dim(L.kshape, L.kin, L.kout, col_dim);
  const int64_t Mo = prod(L.kshape);
  constexpr int64_t B = std::max<int64_t>(64, 16384 / static_cast<int64_t>(sizeof(A)));
  const int64_t nblk = (m + B - 1) / B;
  const int64_t rn = L.rshape.back(), rs = L.rin.back();
  Shape ro(L.rshape.begin(), L.rshape.end() - 1);
  Strides ros(L.rin.begin(), L.rin.end() - 1);
  if (ro.empty()) {
    ro = {1};
    ros = {0};
  }
  // Accumulates reduced elements [b, e) of columns base[0, len) into acc.
  auto col_span = [&](A* acc, const I* base, int64_t len, int64_t b, int64_t e) {
    int64_t inner = b % rn;
    Walker<1> w(ro, {&ros}, b / rn);
    while (b < e) {
      int64_t cnt = std::min(rn - inner, e - b);
      const I* p = base + w.off[0] + inner * rs;
      int64_t r = 0;
      for (; r + 4 <= cnt; r += 4) accumulate_cols4(acc, p + r * rs, rs, len, op);
      for (; r < cnt; ++r) accumulate_cols(acc, p + r * rs, len, op);
      b += cnt;
      inner = 0;
      w.next();
    }
  };
  const int64_t items = Mo * nblk;
  if (items >= 2 * T || Mo * m * Nr < 2 * kGrain) {
    parallel_for(items, std::max<int64_t>(1, kGrain / (std::min(m, B) * Nr)), [&](int64_t ib, int64_t ie) {
      auto acc = scratch<A>(B);
      Walker<2> w(L.kshape, {&L.kin, &L.kout});
      for (int64_t it = ib; it < ie; ++it) {
        int64_t o = it / nblk, j0 = (it % nblk) * B, len = std::min(B, m - j0);
        w.seek(o);
        std::fill(acc.get(), acc.get() + len, Op::init());
        col_span(acc.get(), src + w.off[0] + j0, len, 0, Nr);
        O* q = dst + w.off[1] + j0 * os;
        for (int64_t j = 0; j < len; ++j) q[j * os] = cast_to<O>(acc[j]);
      }
    });
    return;
  }
  // Few column blocks over a long reduction: each thread takes part of the reduced range.
  int64_t per = (Nr + T - 1) / T;
  std::vector<std::unique_ptr<A[]>> parts(T);
  for (auto& p : parts) p = scratch<A>(B);
  Walker<2> w(L.kshape, {&L.kin, &L.kout});
  for (int64_t it = 0; it < items; ++it) {
    int64_t o = it / nblk, j0 = (it % nblk) * B, len = std::min(B, m - j0);
    w.seek(o);
    parallel_for(T, 1, [&](int64_t cb, int64_t ce) {
      for (int64_t c = cb; c < ce; ++c) {
        std::fill(parts[c].get(), parts[c].get() + len, Op::init());
        col_span(parts[c].get(), src + w.off[0] + j0, len, std::min(Nr, c * per), std::min(Nr, (c + 1) * per));
      }
    });
    O* q = dst + w.off[1] + j0 * os;
    for (int64_t j = 0; j < len; ++j) {
      A acc = parts[0][j];
      for (int c = 1; c < T; ++c) acc = op(acc, parts[c][j]);
      q[j * os] = cast_to<O>(acc);
    }
  }
}

// Sum and product of bool and small integers widen to 32 bits, as MLX.
template <typename I>
using sum_out_t = std::conditional_t<
    std::is_same_v<I, bool> || std::is_same_v<I, int8_t> || std::is_same_v<I, int16_t>, int32_t,
    std::conditional_t<std::is_same_v<I, uint8_t> || std::is_same_v<I, uint16_t>, uint32_t, I>>;

template <typename I, typename O, typename Op>
void run_reduce(const array& in, array& out, const std::vector<int>& axes, Op op) {
  if (out.dtype() != Dtype(TypeToDtype<O>())) {
    throw std::runtime_error("[Reduce] kernel got output dtype " + dtype_to_string(out.dtype()) + " for input " +
                             dtype_to_string(in.dtype()) + " (the op should have set it).");
  }
  reduce_typed<Op, I, O>(in, out, axes, op);
}

// ArgMin/ArgMax along one axis. better(v, best): v replaces the current best (NaN wins once).
template <bool IsMax, typename A>
inline bool better(A v, A best) {
  if constexpr (IsMax) return (is_nan(v) && !is_nan(best)) || greater(v, best);
  else return (is_nan(v) && !is_nan(best)) || greater(best, v);
}

template <bool IsMax, typename I>
void argreduce_typed(const array& in, array& out, int axis) {
  using A = acc_t<I>;
  const I* src = in.data<I>();
  uint32_t* dst = out.data<uint32_t>();
  const int64_t n = in.shape()[axis], sa = in.strides()[axis];
  // Kept dims, merged on input and output strides.
  Shape ks;
  Strides kin, kout;
  for (size_t d = 0; d < in.ndim(); ++d) {
    int32_t s = in.shape()[d];
    if (static_cast<int>(d) == axis || s == 1) continue;
    int64_t si = in.strides()[d], so = out.strides()[d];
    if (!ks.empty() && kin.back() == si * s && kout.back() == so * s) {
      ks.back() *= s;
      kin.back() = si;
      kout.back() = so;
    } else {
      ks.push_back(s);
      kin.push_back(si);
      kout.push_back(so);
    }
  }
  if (ks.empty()) {
    ks = {1};
    kin = {0};
    kout = {0};
  }
  int col_dim = -1;
  if (sa != 1 && n > 1) {
    for (int k = static_cast<int>(ks.size()) - 1; k >= 0 && col_dim < 0; --k) {
      if (kin[k] == 1 && ks[k] > 1) col_dim = k;
    }
  }
  const int64_t M = prod(ks);
  if (col_dim < 0) {
    parallel_for(M, std::max<int64_t>(1, kGrain / std::max<int64_t>(n, 1)), [&](int64_t ob, int64_t oe) {
      Walker<2> w(ks, {&kin, &kout}, ob);
      for (int64_t o = ob; o < oe; ++o, w.next()) {
        const I* p = src + w.off[0];
        A best = cast_to<A>(p[0]);
        uint32_t bi = 0;
        for (int64_t i = 1; i < n; ++i) {
          A v = cast_to<A>(p[i * sa]);
          if (better<IsMax>(v, best)) {
            best = v;
            bi = static_cast<uint32_t>(i);
          }
        }
        dst[w.off[1]] = bi;
      }
    });
    return;
  }
  const int64_t m = ks[col_dim], os = kout[col_dim];
  drop_dim(ks, kin, kout, col_dim);
  const int64_t Mo = prod(ks);
  constexpr int64_t B = 1024;
  const int64_t nblk = (m + B - 1) / B;
  parallel_for(Mo * nblk, std::max<int64_t>(1, kGrain / (std::min(m, B) * n)), [&](int64_t ib, int64_t ie) {
    auto best = scratch<A>(B);
    auto idx = scratch<uint32_t>(B);
    Walker<2> w(ks, {&kin, &kout});
    for (int64_t it = ib; it < ie; ++it) {
      int64_t o = it / nblk, j0 = (it % nblk) * B, len = std::min(B, m - j0);
      w.seek(o);
      const I* p = src + w.off[0] + j0;
      for (int64_t j = 0; j < len; ++j) {
        best[j] = cast_to<A>(p[j]);
        idx[j] = 0;
      }
      for (int64_t i = 1; i < n; ++i) {
        const I* row = p + i * sa;
        for (int64_t j = 0; j < len; ++j) {
          A v = cast_to<A>(row[j]);
          bool b = better<IsMax>(v, best[j]);
          best[j] = b ? v : best[j];
          idx[j] = b ? static_cast<uint32_t>(i) : idx[j];
        }
      }
      uint32_t* q = dst + w.off[1] + j0 * os;
      for (int64_t j = 0; j < len; ++j) q[j * os] = idx[j];
    }
  });
}
}  // namespace

void Reduce::eval_cpu(const std::vector<array>& inputs, array& out) {
  const array& in = inputs[0];
  out.set_data(allocator::malloc(out.nbytes()));
  if (out.size() == 0) return;
  dispatch_dtype(in.dtype(), [&](auto tag) {
    using I = typename decltype(tag)::type;
    using S = sum_out_t<I>;
    switch (type_) {
      case And: return run_reduce<I, bool>(in, out, axes_, AndOp{});
      case Or: return run_reduce<I, bool>(in, out, axes_, OrOp{});
      case Sum: return run_reduce<I, S>(in, out, axes_, SumOp<acc_t<S>>{});
      case Prod: return run_reduce<I, S>(in, out, axes_, ProdOp<acc_t<S>>{});
      case Min: return run_reduce<I, I>(in, out, axes_, MinOp<acc_t<I>>{});
      case Max: return run_reduce<I, I>(in, out, axes_, MaxOp<acc_t<I>>{});
    }
  });
}

void ArgReduce::eval_cpu(const std::vector<array>& inputs, array& out) {
  const array& in = inputs[0];
  out.set_data(allocator::malloc(out.nbytes()));
  if (out.size() == 0 || in.size() == 0) return;
  dispatch_dtype(in.dtype(), [&](auto tag) {
    using I = typename decltype(tag)::type;
    if (type_ == ArgMax) argreduce_typed<true, I>(in, out, axis_);
    else argreduce_typed<false, I>(in, out, axis_);
  });
}

void NumberOfElements::eval_cpu(const std::vector<array>& inputs, array& out) {
  // out: a scalar of dtype_.
  const double v = value(inputs[0].shape());
  out.set_data(allocator::malloc(out.nbytes()));
  detail::convert_into(&v, 1, dtype_, out.data<void>());
}

}  // namespace mica
