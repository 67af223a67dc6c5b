#!/usr/bin/env python3
"""NumPy's float32 matmul GFLOP/s for the shapes of benchmarks/ops/matmul_bench.cpp.

Usage: python3 benchmarks/compare/matmul_numpy.py [reps]
Prints one line per shape in the same format as matmul_bench, so both can be read side by side.
"""
import sys
import time

import numpy as np


def best_time(reps, fn):
    fn()
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main():
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    rng = np.random.default_rng(0)
    print(f"matmul_numpy: numpy {np.__version__}, best of {reps} runs")
    cases = [(2048, False, reps), (2048, True, reps), (256, False, reps * 4), (512, False, reps * 4),
             (1024, False, reps * 4)]
    for n, transpose_b, r in cases:
        a = rng.random((n, n), dtype=np.float32) - 0.5
        b = rng.random((n, n), dtype=np.float32) - 0.5
        bv = b.T if transpose_b else b
        t = best_time(r, lambda: a @ bv)
        name = f"float32 {n}^3" + (" (b transposed)" if transpose_b else "")
        print(f"{name:<34} {2.0 * n ** 3 / t * 1e-9:9.1f} GFLOP/s")
    a = rng.random((64, 128, 128), dtype=np.float32)
    b = rng.random((64, 128, 128), dtype=np.float32)
    t = best_time(reps * 4, lambda: a @ b)
    print(f"{'float32 64 x 128^3 batched':<34} {2.0 * 64 * 128 ** 3 / t * 1e-9:9.1f} GFLOP/s")
    a = rng.random((1024, 1024))
    b = rng.random((1024, 1024))
    t = best_time(reps, lambda: a @ b)
    print(f"{'float64 1024^3':<34} {2.0 * 1024 ** 3 / t * 1e-9:9.1f} GFLOP/s")


if __name__ == "__main__":
    main()
