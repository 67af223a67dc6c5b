#!/usr/bin/env python3
"""mica's GPU ops beside PyTorch eager on the same GPU, in one run.

Usage: python3 benchmarks/compare/gpu_vs_torch.py BUILD_DIR [FAMILY ...]

Runs BUILD_DIR/benchmarks/gpu_bench (median eval() time per case; the cases of each family are
in benchmarks/gpu/<family>_bench.cpp), times the same cases in PyTorch (gpu_torch/<family>.py,
CUDA events or host clocks, median), and prints per case: both times, mica's bandwidth and its
fraction of a device-to-device copy's bandwidth (mica's own copy, bytes read + written) or its
TFLOP/s, and the speed ratio torch_time / mica_time (above 1: mica is faster).
"""
import importlib
import os
import subprocess
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "gpu_torch"))


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    wanted = sys.argv[2:]
    res = subprocess.run([f"{build}/benchmarks/gpu_bench", *wanted], capture_output=True, text=True)
    if res.returncode != 0:
        print(res.stdout, res.stderr)
        sys.exit(1)
    mica = {}
    for line in res.stdout.split("\n"):
        parts = line.split()
        if len(parts) == 4:
            mica[parts[0]] = (float(parts[1]), float(parts[2]), float(parts[3]))
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gpu_torch")
    families = sorted(f[:-3] for f in os.listdir(here) if f.endswith(".py") and f != "common.py")
    ref = {}
    for fam in families:
        if not wanted or fam in wanted:
            try:
                ref.update(importlib.import_module(fam).cases())
            except Exception as e:  # one family's failure leaves the others' ratios
                print(f"torch side of {fam} failed: {e!r}")
            torch.cuda.empty_cache()
    print(f"GPU: {torch.cuda.get_device_name()}")
    print(f"{'case':<28}{'mica ms':>10}{'torch ms':>10}{'GB/s|TFLOP/s':>14}{'of copy':>9}{'torch/mica':>12}")
    for name, (t, nbytes, flops) in mica.items():
        sfx = "_bf16" if name.endswith("_bf16") else "_f32"
        copy_bw = mica["copy" + sfx][1] / mica["copy" + sfx][0] if "copy" + sfx in mica else 0
        bw = nbytes / t / 1e9 if nbytes else 0
        on_gpu = "host" not in name
        frac = f"{bw * 1e9 / copy_bw:.2f}" if nbytes and copy_bw and on_gpu else "-"
        tt = ref.get(name, float("nan"))
        rate = f"{flops / t / 1e12:.1f}T" if flops else (f"{bw:.0f}" if nbytes else "-")
        print(f"{name:<28}{t * 1e3:>10.3f}{tt * 1e3:>10.3f}{rate:>14}{frac:>9}{tt / t:>12.2f}")


if __name__ == "__main__":
    main()
