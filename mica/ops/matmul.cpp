#include "mica/ops/matmul.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <numeric>
#include <optional>
#include <set>

#include "mica/autocast.h"
#include "mica/einsum.h"
#include "mica/ops/binary.h"
#include "mica/ops/creation.h"
#include "mica/ops/indexing.h"
#include "mica/ops/movement.h"
#include "mica/ops/reduce.h"
#include "mica/ops/unary.h"
#include "mica/ops/utils.h"
#include "mica/primitives/matmul.h"

namespace mica {

namespace {
using detail::fail;
using detail::shape_str;

std::string dtypes_str(const std::vector<array>& xs) {
  std::string s;
  for (size_t i = 0; i < xs.size(); ++i) s += (i ? (i + 1 == xs.size() ? " and " : ", ") : "") + dtype_to_string(xs[i].dtype());
  return s;
}

// The promoted dtype of the operands; products are defined for floating and complex types only.
Dtype product_type(const char* op, const std::vector<array>& xs) {
  Dtype t = xs[0].dtype();
  for (size_t i = 1; i < xs.size(); ++i) t = promote_types(t, xs[i].dtype());
  if (!is_inexact(t)) {
    fail(op, "expected floating point inputs, got " + dtypes_str(xs) + " (which promote to " + dtype_to_string(t) +
                 ").");
  }
  return t;
}

array cast(const array& x, Dtype t, StreamOrDevice s) { return x.dtype() == t ? x : astype(x, t, s); }

array broadcast_if(const array& x, const Shape& shape, StreamOrDevice s) {
  return x.shape() == shape ? x : broadcast_to(x, shape, s);
}

Shape concat_shape(Shape a, const Shape& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

int64_t prod(const Shape& s) {
  int64_t p = 1;
  for (auto d : s) p *= d;
  return p;
}

// Operands of a matrix product, made at least 2-D and broadcast to common batch dims.
struct MatmulOperands {
  array a, b;
  Shape out_shape;    // (batch..., M, N)
  Shape final_shape;  // out_shape without the axes added for 1-D operands
};

MatmulOperands prepare_matmul(const char* op, array a, array b, StreamOrDevice s) {
  if (a.ndim() == 0 || b.ndim() == 0) {
    fail(op, "expected inputs with at least one dimension, got shapes " + shape_str(a.shape()) + " and " +
                 shape_str(b.shape()) + ".");
  }
  Shape sa = a.shape(), sb = b.shape();
  bool row = a.ndim() == 1, col = b.ndim() == 1;
  if (row) a = reshape(a, {1, a.shape(0)}, s);
  if (col) b = reshape(b, {b.shape(0), 1}, s);
  int K = a.shape(-1), M = a.shape(-2), N = b.shape(-1);
  if (b.shape(-2) != K) {
    fail(op, "expected the last dim of a to equal the second-to-last dim of b, got shapes " + shape_str(sa) +
                 " and " + shape_str(sb) + ".");
  }
  Shape batch_a(a.shape().begin(), a.shape().end() - 2), batch_b(b.shape().begin(), b.shape().end() - 2);
  if (!batch_a.empty() && batch_b.empty() && static_cast<int64_t>(prod(batch_a)) * M <= INT32_MAX) {
    // (batch..., M, K) @ (K, N) is one (batch * M, K) @ (K, N) product: one large GEMM instead
    // of a batch of small ones, and b's gradient is one GEMM too, with no sum over the batch
    // (unless batch * M leaves the 32-bit dimensions: then the batched product below).
    int rows = static_cast<int>(prod(batch_a)) * M;
    MatmulOperands r{reshape(a, {rows, K}, s), b, {rows, N}, batch_a};
    if (!row) r.final_shape.push_back(M);
    if (!col) r.final_shape.push_back(N);
    return r;
  }
  Shape batch;
  try {
    batch = broadcast_shapes(batch_a, batch_b);
  } catch (const std::invalid_argument&) {
    fail(op, "expected batch dims that broadcast, got shapes " + shape_str(sa) + " and " + shape_str(sb) + ".");
  }
  MatmulOperands r{broadcast_if(a, concat_shape(batch, {M, K}), s), broadcast_if(b, concat_shape(batch, {K, N}), s),
                   concat_shape(batch, {M, N}), batch};
  if (!row) r.final_shape.push_back(M);
  if (!col) r.final_shape.push_back(N);
  return r;
}

// a @ b contracting axes_a with axes_b (already validated, non-negative).
array contract(const array& a, const array& b, const std::vector<int>& axes_a, const std::vector<int>& axes_b,
               StreamOrDevice s) {
  std::vector<bool> in_a(a.ndim(), false), in_b(b.ndim(), false);
  for (int x : axes_a) in_a[x] = true;
  for (int x : axes_b) in_b[x] = true;
  std::vector<int> perm_a, perm_b = axes_b;
  Shape free_a, free_b;
  for (int i = 0; i < static_cast<int>(a.ndim()); ++i) {
    if (!in_a[i]) perm_a.push_back(i), free_a.push_back(a.shape(i));
  }
  perm_a.insert(perm_a.end(), axes_a.begin(), axes_a.end());
  for (int i = 0; i < static_cast<int>(b.ndim()); ++i) {
    if (!in_b[i]) perm_b.push_back(i), free_b.push_back(b.shape(i));
  }
  int64_t k = 1;
  for (int x : axes_a) k *= a.shape(x);
  array at = reshape(transpose(a, perm_a, s), {static_cast<int>(prod(free_a)), static_cast<int>(k)}, s);
  array bt = reshape(transpose(b, perm_b, s), {static_cast<int>(k), static_cast<int>(prod(free_b))}, s);
  return reshape(matmul(at, bt, s), concat_shape(free_a, free_b), s);
}

array tensordot_impl(const char* op, const array& a, const array& b, const std::vector<int>& axes_a,
                     const std::vector<int>& axes_b, StreamOrDevice s) {
  if (axes_a.size() != axes_b.size()) {
    fail(op, "expected the same number of axes for a and b, got " + std::to_string(axes_a.size()) + " and " +
                 std::to_string(axes_b.size()) + ".");
  }
  std::vector<int> na, nb;
  for (int x : axes_a) na.push_back(detail::normalize_axis(x, a.ndim(), op));
  for (int x : axes_b) nb.push_back(detail::normalize_axis(x, b.ndim(), op));
  if (std::set<int>(na.begin(), na.end()).size() != na.size() || std::set<int>(nb.begin(), nb.end()).size() != nb.size()) {
    fail(op, "expected distinct contraction axes, got a repeated axis.");
  }
  for (size_t i = 0; i < na.size(); ++i) {
    if (a.shape(na[i]) != b.shape(nb[i])) {
      fail(op, "expected equal sizes on the contracted axes, got shapes " + shape_str(a.shape()) + " and " +
                   shape_str(b.shape()) + " (axis " + std::to_string(na[i]) + " vs axis " + std::to_string(nb[i]) +
                   ").");
    }
  }
  product_type(op, {a, b});
  return contract(a, b, na, nb, s);
}
}  // namespace

array matmul(const array& in_a, const array& in_b, StreamOrDevice s) {
  auto m = prepare_matmul("matmul", in_a, in_b, s);
  Dtype t = detail::autocast_product_type(product_type("matmul", {in_a, in_b}));
  array out(m.out_shape, t, std::make_shared<Matmul>(to_stream(s)), {cast(m.a, t, s), cast(m.b, t, s)});
  return m.final_shape == m.out_shape ? out : reshape(out, m.final_shape, s);
}

array addmm(array c, array a, array b, const float& alpha, const float& beta, StreamOrDevice s) {
  auto m = prepare_matmul("addmm", a, b, s);
  Dtype t = detail::autocast_product_type(product_type("addmm", {c, a, b}));
  Shape cs;
  try {
    cs = broadcast_shapes(c.shape(), m.final_shape);
  } catch (const std::invalid_argument&) {
  }
  if (cs != m.final_shape) {
    fail("addmm", "expected c to broadcast to the product's shape " + shape_str(m.final_shape) + ", got shape " +
                      shape_str(c.shape()) + ".");
  }
  // A c that broadcasts to the product's own (possibly folded) shape needs no reshape (a bias).
  Shape co;
  try {
    co = broadcast_shapes(c.shape(), m.out_shape);
  } catch (const std::invalid_argument&) {
  }
  c = co == m.out_shape ? broadcast_if(cast(c, t, s), m.out_shape, s)
                        : reshape(broadcast_if(cast(c, t, s), m.final_shape, s), m.out_shape, s);
  array out(m.out_shape, t, std::make_shared<AddMM>(to_stream(s), alpha, beta),
            {cast(m.a, t, s), cast(m.b, t, s), c});
  return m.final_shape == m.out_shape ? out : reshape(out, m.final_shape, s);
}

array inner(const array& a, const array& b, StreamOrDevice s) {
  if (a.ndim() == 0 || b.ndim() == 0) return multiply(a, b, s);
  if (a.shape(-1) != b.shape(-1)) {
    fail("inner", "expected a and b to have the same last dim, got shapes " + shape_str(a.shape()) + " and " +
                      shape_str(b.shape()) + ".");
  }
  return tensordot_impl("inner", a, b, {-1}, {-1}, s);
}

array outer(const array& a, const array& b, StreamOrDevice s) {
  return multiply(reshape(a, {static_cast<int>(a.size()), 1}, s), reshape(b, {static_cast<int>(b.size())}, s), s);
}

array tensordot(const array& a, const array& b, const int axis, StreamOrDevice s) {
  if (axis < 0) fail("tensordot", "expected a non-negative number of axes, got " + std::to_string(axis) + ".");
  if (axis > static_cast<int>(a.ndim()) || axis > static_cast<int>(b.ndim())) {
    fail("tensordot", "expected at most min(a.ndim, b.ndim) axes, got " + std::to_string(axis) + " for shapes " +
                          shape_str(a.shape()) + " and " + shape_str(b.shape()) + ".");
  }
  std::vector<int> axes_a(axis), axes_b(axis);
  std::iota(axes_a.begin(), axes_a.end(), static_cast<int>(a.ndim()) - axis);
  std::iota(axes_b.begin(), axes_b.end(), 0);
  return tensordot_impl("tensordot", a, b, axes_a, axes_b, s);
}

array tensordot(const array& a, const array& b, const std::vector<int>& axes_a, const std::vector<int>& axes_b,
                StreamOrDevice s) {
  return tensordot_impl("tensordot", a, b, axes_a, axes_b, s);
}

// ---------------------------------------------------------------------------------------------
// einsum: parse the subscripts into integer labels, take diagonals of repeated labels, then
// fold them in the greedy path's order; each step sums out labels nobody needs any more and either
// multiplies (no shared label to contract) or runs one batched matmul.

namespace {
constexpr int kEllipsisLabel = 64;  // ellipsis dims get labels 64, 65, ... (letters are 0..51)

struct Operand {
  array x;
  std::vector<int> labels;
};

std::string label_name(int l) {
  if (l >= kEllipsisLabel) return "...";
  return std::string(1, l < 26 ? static_cast<char>('A' + l) : static_cast<char>('a' + l - 26));
}

// Letters in ASCII order (uppercase first), as the implicit output sorts them.
int letter_label(char c, const std::string& subscripts) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return 26 + (c - 'a');
  fail("einsum", "expected letters, ',', '->' or '...' in the subscripts, got '" + std::string(1, c) + "' in \"" +
                     subscripts + "\".");
}

// One term's letters; ellipsis position as -1 in the returned list (at most one).
std::vector<int> parse_term(const std::string& term, const std::string& subscripts) {
  std::vector<int> out;
  bool seen_ellipsis = false;
  for (size_t i = 0; i < term.size(); ++i) {
    if (term[i] == '.') {
      if (term.compare(i, 3, "...") != 0 || seen_ellipsis) {
        fail("einsum", "expected '.' only as one '...' per term, got \"" + term + "\".");
      }
      seen_ellipsis = true;
      out.push_back(-1);
      i += 2;
    } else if (term[i] != ' ') {
      out.push_back(letter_label(term[i], subscripts));
    }
  }
  return out;
}

std::vector<int> expand_ellipsis(const std::vector<int>& term, int ell_ndim, int max_ell) {
  std::vector<int> out;
  for (int l : term) {
    if (l >= 0) {
      out.push_back(l);
    } else {
      for (int j = 0; j < ell_ndim; ++j) out.push_back(kEllipsisLabel + max_ell - ell_ndim + j);
    }
  }
  return out;
}

int position(const std::vector<int>& v, int l) {
  auto it = std::find(v.begin(), v.end(), l);
  return it == v.end() ? -1 : static_cast<int>(it - v.begin());
}

// Sums out the labels of op for which `drop` holds.
template <typename Pred>
void sum_out(Operand& op, Pred drop, StreamOrDevice s) {
  std::vector<int> axes, kept;
  for (int i = 0; i < static_cast<int>(op.labels.size()); ++i) {
    if (drop(op.labels[i])) axes.push_back(i);
    else kept.push_back(op.labels[i]);
  }
  if (axes.empty()) return;
  op.x = sum(op.x, axes, false, s);
  op.labels = kept;
}

// Transposes op to `order` (labels it has) and sets the size of each listed label.
array arrange(const Operand& op, const std::vector<int>& order, StreamOrDevice s) {
  std::vector<int> perm;
  for (int l : order) perm.push_back(position(op.labels, l));
  return transpose(op.x, perm, s);
}

Operand fold(Operand a, Operand b, const std::set<int>& keep, const std::map<int, int>& size, StreamOrDevice s) {
  auto in = [](const Operand& o, int l) { return position(o.labels, l) >= 0; };
  sum_out(a, [&](int l) { return !keep.count(l) && !in(b, l); }, s);
  sum_out(b, [&](int l) { return !keep.count(l) && !in(a, l); }, s);
  std::vector<int> batch, contracted, free_a, free_b;
  for (int l : a.labels) {
    if (!in(b, l)) free_a.push_back(l);
    else if (keep.count(l)) batch.push_back(l);
    else contracted.push_back(l);
  }
  for (int l : b.labels) {
    if (!in(a, l)) free_b.push_back(l);
  }
  auto sizes_of = [&](const Operand& o, const std::vector<int>& ls) {
    Shape sh;
    for (int l : ls) sh.push_back(o.x.shape(position(o.labels, l)));
    return sh;
  };
  auto full_sizes = [&](const std::vector<int>& ls) {
    Shape sh;
    for (int l : ls) sh.push_back(size.at(l));
    return sh;
  };
  std::vector<int> labels = batch;
  labels.insert(labels.end(), free_a.begin(), free_a.end());
  labels.insert(labels.end(), free_b.begin(), free_b.end());
  Shape fa = sizes_of(a, free_a), fb = sizes_of(b, free_b);
  if (contracted.empty()) {
    // Elementwise product: a as (batch, free_a, 1...), b as (batch, 1..., free_b).
    std::vector<int> oa = batch, ob = batch;
    oa.insert(oa.end(), free_a.begin(), free_a.end());
    ob.insert(ob.end(), free_b.begin(), free_b.end());
    Shape sa = concat_shape(concat_shape(sizes_of(a, batch), fa), Shape(free_b.size(), 1));
    Shape sb = concat_shape(concat_shape(sizes_of(b, batch), Shape(free_a.size(), 1)), fb);
    return {multiply(reshape(arrange(a, oa, s), sa, s), reshape(arrange(b, ob, s), sb, s), s), labels};
  }
  if (!is_inexact(promote_types(a.x.dtype(), b.x.dtype()))) {
    fail("einsum", "expected floating point operands for a contraction, got " + dtypes_str({a.x, b.x}) + ".");
  }
  // Batched matmul: a as (batch, prod(free_a), prod(k)), b as (batch, prod(k), prod(free_b)).
  Shape ks = full_sizes(contracted);
  int k = static_cast<int>(prod(ks));
  std::vector<int> oa = batch, ob = batch;
  oa.insert(oa.end(), free_a.begin(), free_a.end());
  oa.insert(oa.end(), contracted.begin(), contracted.end());
  ob.insert(ob.end(), contracted.begin(), contracted.end());
  ob.insert(ob.end(), free_b.begin(), free_b.end());
  Shape ba = sizes_of(a, batch), bb = sizes_of(b, batch);
  array at = broadcast_if(arrange(a, oa, s), concat_shape(concat_shape(ba, fa), ks), s);
  array bt = broadcast_if(arrange(b, ob, s), concat_shape(concat_shape(bb, ks), fb), s);
  at = reshape(at, concat_shape(ba, {static_cast<int>(prod(fa)), k}), s);
  bt = reshape(bt, concat_shape(bb, {k, static_cast<int>(prod(fb))}), s);
  array p = matmul(at, bt, s);
  Shape batch_out(p.shape().begin(), p.shape().end() - 2);
  return {reshape(p, concat_shape(concat_shape(batch_out, fa), fb), s), labels};
}
}  // namespace

namespace {
// The operands of an einsum as labelled arrays (diagonals of repeated labels taken), the
// output's labels and every label's size.
struct Parsed {
  std::vector<Operand> ops;
  std::vector<int> out;
  std::map<int, int> size;
};

Parsed parse_einsum(const std::string& subscripts, const std::vector<array>& operands, StreamOrDevice s) {
  size_t arrow = subscripts.find("->");
  std::string lhs = subscripts.substr(0, arrow);
  std::vector<std::string> terms;
  for (size_t b = 0;;) {
    size_t e = lhs.find(',', b);
    terms.push_back(lhs.substr(b, e == std::string::npos ? std::string::npos : e - b));
    if (e == std::string::npos) break;
    b = e + 1;
  }
  if (terms.size() != operands.size()) {
    fail("einsum", "expected " + std::to_string(terms.size()) + " operands for subscripts \"" + subscripts +
                       "\", got " + std::to_string(operands.size()) + ".");
  }
  // Parse the terms; ellipsis dims align to the right across operands.
  std::vector<std::vector<int>> parsed;
  std::vector<int> ell_ndim(terms.size(), 0);
  int max_ell = 0;
  for (size_t i = 0; i < terms.size(); ++i) {
    parsed.push_back(parse_term(terms[i], subscripts));
    bool has_ell = position(parsed[i], -1) >= 0;
    int letters = static_cast<int>(parsed[i].size()) - (has_ell ? 1 : 0);
    int nd = static_cast<int>(operands[i].ndim());
    if (has_ell ? nd < letters : nd != letters) {
      fail("einsum", "expected term \"" + terms[i] + "\" to index operand " + std::to_string(i) + " of shape " +
                         shape_str(operands[i].shape()) + ", got " + std::to_string(letters) + " subscripts for " +
                         std::to_string(nd) + " dims.");
    }
    ell_ndim[i] = has_ell ? nd - letters : 0;
    max_ell = std::max(max_ell, ell_ndim[i]);
  }
  std::vector<Operand> ops;
  std::map<int, int> size;
  std::map<int, int> count;  // letter -> number of occurrences over all terms
  for (size_t i = 0; i < terms.size(); ++i) {
    Operand op{operands[i], expand_ellipsis(parsed[i], ell_ndim[i], max_ell)};
    for (size_t d = 0; d < op.labels.size(); ++d) {
      int l = op.labels[d], n = op.x.shape(static_cast<int>(d));
      ++count[l];
      auto it = size.find(l);
      if (it == size.end() || it->second == 1) {
        size[l] = n;
      } else if (n != 1 && n != it->second) {
        fail("einsum", "expected subscript '" + label_name(l) + "' to have size " + std::to_string(it->second) +
                           " (or 1) in operand " + std::to_string(i) + " of shape " + shape_str(op.x.shape()) +
                           ", got " + std::to_string(n) + ".");
      }
    }
    ops.push_back(std::move(op));
  }
  // Output labels.
  std::vector<int> out;
  if (arrow != std::string::npos) {
    std::vector<int> rhs = parse_term(subscripts.substr(arrow + 2), subscripts);
    out = expand_ellipsis(rhs, max_ell, max_ell);
    for (int l : out) {
      if (!size.count(l)) fail("einsum", "expected output subscript '" + label_name(l) + "' to appear in an input.");
      if (std::count(out.begin(), out.end(), l) > 1) {
        fail("einsum", "expected distinct output subscripts, got '" + label_name(l) + "' repeated.");
      }
    }
  } else {
    for (int j = 0; j < max_ell; ++j) out.push_back(kEllipsisLabel + j);
    for (auto [l, c] : count) {
      if (l < kEllipsisLabel && c == 1) out.push_back(l);
    }
  }
  // Repeated labels within one operand: take the diagonal (appended as the last axis).
  for (auto& op : ops) {
    for (;;) {
      int p = -1, q = -1;
      for (int i = 0; i < static_cast<int>(op.labels.size()) && p < 0; ++i) {
        for (int j = i + 1; j < static_cast<int>(op.labels.size()); ++j) {
          if (op.labels[i] == op.labels[j]) {
            p = i, q = j;
            break;
          }
        }
      }
      if (p < 0) break;
      if (op.x.shape(p) != op.x.shape(q)) {
        fail("einsum", "expected equal sizes for the repeated subscript '" + label_name(op.labels[p]) +
                           "', got shape " + shape_str(op.x.shape()) + ".");
      }
      int l = op.labels[p];
      op.x = diagonal(op.x, 0, p, q, s);
      op.labels.erase(op.labels.begin() + q);
      op.labels.erase(op.labels.begin() + p);
      op.labels.push_back(l);
    }
  }
  return {std::move(ops), std::move(out), std::move(size)};
}

// ---- the contraction order: numpy's (and MLX's) greedy path ----
// At each step, of the pairs of operands that share a label (all pairs when none do), contract
// the one that removes the most elements (input sizes minus the result's), then the cheapest;
// ties go to the first pair found. Intermediates larger than the largest input or output, and
// steps that would make the path dearer than the naive contraction, are not taken.
using LabelSet = std::set<int>;

double size_of(const LabelSet& ls, const std::map<int, int>& size) {
  double n = 1;
  for (int l : ls) n *= size.at(l);
  return n;
}
// Multiply-adds of contracting `labels` over `terms` operands (one more when labels are summed).
double flop_count(const LabelSet& labels, bool inner, int terms, const std::map<int, int>& size) {
  return size_of(labels, size) * (std::max(1, terms - 1) + (inner ? 1 : 0));
}

struct Contraction {
  LabelSet result, removed, contracted;
  std::vector<LabelSet> sets;  // the operands after it: the others in order, then the result
};
Contraction contract_sets(const std::vector<int>& pos, const std::vector<LabelSet>& sets, const LabelSet& out) {
  Contraction c;
  LabelSet remain = out;
  for (int k = 0; k < static_cast<int>(sets.size()); ++k) {
    if (std::find(pos.begin(), pos.end(), k) != pos.end()) {
      c.contracted.insert(sets[k].begin(), sets[k].end());
    } else {
      c.sets.push_back(sets[k]);
      remain.insert(sets[k].begin(), sets[k].end());
    }
  }
  for (int l : c.contracted) (remain.count(l) ? c.result : c.removed).insert(l);
  c.sets.push_back(c.result);
  return c;
}

struct Candidate {
  double neg_removed, cost;
  int i, j;
  std::vector<LabelSet> sets;
};
std::optional<Candidate> candidate(int i, int j, const std::vector<LabelSet>& sets, const LabelSet& out,
                                   const std::map<int, int>& size, double limit, double path_cost, double naive) {
  Contraction c = contract_sets({i, j}, sets, out);
  const double new_size = size_of(c.result, size);
  if (new_size > limit) return std::nullopt;
  const double removed = size_of(sets[i], size) + size_of(sets[j], size) - new_size;
  const double cost = flop_count(c.contracted, !c.removed.empty(), 2, size);
  if (path_cost + cost > naive) return std::nullopt;
  return Candidate{-removed, cost, i, j, std::move(c.sets)};
}

std::vector<std::vector<int>> greedy_path(std::vector<LabelSet> sets, const LabelSet& out,
                                          const std::map<int, int>& size, double limit, double naive) {
  const int n = static_cast<int>(sets.size());
  if (n <= 2) {
    std::vector<int> all(n);
    std::iota(all.begin(), all.end(), 0);
    return {all};
  }
  std::vector<std::vector<int>> path;
  std::vector<Candidate> known;
  double path_cost = 0;
  std::vector<std::pair<int, int>> pairs;  // the pairs to look at this round
  for (int i = 0; i < n; ++i) {
    for (int j = i + 1; j < n; ++j) pairs.emplace_back(i, j);
  }
  auto disjoint = [](const LabelSet& a, const LabelSet& b) {
    for (int l : a) {
      if (b.count(l)) return false;
    }
    return true;
  };
  for (int round = 0; round < n - 1; ++round) {
    for (auto [i, j] : pairs) {
      if (disjoint(sets[i], sets[j])) continue;
      if (auto c = candidate(i, j, sets, out, size, limit, path_cost, naive)) known.push_back(std::move(*c));
    }
    if (known.empty()) {  // only outer products are left
      const int m = static_cast<int>(sets.size());
      for (int i = 0; i < m; ++i) {
        for (int j = i + 1; j < m; ++j) {
          if (auto c = candidate(i, j, sets, out, size, limit, path_cost, naive)) known.push_back(std::move(*c));
        }
      }
      if (known.empty()) {
        std::vector<int> all(sets.size());
        std::iota(all.begin(), all.end(), 0);
        path.push_back(all);
        break;
      }
    }
    size_t best = 0;
    for (size_t k = 1; k < known.size(); ++k) {
      if (std::make_pair(known[k].neg_removed, known[k].cost) <
          std::make_pair(known[best].neg_removed, known[best].cost)) {
        best = k;
      }
    }
    Candidate chosen = known[best];
    // The other candidates stay valid if they do not use the two operands just contracted:
    // their positions shift, and their operand lists take the new result.
    std::vector<Candidate> kept;
    const int bx = chosen.i, by = chosen.j;
    for (auto& c : known) {
      if (c.i == bx || c.i == by || c.j == bx || c.j == by) continue;
      c.sets.erase(c.sets.begin() + (by - (by > c.i) - (by > c.j)));
      c.sets.erase(c.sets.begin() + (bx - (bx > c.i) - (bx > c.j)));
      c.sets.insert(c.sets.end() - 1, chosen.sets.back());
      c.i -= (c.i > bx) + (c.i > by);
      c.j -= (c.j > bx) + (c.j > by);
      kept.push_back(std::move(c));
    }
    known = std::move(kept);
    sets = chosen.sets;
    const int fresh = static_cast<int>(sets.size()) - 1;
    pairs.clear();
    for (int i = 0; i < fresh; ++i) pairs.emplace_back(i, fresh);
    path.push_back({bx, by});
    path_cost += chosen.cost;
  }
  return path;
}

// The path and its report for parsed operands (see einsum_path).
std::pair<std::vector<std::vector<int>>, std::string> plan_einsum(const Parsed& p, const std::string& subscripts) {
  std::vector<LabelSet> sets;
  LabelSet all, out(p.out.begin(), p.out.end());
  size_t total_labels = 0;
  for (const auto& op : p.ops) {
    sets.emplace_back(op.labels.begin(), op.labels.end());
    all.insert(op.labels.begin(), op.labels.end());
    total_labels += sets.back().size();
  }
  const int n = static_cast<int>(sets.size());
  const double naive = flop_count(all, total_labels > all.size(), n, p.size);
  double limit = size_of(out, p.size);
  for (const auto& st : sets) limit = std::max(limit, size_of(st, p.size));
  std::vector<std::vector<int>> path = greedy_path(sets, out, p.size, limit, naive);
  // Replay the path for its cost and widest step.
  double opt = 0;
  size_t scaling = 0;
  std::vector<LabelSet> cur = sets;
  for (const auto& step : path) {
    Contraction c = contract_sets(step, cur, out);
    opt += flop_count(c.contracted, !c.removed.empty(), static_cast<int>(step.size()), p.size);
    scaling = std::max(scaling, c.contracted.size());
    cur = std::move(c.sets);
  }
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "  Complete contraction:  %s\n         Naive scaling:  %zu\n     Optimized scaling:  %zu\n"
                "      Naive FLOP count:  %.0f\n  Optimized FLOP count:  %.0f\n",
                subscripts.c_str(), all.size(), scaling, naive, opt);
  return {path, buf};
}
}  // namespace

