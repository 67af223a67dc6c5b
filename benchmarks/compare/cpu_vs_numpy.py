#!/usr/bin/env python3
"""Runs mica's CPU benchmarks and NumPy on the same cases in one run; prints times and ratios.

Usage: python3 benchmarks/compare/cpu_vs_numpy.py [build_dir]
A ratio above 1 means mica is faster than the peer. NumPy's composition is what a NumPy user
writes (softmax = exp(x - max) / sum, layer norm = (x - mean) / sqrt(var + eps) * w + b).
"""
import os
import subprocess
import sys
import time

import numpy as np


def best(fn, reps=10):
    fn()
    t = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        t = min(t, time.perf_counter() - t0)
    return t


def fft_cases(rng):
    """fft_bench's cases (NumPy 2 transforms complex64 and float32 in single precision, as mica)."""
    def cplx(shape):
        re, im = rng.random(shape, dtype=np.float32), rng.random(shape, dtype=np.float32)
        return (re * 2 - 1 + 1j * (im * 2 - 1)).astype(np.complex64)

    c20, r20 = cplx(1 << 20), rng.random(1 << 20, dtype=np.float32) * 2 - 1
    cprime, c1k, c1000 = cplx(1048573), cplx((1024, 1024)), cplx((4096, 1000))
    r1k, bins = rng.random((1024, 1024), dtype=np.float32), cplx((1 << 19) + 1)
    return {
        "fft_2^20": lambda: np.fft.fft(c20),
        "ifft_2^20": lambda: np.fft.ifft(c20),
        "rfft_2^20": lambda: np.fft.rfft(r20),
        "irfft_2^20": lambda: np.fft.irfft(bins),
        "fft_prime_1048573": lambda: np.fft.fft(cprime),
        "fft_rows_1024x1024": lambda: np.fft.fft(c1k),
        "fft_cols_1024x1024": lambda: np.fft.fft(c1k, axis=0),
        "fft2_1024x1024": lambda: np.fft.fft2(c1k),
        "rfft2_1024x1024": lambda: np.fft.rfft2(r1k),
        "fft_rows_4096x1000": lambda: np.fft.fft(c1000),
    }


def numpy_cases():
    rng = np.random.default_rng(0)
    n = 1 << 24
    a = rng.random(n, dtype=np.float32)
    b = rng.random(n, dtype=np.float32)
    x = rng.random((4096, 4096), dtype=np.float32) * 4 - 2
    w = rng.random(4096, dtype=np.float32)
    bb = rng.random(4096, dtype=np.float32)
    m1 = rng.random((2048, 2048), dtype=np.float32)
    m2 = rng.random((2048, 2048), dtype=np.float32)
    wq = rng.random((4096, 4096), dtype=np.float32)
    xq1 = rng.random((1, 4096), dtype=np.float32)
    xq32 = rng.random((32, 4096), dtype=np.float32)
    long_f = rng.random(1 << 22, dtype=np.float32)
    long_i = rng.integers(0, 1 << 30, 1 << 22, dtype=np.int32)
    rows = rng.random((4096, 1024), dtype=np.float32)

    def softmax():
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    def layer_norm():
        mu = x.mean(axis=-1, keepdims=True)
        var = x.var(axis=-1, keepdims=True)
        return (x - mu) / np.sqrt(var + 1e-5) * w + bb

    def rms_norm():
        return x / np.sqrt((x * x).mean(axis=-1, keepdims=True) + 1e-5) * w

    def logsumexp():
        m = x.max(axis=-1, keepdims=True)
        return np.log(np.exp(x - m).sum(axis=-1, keepdims=True)) + m

    def scalar_adds():
        y = np.float32(0.0)
        for _ in range(10000):
            y = y + np.float32(1.0)
        return y

    return {
        **{key: best(fn, 5) for key, fn in fft_cases(rng).items()},
        "add_2^24": best(lambda: np.add(a, b)),
        "exp_2^24": best(lambda: np.exp(a)),
        "sum_2^24": best(lambda: a.sum()),
        "softmax": best(softmax, 5),
        "layer_norm": best(layer_norm, 5),
        "rms_norm": best(rms_norm, 5),
        "var_last": best(lambda: x.var(axis=-1), 5),
        "mean_last": best(lambda: x.mean(axis=-1), 5),
        "sum_first": best(lambda: x.sum(axis=0), 5),
        "logsumexp": best(logsumexp, 5),
        "max_last": best(lambda: x.max(axis=-1), 5),
        "matmul_2048": best(lambda: m1 @ m2, 5),
        # quantized_bench's float32 baselines (its 4-bit fused rows print their ratio to these).
        "matmul_f32_b1_4096": best(lambda: xq1 @ wq.T, 20),
        "matmul_f32_b32_4096": best(lambda: xq32 @ wq.T, 10),
        "scalar_adds_10000": best(scalar_adds, 5),
        "sort_f32_2^22": best(lambda: np.sort(long_f), 5),
        "argsort_f32_2^22": best(lambda: np.argsort(long_f), 5),
        "sort_i32_2^22": best(lambda: np.sort(long_i), 5),
        "sort_rows_4096x1024": best(lambda: np.sort(rows, axis=-1), 5),
        "argsort_rows_4096x1024": best(lambda: np.argsort(rows, axis=-1), 5),
    }


def mica_cases(build):
    results = {}
    for exe in ("elementwise_bench", "reduce_bench", "matmul_bench", "fft_bench", "quantized_bench", "sort_bench"):
        path = os.path.join(build, "benchmarks", exe)
        out = subprocess.run([path], check=True, capture_output=True, text=True).stdout
        sys.stdout.write(out)
        for line in out.splitlines():
            if line.startswith("RESULT "):
                _, key, sec = line.split()
                results[key] = float(sec)
    return results


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    print(f"numpy {np.__version__}, {os.cpu_count()} cores")
    mica = mica_cases(build)
    peer = numpy_cases()
    print(f"\n{'case':<22}{'mica ms':>10}{'numpy ms':>10}{'numpy/mica':>12}")
    for key, t in peer.items():
        if key in mica:
            print(f"{key:<22}{mica[key] * 1e3:>10.3f}{t * 1e3:>10.3f}{t / mica[key]:>12.2f}")
    for key in ("add_2^24", "sum_2^24"):
        loop = mica.get("peer_loop_" + key)
        if loop:
            print(f"{key}: mica reaches {loop / mica[key]:.2f} of the two-thread loop's bandwidth")


if __name__ == "__main__":
    main()
