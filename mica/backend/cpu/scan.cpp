// CPU kernel of Scan. in: any strides; out: row-major, same shape.
// When the scanned axis is the output's innermost dim each line is scanned sequentially;
// otherwise blocks of the contiguous inner dim carry their running values together.
#include <stdexcept>

#include "mica/backend/cpu/copy.h"
#include "mica/backend/cpu/parallel.h"
#include "mica/backend/cpu/reduce.h"
#include "mica/primitives/reduce.h"

namespace mica {

namespace {
using namespace cpu::red;
using cpu::parallel_for;

template <typename Op, typename I, typename O>
void scan_typed(const array& in_arg, array& out, int axis, bool reverse, bool inclusive, Op op) {
  using A = typename Op::A;
  out.set_data(allocator::malloc(out.nbytes()));
  if (out.size() == 0) return;
  const int nd = static_cast<int>(in_arg.ndim());
  // The innermost non-trivial output dim decides the mode; when it is a kept dim the input must
  // be contiguous along it too.
  int last = nd - 1;
  while (last > 0 && in_arg.shape()[last] == 1) --last;
  bool lines = last <= axis;
  array in = (!lines && in_arg.strides()[last] != 1) ? cpu::ensure_row_contiguous(in_arg) : in_arg;
  const I* src = in.data<I>();
  O* dst = out.data<O>();
  const int64_t n = in.shape()[axis], sa = in.strides()[axis], so = out.strides()[axis];

  Shape ks;
  Strides kin, kout;
  for (int d = 0; d < nd; ++d) {
    int32_t s = in.shape()[d];
    if (d == axis || s == 1) continue;
    int64_t si = in.strides()[d], sd = out.strides()[d];
    if (!ks.empty() && kin.back() == si * s && kout.back() == sd * s) {
      ks.back() *= s;
      kin.back() = si;
      kout.back() = sd;
    } else {
      ks.push_back(s);
      kin.push_back(si);
      kout.push_back(sd);
    }
  }
  if (ks.empty()) {
    ks = {1};
    kin = {0};
    kout = {0};
  }

  if (lines) {
    const int64_t M = prod(ks);
    parallel_for(M, std::max<int64_t>(1, kGrain / std::max<int64_t>(n, 1)), [&](int64_t ob, int64_t oe) {
      Walker<2> w(ks, {&kin, &kout}, ob);
      for (int64_t o = ob; o < oe; ++o, w.next()) {
        const I* p = src + w.off[0];
        O* q = dst + w.off[1];
        A acc = Op::init();
        for (int64_t t = 0; t < n; ++t) {
          int64_t i = reverse ? n - 1 - t : t;
          A x = cast_to<A>(p[i * sa]);
          if (inclusive) {
            acc = op(acc, x);
            q[i * so] = cast_to<O>(acc);
          } else {
            q[i * so] = cast_to<O>(acc);
            acc = op(acc, x);
          }
        }
      }
    });
    return;
  }

  // The last kept dim is contiguous in input and output; scan blocks of it together.
  const int64_t m = ks.back();
  ks.pop_back();
  kin.pop_back();
  kout.pop_back();
  if (ks.empty()) {
    ks = {1};
    kin = {0};
    kout = {0};
  }
  const int64_t Mo = prod(ks);
  constexpr int64_t B = 1024;
  const int64_t nblk = (m + B - 1) / B;
  parallel_for(Mo * nblk, std::max<int64_t>(1, kGrain / (std::min(m, B) * std::max<int64_t>(n, 1))),
               [&](int64_t ib, int64_t ie) {
                 auto acc = scratch<A>(B);
                 Walker<2> w(ks, {&kin, &kout});
                 for (int64_t it = ib; it < ie; ++it) {
                   int64_t o = it / nblk, j0 = (it % nblk) * B, len = std::min(B, m - j0);
                   w.seek(o);
                   std::fill(acc.get(), acc.get() + len, Op::init());
                   for (int64_t t = 0; t < n; ++t) {
                     int64_t i = reverse ? n - 1 - t : t;
                     const I* p = src + w.off[0] + i * sa + j0;
                     O* q = dst + w.off[1] + i * so + j0;
                     if (inclusive) {
                       for (int64_t j = 0; j < len; ++j) {
                         acc[j] = op(acc[j], cast_to<A>(p[j]));
                         q[j] = cast_to<O>(acc[j]);
                       }
                     } else {
                       for (int64_t j = 0; j < len; ++j) {
                         q[j] = cast_to<O>(acc[j]);
                         acc[j] = op(acc[j], cast_to<A>(p[j]));
                       }
                     }
                   }
                 }
               });
}

[[noreturn]] void bad_scan_type(Dtype d) {
  throw std::runtime_error("[Scan] kernel got unsupported dtype " + dtype_to_string(d) +
                           " for logaddexp (the op should have rejected it).");
}
}  // namespace

void Scan::eval_cpu(const std::vector<array>& inputs, array& out) {
  const array& in = inputs[0];
  dispatch_dtype(in.dtype(), [&](auto tag) {
    using I = typename decltype(tag)::type;
    using A = acc_t<I>;
    switch (type_) {
      case Sum:
        // Sum of bool counts in int32, as MLX.
        if constexpr (std::is_same_v<I, bool>) return scan_typed<SumOp<int32_t>, I, int32_t>(in, out, axis_, reverse_, inclusive_, SumOp<int32_t>{});
        else return scan_typed<SumOp<A>, I, I>(in, out, axis_, reverse_, inclusive_, SumOp<A>{});
      case Prod: return scan_typed<ProdOp<A>, I, I>(in, out, axis_, reverse_, inclusive_, ProdOp<A>{});
      case Max: return scan_typed<MaxOp<A>, I, I>(in, out, axis_, reverse_, inclusive_, MaxOp<A>{});
      case Min: return scan_typed<MinOp<A>, I, I>(in, out, axis_, reverse_, inclusive_, MinOp<A>{});
      case LogAddExp:
        if constexpr (std::is_floating_point_v<A>) return scan_typed<LogAddExpOp<A>, I, I>(in, out, axis_, reverse_, inclusive_, LogAddExpOp<A>{});
        else bad_scan_type(in.dtype());
    }
  });
}

}  // namespace mica
