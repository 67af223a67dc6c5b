// The code of docs/guides/from_numpy.md: every region between `// [snippet: name]` and `// [end]`
// appears verbatim in the guide, and main() checks what each one computes. Files are written to
// the current directory (the guide test runs this program in a scratch directory).
#include <cmath>
#include <vector>

#include "guide_check.h"
#include "mica/mica.h"

namespace mx = mica;

namespace {

bool same(const mx::array& a, const mx::array& b) { return mx::array_equal(a, b).item<bool>(); }

void creation() {
  // [snippet: create]
  mx::array ints = mx::array({1, 2, 3});           // int32 (NumPy would pick int64)
  mx::array floats = mx::array({1.0, 2.0, 3.0});   // float32 (NumPy would pick float64)
  mx::array grid = mx::reshape(mx::arange(12), {3, 4});
  mx::array steps = mx::linspace(0.0, 1.0, 5);     // 0, 0.25, 0.5, 0.75, 1
  mx::array sevens = mx::full({2, 2}, 7.0f);
  mx::array id = mx::eye(3);
  mx::array wide = mx::array({1.0, 2.0}, mx::float64);  // 64 bits only when asked for
  // [end]
  GUIDE_CHECK(ints.dtype() == mx::int32, "integer lists are int32");
  GUIDE_CHECK(floats.dtype() == mx::float32, "double lists are float32");
  GUIDE_CHECK(grid.shape() == (mx::Shape{3, 4}) && grid.dtype() == mx::int32, "grid is 3x4 int32");
  GUIDE_CHECK(mx::take(steps, 1).item<float>() == 0.25f, "linspace includes both ends");
  GUIDE_CHECK(mx::sum(sevens).item<float>() == 28.0f && mx::sum(id).item<float>() == 3.0f, "full and eye");
  GUIDE_CHECK(wide.dtype() == mx::float64, "float64 on request");
}

void promotion() {
  // [snippet: promotion]
  mx::array i = mx::array({1, 2, 3});             // int32
  mx::Dtype a = (i * 0.5f).dtype();              // float32: a float scalar makes ints float
  mx::Dtype b = (i / 2).dtype();                 // float32: divide is true division
  mx::Dtype c = mx::floor_divide(i, mx::array(2)).dtype();  // int32, as NumPy's //
  mx::array h = mx::astype(i, mx::float16);
  mx::Dtype d = (h * 2.5).dtype();               // float16: C++ scalars are weakly typed
  mx::Dtype e = (h + mx::array(2.5f)).dtype();   // float32: an array's dtype always counts
  mx::Dtype f = (i + mx::array({1u, 2u, 3u})).dtype();  // int64: int32 with uint32
  mx::Dtype g = mx::promote_types(mx::int32, mx::float16);  // float16 (NumPy: float64)
  // [end]
  GUIDE_CHECK(a == mx::float32 && b == mx::float32 && c == mx::int32, "int promotions");
  GUIDE_CHECK(d == mx::float16 && e == mx::float32, "float16 promotions");
  GUIDE_CHECK(f == mx::int64, "int32 with uint32 is int64");
  GUIDE_CHECK(g == mx::float16, "int32 with float16 is float16");
}

void broadcasting() {
  mx::array grid = mx::reshape(mx::arange(12), {3, 4});
  // [snippet: broadcasting]
  mx::array col = mx::reshape(mx::arange(3), {3, 1});
  mx::array row = mx::arange(4);
  mx::array table = col * 10 + row;                       // (3, 1) with (4,) -> (3, 4)
  mx::array rows = mx::broadcast_to(row, {3, 4});         // a view; no copy
  mx::array centered = grid - mx::mean(grid, 0, true);    // keepdims, as NumPy's keepdims=True
  // [end]
  GUIDE_CHECK(table.shape() == (mx::Shape{3, 4}) && mx::take(table, 7).item<int>() == 13, "table[1][3] = 13");
  GUIDE_CHECK(rows.shape() == (mx::Shape{3, 4}), "broadcast_to");
  GUIDE_CHECK(mx::all(mx::abs(mx::mean(centered, 0)) < 1e-6f).item<bool>(), "columns are centred");
}

void indexing() {
  mx::array grid = mx::reshape(mx::arange(12), {3, 4});  // 0..11 in three rows
  // [snippet: indexing]
  mx::array part = mx::slice(grid, {1, 0}, {3, 4}, {1, 2});          // grid[1:3, ::2]
  mx::array last_col = mx::take(grid, -1, 1);                        // grid[:, -1]
  mx::array picked_rows = mx::take(grid, mx::array({2, 0}), 0);      // grid[[2, 0]]
  mx::array per_row = mx::take_along_axis(grid, mx::array({3, 0, 1}, {3, 1}), 1);  // one per row
  mx::array flat = mx::take(grid, mx::array({0, 5, 11}));            // grid.flat[[0, 5, 11]]
  // [end]
  GUIDE_CHECK(same(part, mx::array({4, 6, 8, 10}, {2, 2})), "slice with a step");
  GUIDE_CHECK(same(last_col, mx::array({3, 7, 11})), "the last column");
  GUIDE_CHECK(same(picked_rows, mx::array({8, 9, 10, 11, 0, 1, 2, 3}, {2, 4})), "rows 2 and 0");
  GUIDE_CHECK(same(per_row, mx::array({3, 4, 9}, {3, 1})), "take_along_axis");
  GUIDE_CHECK(same(flat, mx::array({0, 5, 11})), "flat take");

  // [snippet: masks-and-writes]
  // grid[grid > 5] would have a shape known only from the data; keep the shape with where:
  mx::array big_only = mx::where(grid > 5, grid, mx::array(0));
  mx::array count = mx::sum(grid > 5);                                // 6 elements are > 5
  // grid[0, 1] = 100 writes nothing: slice_update returns a new array
  mx::array written = mx::slice_update(grid, mx::array(100), {0, 1}, {1, 2});
  // [end]
  GUIDE_CHECK(mx::sum(big_only).item<int>() == 6 + 7 + 8 + 9 + 10 + 11, "where keeps the big ones");
  GUIDE_CHECK(count.item<int>() == 6, "six elements exceed 5");
  GUIDE_CHECK(mx::take(written, 1).item<int>() == 100 && mx::take(grid, 1).item<int>() == 1, "a copy was written");
}

void reductions() {
  mx::array grid = mx::reshape(mx::arange(12), {3, 4});
  // [snippet: reductions]
  int total = mx::sum(grid).item<int>();            // 66 (the sum of int32 stays int32)
  mx::array col_sums = mx::sum(grid, 0);            // (4,): 12 15 18 21
  mx::array row_means = mx::mean(grid, 1);          // float32: 1.5 5.5 9.5
  mx::array best = mx::argmax(grid, 1);             // uint32 indices (NumPy: int64)
  mx::array spread = mx::var(grid, {0, 1});         // ddof = 0, as NumPy's default
  mx::array top = mx::max(grid, {0, 1}, true);      // shape (1, 1) with keepdims
  // [end]
  GUIDE_CHECK(total == 66, "0 + ... + 11");
  GUIDE_CHECK(same(col_sums, mx::array({12, 15, 18, 21})), "column sums");
  GUIDE_CHECK(row_means.dtype() == mx::float32 && same(row_means, mx::array({1.5f, 5.5f, 9.5f})), "row means");
  GUIDE_CHECK(best.dtype() == mx::uint32 && same(best, mx::array({3u, 3u, 3u})), "argmax per row");
  GUIDE_CHECK(std::fabs(spread.item<float>() - 143.0f / 12.0f) < 1e-4f, "population variance");
  GUIDE_CHECK(top.shape() == (mx::Shape{1, 1}) && top.item<int>() == 11, "max with keepdims");
}

void fourier() {
  // [snippet: fft]
  mx::array t = mx::arange(0.0, 1.0, 1.0 / 64);                 // 64 samples over one second
  mx::array signal = mx::sin(t * (2 * 3.14159265 * 5));          // a 5 Hz sine
  mx::array spectrum = mx::fft::rfft(signal);                    // complex64, 64 / 2 + 1 = 33 bins
  mx::array freqs = mx::fft::rfftfreq(64, 1.0 / 64);             // 0, 1, ..., 32 (Hz)
  mx::array peak = mx::argmax(mx::abs(spectrum));                // bin 5, the 5 Hz line
  mx::array back = mx::fft::irfft(spectrum, 64, -1);             // n = 64 along axis -1
  mx::array unitary = mx::fft::fft(signal, -1, mx::fft::FFTNorm::Ortho);  // norm="ortho"
  // [end]
  GUIDE_CHECK(spectrum.dtype() == mx::complex64 && spectrum.shape() == (mx::Shape{33}), "33 complex bins");
  GUIDE_CHECK(mx::take(freqs, 32).item<float>() == 32.0f, "the last bin is 32 Hz");
  GUIDE_CHECK(peak.item<uint32_t>() == 5, "the peak is at 5 Hz");
  GUIDE_CHECK(mx::max(mx::abs(back - signal)).item<float>() < 1e-5f, "irfft inverts rfft");
  // Parseval with norm="ortho": the transform keeps the energy.
  float energy = mx::sum(mx::square(signal)).item<float>();
  float unitary_energy = mx::sum(mx::square(mx::abs(unitary))).item<float>();
  GUIDE_CHECK(std::fabs(unitary_energy - energy) < 1e-3f * energy, "ortho keeps energy");
}

void laziness() {
  // [snippet: lazy]
  mx::array r = mx::sqrt(mx::linspace(0.0, 1.0, 5));  // a graph, not numbers (yet)
  mx::eval(r);                                        // data<T>() reads a buffer: evaluate first
  const float* p = r.data<float>();
  std::vector<float> values(p, p + r.size());         // like r.tolist()
  // [end]
  GUIDE_CHECK(values.size() == 5 && values[4] == 1.0f && values[1] == 0.5f, "sqrt(0.25) = 0.5");
}

void files() {
  mx::array grid = mx::reshape(mx::arange(12), {3, 4});
  mx::array steps = mx::linspace(0.0, 1.0, 5);
  // [snippet: files]
  mx::save("grid.npy", grid);                              // np.load("grid.npy") reads it
  mx::array back = mx::load("grid.npy");                   // and np.save's files load here
  mx::savez("arrays.npz", {{"grid", grid}, {"steps", steps}});
  auto loaded = mx::load_npz("arrays.npz");                // {"grid": ..., "steps": ...}
  // [end]
  GUIDE_CHECK(same(back, grid), "npy round trip");
  GUIDE_CHECK(loaded.size() == 2 && same(loaded.at("steps"), steps), "npz round trip");
}

}  // namespace

int main() {
  mx::set_default_device(mx::Device::cpu);  // the guides run on machines without a GPU
  guide::run("create", creation);
  guide::run("promotion", promotion);
  guide::run("broadcasting", broadcasting);
  guide::run("indexing", indexing);
  guide::run("reductions", reductions);
  guide::run("fft", fourier);
  guide::run("lazy", laziness);
  guide::run("files", files);
  return guide::finish("from_numpy");
}