std::pair<std::vector<std::vector<int>>, std::string> einsum_path(const std::string& subscripts,
                                                                  const std::vector<array>& operands) {
  return plan_einsum(parse_einsum(subscripts, operands, {}), subscripts);
}

array einsum(const std::string& subscripts, const std::vector<array>& operands, StreamOrDevice s) {
  Parsed p = parse_einsum(subscripts, operands, s);
  const auto path = plan_einsum(p, subscripts).first;
  std::vector<Operand> ops = std::move(p.ops);
  const std::vector<int>& out = p.out;
  const std::set<int> out_set(out.begin(), out.end());
  // Each step folds its operands into one (appended last); the labels kept are the output's and
  // those of the operands not in the step.
  for (const auto& step : path) {
    std::vector<int> pos = step;
    std::sort(pos.begin(), pos.end());
    std::set<int> keep = out_set;
    for (int k = 0; k < static_cast<int>(ops.size()); ++k) {
      if (!std::binary_search(pos.begin(), pos.end(), k)) keep.insert(ops[k].labels.begin(), ops[k].labels.end());
    }
    Operand cur = ops[pos[0]];
    for (size_t i = 1; i < pos.size(); ++i) {
      std::set<int> keep_i = keep;
      for (size_t j = i + 1; j < pos.size(); ++j) keep_i.insert(ops[pos[j]].labels.begin(), ops[pos[j]].labels.end());
      cur = fold(std::move(cur), ops[pos[i]], keep_i, p.size, s);
    }
    for (auto it = pos.rbegin(); it != pos.rend(); ++it) ops.erase(ops.begin() + *it);
    ops.push_back(std::move(cur));
  }
  Operand cur = std::move(ops.back());
  sum_out(cur, [&](int l) { return !out_set.count(l); }, s);
  array r = arrange(cur, out, s);
  Shape want;
  for (int l : out) want.push_back(p.size.at(l));
  return broadcast_if(r, want, s);
}

