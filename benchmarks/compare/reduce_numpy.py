#!/usr/bin/env python3
"""NumPy times for the shapes of benchmarks/ops/reduce_bench.cpp (float32, best of N runs).

NumPy has no fused softmax or layer norm, so those are its usual compositions. Prints one line
per case: name, milliseconds. Usage: reduce_numpy.py [reps]
"""
import sys
import time

import numpy as np


def best_ms(fn, reps):
    fn()
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best * 1e3


def softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def layer_norm(x, w, b, eps=1e-5):
    m = x.mean(axis=-1, keepdims=True)
    v = x.var(axis=-1, keepdims=True)
    return (x - m) / np.sqrt(v + eps) * w + b


def rms_norm(x, w, eps=1e-5):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def logsumexp(x):
    m = x.max(axis=-1, keepdims=True)
    return (m + np.log(np.exp(x - m).sum(axis=-1, keepdims=True)))[..., 0]


def main():
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    rng = np.random.default_rng(0)
    v = rng.uniform(-2, 2, 1 << 24).astype(np.float32)
    x = rng.uniform(-2, 2, (4096, 4096)).astype(np.float32)
    w = rng.uniform(-2, 2, 4096).astype(np.float32)
    b = rng.uniform(-2, 2, 4096).astype(np.float32)
    cases = [
        ("sum 2^24", lambda: v.sum()),
        ("softmax(4096x4096, -1)", lambda: softmax(x)),
        ("layer_norm(4096x4096)", lambda: layer_norm(x, w, b)),
        ("rms_norm(4096x4096)", lambda: rms_norm(x, w)),
        ("var(4096x4096, -1)", lambda: x.var(axis=-1)),
        ("mean(4096x4096, -1)", lambda: x.mean(axis=-1)),
        ("sum(4096x4096, 0)", lambda: x.sum(axis=0)),
        ("logsumexp(4096x4096, -1)", lambda: logsumexp(x)),
        ("max(4096x4096, -1)", lambda: x.max(axis=-1)),
    ]
    print(f"numpy {np.__version__} (float32, best of {reps})")
    for name, fn in cases:
        print(f"{name:<28s} {best_ms(fn, reps):9.3f} ms")


if __name__ == "__main__":
    main()
