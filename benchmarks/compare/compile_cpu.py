#!/usr/bin/env python3
"""compile on the CPU: mica's compile_bench beside PyTorch (eager and torch.compile) on the same
cases in one run; prints times and ratios (above 1: mica is faster).

Usage: python3 benchmarks/compare/compile_cpu.py [build_dir]   (needs torch: pip install torch)
Cases: GELU (tanh form) of x + b and layer norm of x + r written as plain ops on 4096 x 4096
float32, and one AdamW step of a 50-layer ReLU MLP of width 256 at batch 32.
"""
import os
import subprocess
import sys

import torch

from cpu_vs_numpy import best  # best wall time of fn over reps runs, after one warm-up

torch.set_num_threads(os.cpu_count())


def gelu_bias(x, b):
    x = x + b
    return x * (torch.tanh((x + x * x * x * 0.044715) * 0.7978845608) + 1.0) * 0.5


def ln_residual(x, r, w, c):
    h = x + r
    d = h - h.mean(-1, keepdim=True)
    return d * torch.rsqrt((d * d).mean(-1, keepdim=True) + 1e-5) * w + c


def torch_cases():
    out = {}
    x, r = torch.rand(4096, 4096), torch.rand(4096, 4096)
    b, w, c = torch.rand(4096), torch.rand(4096), torch.rand(4096)
    for name, fn, args in (("gelu_bias", gelu_bias, (x, b)), ("ln_residual", ln_residual, (x, r, w, c))):
        out[name + "_eager"] = best(lambda: fn(*args), reps=5)
        compiled = torch.compile(fn)
        compiled(*args)  # compile outside the timing
        out[name + "_compiled"] = best(lambda: compiled(*args), reps=5)
    layers = [torch.nn.Linear(256, 256) for _ in range(50)]
    model = torch.nn.Sequential(*[m for l in layers for m in (l, torch.nn.ReLU())])
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    xin, y = torch.rand(32, 256), torch.rand(32, 256)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.mse_loss(model(xin), y)
        loss.backward()
        opt.step()
    for _ in range(3):
        step()
    out["mlp50_step_eager"] = best(step, reps=20)
    return out


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    exe = os.path.join(build, "benchmarks", "compile_bench")
    text = subprocess.run([exe], check=True, capture_output=True, text=True).stdout
    m = {}
    for line in text.splitlines():
        if line.startswith("RESULT "):
            _, k, v = line.split()
            m[k] = float(v)
        else:
            print(line)
    t = torch_cases()
    print(f"\n{'case':<14}{'mica':>10}{'mica compiled':>15}{'torch eager':>13}{'torch.compile':>15}"
          f"{'vs eager':>10}{'vs compile':>12}")
    for name in ("gelu_bias", "ln_residual"):
        mc, te, tc = m[name + "_compiled"], t[name + "_eager"], t[name + "_compiled"]
        print(f"{name:<14}{m[name + '_plain'] * 1e3:>8.2f}ms{mc * 1e3:>13.2f}ms{te * 1e3:>11.2f}ms{tc * 1e3:>13.2f}ms"
              f"{te / mc:>10.2f}{tc / mc:>12.2f}")
    mc, te = m["mlp50_step_compiled"], t["mlp50_step_eager"]
    print(f"{'mlp50 step':<14}{m['mlp50_step_plain'] * 1e3:>8.2f}ms{mc * 1e3:>13.2f}ms{te * 1e3:>11.2f}ms"
          f"{'-':>15}{te / mc:>10.2f}{'-':>12}")


if __name__ == "__main__":
    main()