array gather_mm(array a, array b, std::optional<array> lhs_indices, std::optional<array> rhs_indices,
                bool sorted_indices, StreamOrDevice s) {
  const char* op = "gather_mm";
  if (a.ndim() < 2 || b.ndim() < 2)
    fail(op, "expected operands of at least 2 dims, got shapes " + shape_str(a.shape()) + " and " + shape_str(b.shape()) + ".");
  if (a.shape(-1) != b.shape(-2))
    fail(op, "expected a's last dim to match b's second to last, got shapes " + shape_str(a.shape()) + " and " +
                 shape_str(b.shape()) + ".");
  for (const auto* idx : {&lhs_indices, &rhs_indices}) {
    if (*idx && !issubdtype((*idx)->dtype(), integer))
      fail(op, "expected integer indices, got " + dtype_to_string((*idx)->dtype()) + ".");
  }
  product_type(op, {a, b});
  // Gather whole matrices from the flattened batch of each operand, then one batched product.
  // A missing index array is every batch entry in order, shaped like the batch dims.
  auto flat = [&](const array& x) {
    // The batch dims' product (not size / matrix size: a matrix may have no elements).
    int64_t n = 1;
    for (size_t d = 0; d + 2 < x.ndim(); ++d)
      if (__builtin_mul_overflow(n, int64_t(x.shape(d)), &n)) n = std::numeric_limits<int64_t>::max();
    return reshape(x, {detail::checked_dim(n, op), x.shape(-2), x.shape(-1)}, s);
  };
  auto indices = [&](const std::optional<array>& idx, const array& x) {
    if (idx) return *idx;
    Shape batch(x.shape().begin(), x.shape().end() - 2);
    return reshape(arange(0.0, double(prod(batch)), int32, s), batch, s);
  };
  array li = indices(lhs_indices, a), ri = indices(rhs_indices, b);
  Shape out_batch = broadcast_shapes(li.shape(), ri.shape());
  (void)sorted_indices;  // a hint for fused kernels; the gathers do not depend on the order
  array ag = take(flat(a), broadcast_if(li, out_batch, s), 0, s);
  array bg = take(flat(b), broadcast_if(ri, out_batch, s), 0, s);
  return matmul(ag, bg, s);
}

