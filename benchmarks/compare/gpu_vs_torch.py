#!/usr/bin/env python3
"""mica's GPU ops beside PyTorch eager on the same GPU, in one run.

Usage: python3 benchmarks/compare/gpu_vs_torch.py BUILD_DIR

Runs BUILD_DIR/benchmarks/gpu_bench (median eval() time per case), times the same cases in
PyTorch with CUDA events (median), and prints per case: both times, mica's bandwidth, its
fraction of a device-to-device copy's bandwidth (mica's own copy, bytes read + written), and
the speed ratio torch_time / mica_time (above 1: mica is faster).
"""
import statistics
import subprocess
import sys
import time

import torch


def cuda_median(fn, reps=10):
    for _ in range(2):
        fn()
    torch.cuda.synchronize()
    ts = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        torch.cuda.synchronize()
        ts.append(a.elapsed_time(b) / 1e3)
    return statistics.median(ts)


def host_median(fn, reps=5):
    fn()
    torch.cuda.synchronize()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def torch_cases():
    n = 1 << 28
    out = {}
    for dt, sfx in ((torch.float32, "_f32"), (torch.bfloat16, "_bf16")):
        a = torch.rand(n, device="cuda").to(dt)
        b = torch.rand(n, device="cuda").to(dt)
        out["copy" + sfx] = cuda_median(lambda: a.clone())
        out["add" + sfx] = cuda_median(lambda: a + b)
        out["multiply" + sfx] = cuda_median(lambda: a * b)
        out["exp" + sfx] = cuda_median(lambda: torch.exp(a))
        if dt == torch.float32:
            out["sum_all" + sfx] = cuda_median(lambda: a.sum())
        m = a.view(8192, n // 8192)[:, :8192].contiguous()
        if dt == torch.float32:
            out["sum_rows" + sfx] = cuda_median(lambda: m.sum(-1))
        out["softmax" + sfx] = cuda_median(lambda: torch.softmax(m, -1))
        out["logsumexp" + sfx] = cuda_median(lambda: torch.logsumexp(m, -1))
        del a, b, m
        torch.cuda.empty_cache()
    hc = torch.full((1 << 28,), 1.5)
    out["host_to_gpu_f32"] = host_median(lambda: hc.cuda())
    g = hc.cuda() * 2
    out["gpu_to_host_f32"] = host_median(lambda: g.cpu())
    del g
    x = torch.zeros((), device="cuda")

    def scalar_adds():
        y = x
        for _ in range(10000):
            y = y + 1.0
        return y

    out["scalar_adds_10000"] = host_median(scalar_adds)
    y = torch.rand(32, 256, device="cuda")

    def chain():
        z = y
        for _ in range(25):
            z = z * 0.5
            z = z + y
            z = torch.tanh(z)
            z = z - 0.25
        return z

    out["chain_100_small"] = host_median(chain, 20)
    return out


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    res = subprocess.run([f"{build}/benchmarks/gpu_bench"], capture_output=True, text=True)
    if res.returncode != 0:
        print(res.stdout, res.stderr)
        sys.exit(1)
    mica = {}
    for line in res.stdout.split("\n"):
        parts = line.split()
        if len(parts) == 3:
            mica[parts[0]] = (float(parts[1]), float(parts[2]))
    ref = torch_cases()
    print(f"GPU: {torch.cuda.get_device_name()}")
    print(f"{'case':<20}{'mica ms':>10}{'torch ms':>10}{'mica GB/s':>11}{'of copy':>9}{'torch/mica':>12}")
    for name, (t, nbytes) in mica.items():
        sfx = "_bf16" if name.endswith("_bf16") else "_f32"
        copy_bw = mica["copy" + sfx][1] / mica["copy" + sfx][0] if "copy" + sfx in mica else 0
        bw = nbytes / t / 1e9 if nbytes else 0
        on_gpu = "host" not in name
        frac = f"{bw * 1e9 / copy_bw:.2f}" if nbytes and copy_bw and on_gpu else "-"
        tt = ref.get(name, float("nan"))
        bws = f"{bw:.0f}" if nbytes else "-"
        print(f"{name:<20}{t * 1e3:>10.3f}{tt * 1e3:>10.3f}{bws:>11}{frac:>9}{tt / t:>12.2f}")


if __name__ == "__main__":
    main()
