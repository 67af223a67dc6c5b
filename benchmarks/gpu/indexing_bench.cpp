// GPU benchmarks of the indexing family, at GPT-2 training sizes: the embedding lookup (8192
// rows of 768 gathered from a 50304-row table), its gradient (the 8192 rows scatter-added into
// a zeros table: filling the table is part of the work, as in the backward pass), and
// take_along_axis picking each row's target logit of (8192, 50304) logits (cross-entropy).
#include "benchmarks/gpu/bench.h"

namespace mx = mica;
using mica_bench::median_seconds;
using mica_bench::report;

MICA_GPU_BENCH(indexing) {
  const int V = 50304, D = 768, N = 8192;
  auto ids = mx::random::randint(0, V, {N}, mx::int32);
  mx::eval(ids);
  for (mx::Dtype dt : {mx::float32, mx::bfloat16}) {
    std::string sfx = dt == mx::float32 ? "_f32" : "_bf16";
    const double es = dt.size;
    auto table = mx::astype(mx::random::uniform({V, D}, mx::float32), dt);
    auto grad = mx::astype(mx::random::uniform({N, 1, D}, mx::float32), dt);
    mx::eval(table, grad);
    // Reads and writes N rows.
    report("embedding_gather" + sfx, median_seconds([&] { return mx::take(table, ids, 0); }), 2.0 * N * D * es);
    // Writes the table once; reads the N update rows; reads and writes N table rows.
    report("embedding_grad" + sfx, median_seconds([&] {
             return mx::scatter_add(mx::zeros({V, D}, dt), ids, grad, 0);
           }),
           (double(V) * D + 3.0 * N * D) * es);
  }
  auto logits = mx::random::uniform({N, V}, mx::float32);
  auto targets = mx::reshape(ids, {N, 1});
  mx::eval(logits, targets);
  // One index, one 32-byte sector of logits and one output per row.
  report("take_along_axis_f32", median_seconds([&] { return mx::take_along_axis(logits, targets, -1); }),
         N * (4.0 + 32.0 + 4.0));
}