// ---- vecdot, kron, segmented_mm, hadamard_transform (compositions) ----

array vecdot(const array& a, const array& b, int axis, StreamOrDevice s) {
  const Shape sh = broadcast_shapes(a.shape(), b.shape());
  const int ax = detail::normalize_axis(axis, static_cast<int>(sh.size()), "vecdot");
  array ca = a.dtype() == complex64 ? conjugate(a, s) : a;
  return sum(multiply(ca, b, s), ax, false, s);
}

array kron(const array& a, const array& b, StreamOrDevice s) {
  const int nd = static_cast<int>(std::max(a.ndim(), b.ndim()));
  if (nd == 0) return multiply(a, b, s);
  Shape as(nd - a.ndim(), 1), bs(nd - b.ndim(), 1);
  as.insert(as.end(), a.shape().begin(), a.shape().end());
  bs.insert(bs.end(), b.shape().begin(), b.shape().end());
  // a as (a_0, 1, a_1, 1, ...) times b as (1, b_0, 1, b_1, ...), then each pair of axes merged.
  Shape ai, bi, out;
  for (int d = 0; d < nd; ++d) {
    ai.insert(ai.end(), {as[d], 1});
    bi.insert(bi.end(), {1, bs[d]});
    int64_t n = int64_t(as[d]) * bs[d];
    out.push_back(detail::checked_dim(n, "kron"));
  }
  return reshape(multiply(reshape(a, ai, s), reshape(b, bi, s), s), out, s);
}

