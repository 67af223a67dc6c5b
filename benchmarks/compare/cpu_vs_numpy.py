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
        "scalar_adds_10000": best(scalar_adds, 5),
    }


def mica_cases(build):
    results = {}
    for exe in ("elementwise_bench", "reduce_bench", "matmul_bench"):
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
