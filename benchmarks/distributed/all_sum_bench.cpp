// mica::distributed::all_sum beside Open MPI's own MPI_Allreduce on the same buffers, in one run:
//   mpirun -np 2 ./all_sum_bench [iterations scale]
// Each size (float32, 1 KiB .. 64 MiB) runs both for the same number of iterations, interleaved
// in rounds (so drift in a shared machine hits both), and reports the median round's time per
// call, mica / MPI of the medians and of the best rounds (less sensitive to a busy machine). mica's time includes building the node, evaluating it (its output buffer
// comes from the caching allocator) and its header check (MICA_DIST_CHECK=0 leaves it out).
// MPI: MPI_Allreduce(x, y) out of place, x and y allocated once.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "mica/distributed/distributed.h"
#include "mica/mica.h"

namespace mx = mica;
namespace dist = mica::distributed;

namespace {
double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// Seconds per call of f over `iters` calls, every rank starting together.
template <typename F>
double time_calls(int iters, F f) {
  MPI_Barrier(MPI_COMM_WORLD);
  double t0 = now();
  for (int i = 0; i < iters; ++i) f();
  double t = (now() - t0) / iters;
  // The slowest rank's time counts.
  double slowest = 0;
  MPI_Allreduce(&t, &slowest, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  return slowest;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}
}  // namespace

int main(int argc, char** argv) {
  dist::Group g = dist::init(true, "mpi");  // initializes MPI (mica owns it and finalizes at exit)
  double scale = argc > 1 ? std::atof(argv[1]) : 1.0;
  int rank = g.rank();
  if (rank == 0) {
    std::printf("all_sum over %d ranks, float32; median of 7 rounds; header check %s\n", g.size(),
                std::getenv("MICA_DIST_CHECK") && std::string(std::getenv("MICA_DIST_CHECK")) == "0" ? "off" : "on");
    std::printf("%10s %8s %14s %14s %10s %10s %12s\n", "bytes", "iters", "mica us/call", "MPI us/call", "mica/MPI",
                "best/best", "mica GB/s");
  }
  for (size_t bytes = 1024; bytes <= (size_t{64} << 20); bytes *= 4) {
    size_t n = bytes / sizeof(float);
    // About 0.2 s per round and side at MPI's speed for small sizes, fewer for large ones.
    int iters = std::max(3, static_cast<int>(scale * std::min<double>(2000, 2e9 / 8 / static_cast<double>(bytes) * 10)));
    std::vector<float> host(n);
    for (size_t i = 0; i < n; ++i) host[i] = static_cast<float>((i + rank) % 13);
    mx::array x(host.begin(), {static_cast<int>(n)}, mx::float32);
    x.eval();
    std::vector<float> y(n);
    auto mica_call = [&] { mx::array s = dist::all_sum(x, g); s.eval(); };
    auto mpi_call = [&] { MPI_Allreduce(x.data<float>(), y.data(), static_cast<int>(n), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD); };
    mica_call();  // warm up both (allocator cache, connections)
    mpi_call();
    std::vector<double> tm, tp;
    for (int round = 0; round < 7; ++round) {
      tm.push_back(time_calls(iters, mica_call));
      tp.push_back(time_calls(iters, mpi_call));
    }
    // Check the answer once: every element is the sum over ranks.
    mx::array s = dist::all_sum(x, g);
    s.eval();
    float want = 0;
    for (int r = 0; r < g.size(); ++r) want += static_cast<float>((n - 1 + r) % 13);
    if (s.data<float>()[n - 1] != want) {
      std::fprintf(stderr, "rank %d: wrong all_sum result\n", rank);
      return 1;
    }
    double m = median(tm), p = median(tp);
    double best = *std::min_element(tm.begin(), tm.end()) / *std::min_element(tp.begin(), tp.end());
    if (rank == 0) {
      std::printf("%10zu %8d %14.2f %14.2f %10.3f %10.3f %12.2f\n", bytes, iters, m * 1e6, p * 1e6, m / p, best,
                  bytes / m / 1e9);
      std::fflush(stdout);
    }
  }
  return 0;
}