array segmented_mm(array a, array b, array segments, StreamOrDevice s) {
  const char* op = "segmented_mm";
  if (a.ndim() < 2 || b.ndim() < 2 || a.shape(-1) != b.shape(-2))
    fail(op, "expected a (..., M, K) and b (..., K, N), got shapes " + shape_str(a.shape()) + " and " + shape_str(b.shape()) + ".");
  if (segments.ndim() < 2 || segments.shape(-1) != 2)
    fail(op, "expected segments of shape (..., S, 2), got " + shape_str(segments.shape()) + ".");
  if (!issubdtype(segments.dtype(), integer))
    fail(op, "expected integer segments, got " + dtype_to_string(segments.dtype()) + ".");
  // Segment j keeps the inner indices k with start_j <= k < end_j (bounds outside [0, K) keep
  // nothing more): a mask over K per segment, applied to a's columns.
  const int K = a.shape(-1);
  Shape lo_b(segments.ndim(), 0), lo_e = segments.shape();
  lo_e.back() = 1;
  array start = slice(segments, lo_b, lo_e, s);
  lo_b.back() = 1;
  lo_e.back() = 2;
  array end = slice(segments, lo_b, lo_e, s);
  array k = astype(arange(0.0, double(K), 1.0, int32, s), segments.dtype(), s);
  array mask = logical_and(greater_equal(k, start, s), less(k, end, s), s);  // (..., S, K)
  array out = matmul(multiply(expand_dims(a, -3, s), expand_dims(mask, -2, s), s), expand_dims(b, -3, s), s);
  return out;
}

namespace {
// The Hadamard matrices of orders 12, 20 and 28 that MLX's hadamard_transform uses (its values;
// '+' is 1, '-' is -1). Sizes m * 2^k transform by kron(H_m, H_{2^k}).
// Order 12: row i is the transform of the i-th unit vector.
constexpr const char* kHadamard12[12] = {
    "+-++++++++++", "--+-+-+-+-+-", "+++-++----++", "+---+--+-++-",
    "+++++-++----", "+-+---+--+-+", "++--+++-++--", "+--++---+--+",
    "++----+++-++", "+--+-++---+-", "++++----+++-", "+-+--+-++---",
};
// Order 20: row i is the transform of the i-th unit vector.
constexpr const char* kHadamard20[20] = {
    "+-----++++--++--+--+", "-+---+-+++---+++-+--", "--+--++-+++---+-+-+-", "---+-+++-+++-----+-+",
    "----+++++--++--+--+-", "+----+----+-++---++-", "-+----+----+-++---++", "--+----+--+-+-++---+",
    "---+----+-++-+-++---", "----+----+-++-+-++--", "++--+-+--++----+----", "+++--+-+---+----+---",
    "-+++--+-+---+----+--", "--+++--+-+---+----+-", "+--+++--+-----+----+", "+-++-++--+-+++++----",
    "-+-+++++--+-+++-+---", "+-+-+-+++-++-++--+--", "++-+---++++++-+---+-", "-++-++--++++++-----+",
};
// Order 28: row i is the transform of the i-th unit vector.
constexpr const char* kHadamard28[28] = {
    "+--------++++--+-++-+-++--++", "-+--------+++++-+-++-+-++--+", "--+----+---+++-+-+-++++-++--", "---+---++---+++-+-+-+-++-++-",
    "----+--+++---+++-+-+---++-++", "-----+-++++----++-+-++--++-+", "------+-++++--+-++-+-++--++-", "++----++------+--++---+-++-+",
    "+++-----+------+--++-+-+-++-", "-+++-----+------+--++-+-+-++", "--+++-----+---+--+--++-+-+-+", "---+++-----+--++--+--++-+-+-",
    "----+++-----+--++--+--++-+-+", "+----++------+--++--++-++-+-", "+-+--+--++--+++------++----+", "-+-+--++-++--+-+-----+++----",
    "+-+-+--++-++----+-----+++---", "-+-+-+--++-++----+-----+++--", "--+-+-+--++-++----+-----+++-", "+--+-+-+--++-+-----+-----+++",
    "-+--+-+++--++-------++----++", "+--++--+-+--+---++++-+------", "-+--++--+-+--+---++++-+-----", "--+--+++-+-+--+---+++--+----",
    "+--+--+-+-+-+-++---++---+---", "++--+----+-+-++++---+----+--", "-++--+-+--+-+-++++--------+-", "--++--+-+--+-+-++++--------+",
};
// H_m as an (m, m) array, or nothing for m = 1.
std::optional<array> small_hadamard(int m, Dtype dt) {
  const char* const* rows = m == 12 ? kHadamard12 : m == 20 ? kHadamard20 : m == 28 ? kHadamard28 : nullptr;
  if (!rows) return std::nullopt;
  std::vector<float> v;
  v.reserve(static_cast<size_t>(m) * m);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < m; ++j) v.push_back(rows[i][j] == '+' ? 1.0f : -1.0f);
  return astype(array(v.data(), Shape{m, m}, float32), dt);
}
}  // namespace

array hadamard_transform(const array& a, std::optional<float> scale, StreamOrDevice s) {
  const char* op = "hadamard_transform";
  if (a.dtype() == complex64) fail(op, "expected a real array, got complex64.");
  const int n = a.ndim() ? a.shape(-1) : 1;
  auto power_of_two = [](int v) { return v >= 1 && (v & (v - 1)) == 0; };
  int m = 0;
  for (int c : {1, 12, 20, 28}) {
    if (n % c == 0 && power_of_two(n / c)) m = c;
  }
  if (m == 0)
    fail(op, "expected a last axis of size m * 2^k with m in (1, 12, 20, 28), got " + std::to_string(n) + ".");
  const int p = n / m;
  const Dtype out = is_floating(a.dtype()) ? a.dtype() : float32;
  const Dtype ct = out == float64 ? float64 : float32;
  const Shape sh = a.shape();
  Shape lead(sh.begin(), sh.end() - (a.ndim() ? 1 : 0));
  // x as (..., m, p): Sylvester's H_p along the last axis, then H_m along the one before.
  Shape mp = lead;
  mp.insert(mp.end(), {m, p});
  array x = reshape(astype(a, ct, s), mp, s);
  // Butterflies of stride h = 1, 2, 4, ...: (x_i, x_{i+h}) -> (x_i + x_{i+h}, x_i - x_{i+h}),
  // which builds Sylvester's order (H_2n = [[H, H], [H, -H]]).
  for (int h = 1; h < p; h *= 2) {
    Shape blocks = lead;
    blocks.insert(blocks.end(), {m, p / (2 * h), 2, h});
    array v = reshape(x, blocks, s);
    Shape b0(blocks.size(), 0), e0 = blocks;
    e0[blocks.size() - 2] = 1;
    array top = slice(v, b0, e0, s);
    b0[blocks.size() - 2] = 1;
    e0[blocks.size() - 2] = 2;
    array bot = slice(v, b0, e0, s);
    x = reshape(concatenate({add(top, bot, s), subtract(top, bot, s)}, -2, s), mp, s);
  }
  // y = x kron(H_m, H_p): y[a', b] = sum_a H_m[a, a'] x[a, b].
  if (auto hm = small_hadamard(m, ct)) x = matmul(transpose(*hm, {1, 0}, s), x, s);
  const double sc = scale ? double(*scale) : 1.0 / std::sqrt(double(n));
  return astype(multiply(reshape(x, sh, s), array(sc, ct), s), out, s);
}

array block_masked_mm(array a, array b, int block_size, std::optional<array> mask_out, std::optional<array> mask_lhs,
                      std::optional<array> mask_rhs, StreamOrDevice s) {
  const char* op = "block_masked_mm";
  if (block_size <= 0) fail(op, "expected a positive block size, got " + std::to_string(block_size) + ".");
  if (a.ndim() < 2 || b.ndim() < 2 || a.shape(-1) != b.shape(-2))
    fail(op, "expected a (..., M, K) and b (..., K, N), got shapes " + shape_str(a.shape()) + " and " + shape_str(b.shape()) + ".");
  const int M = a.shape(-2), K = a.shape(-1), N = b.shape(-1);
  auto blocks = [&](int n) { return (n + block_size - 1) / block_size; };
  // A block mask (..., ceil(rows / bs), ceil(cols / bs)) spread over the elements (..., rows, cols).
  auto spread = [&](const array& m, int rows, int cols, const char* which, Dtype t) {
    if (m.ndim() < 2 || m.shape(-2) != blocks(rows) || m.shape(-1) != blocks(cols))
      fail(op, std::string("expected ") + which + " of shape (..., " + std::to_string(blocks(rows)) + ", " +
                   std::to_string(blocks(cols)) + "), got " + shape_str(m.shape()) + ".");
    if (m.dtype() != bool_ && !is_floating(m.dtype()))
      fail(op, std::string("expected a bool or floating ") + which + ", got " + dtype_to_string(m.dtype()) + ".");
    array e = repeat(repeat(astype(m, t, s), block_size, -2, s), block_size, -1, s);
    Shape lo(e.ndim(), 0), hi = e.shape();
    hi[hi.size() - 2] = rows;
    hi.back() = cols;
    return slice(e, lo, hi, s);
  };
  const Dtype t = promote_types(a.dtype(), b.dtype());
  if (mask_lhs) a = multiply(a, spread(*mask_lhs, M, K, "mask_lhs", t), s);
  if (mask_rhs) b = multiply(b, spread(*mask_rhs, K, N, "mask_rhs", t), s);
  array out = matmul(a, b, s);
  if (mask_out) out = multiply(out, spread(*mask_out, M, N, "mask_out", out.dtype()), s);
  return out;
}

}  // namespace mica
