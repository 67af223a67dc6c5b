#!/usr/bin/env python3
"""mica-train beside PyTorch and MLX: the same GPT, initial weights and batches.

Usage: python3 benchmarks/compare/train_compare.py [build_dir] [--steps N] [--layers N] [--dims N]
                                                   [--heads N] [--context N] [--batch N]

1. mica-train runs N steps (default 20) of AdamW at a constant learning rate, writing its
   initial weights (--save-init), its batches (--dump-batches) and its losses (metrics.csv).
2. The same model written in PyTorch and in MLX loads those weights and trains on those batches
   with their own AdamW (bias correction on, as mica-train's).
3. The script prints the three loss curves, the largest relative difference to mica (the bar
   is 1e-4 in float32), and each framework's tokens/s over the steps after the first three,
   measured in this same run on this machine (mica and PyTorch run --rounds times, alternating,
   and the best round counts: a shared VM's speed drifts). Exit status 1 if the losses disagree.
Frameworks that are not installed are reported and skipped.
"""
import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

WARMUP = 3  # steps left out of the throughput


def load_init(path):
    from safetensors.numpy import load_file
    return load_file(path)


def torch_run(cfg, weights, batches, lr, wd):
    import torch
    import torch.nn as tnn
    import torch.nn.functional as F

    torch.set_num_threads(os.cpu_count())
    D, H, T = cfg.dims, cfg.heads, cfg.context

    class Attn(tnn.Module):
        def __init__(self):
            super().__init__()
            self.query_proj, self.key_proj = tnn.Linear(D, D), tnn.Linear(D, D)
            self.value_proj, self.out_proj = tnn.Linear(D, D), tnn.Linear(D, D)

        def forward(self, x, mask):
            B, L, _ = x.shape
            q, k, v = (p(x).reshape(B, L, H, D // H).transpose(1, 2)
                       for p in (self.query_proj, self.key_proj, self.value_proj))
            s = (q * (1.0 / np.sqrt(D // H))) @ k.transpose(-1, -2) + mask
            o = torch.softmax(s, -1) @ v
            return self.out_proj(o.transpose(1, 2).reshape(B, L, D))

    class Block(tnn.Module):
        def __init__(self):
            super().__init__()
            self.ln1, self.attn, self.ln2 = tnn.LayerNorm(D), Attn(), tnn.LayerNorm(D)
            self.mlp_in, self.mlp_out = tnn.Linear(D, 4 * D), tnn.Linear(4 * D, D)

        def forward(self, x, mask):
            h = x + self.attn(self.ln1(x), mask)
            return h + self.mlp_out(F.gelu(self.mlp_in(self.ln2(h))))

    class GPT(tnn.Module):
        def __init__(self):
            super().__init__()
            self.wte, self.wpe = tnn.Embedding(256, D), tnn.Embedding(T, D)
            self.blocks = tnn.ModuleList([Block() for _ in range(cfg.layers)])
            self.ln_f, self.head = tnn.LayerNorm(D), tnn.Linear(D, 256, bias=False)

        def forward(self, x):
            L = x.shape[1]
            mask = torch.triu(torch.full((L, L), float(np.finfo(np.float32).min)), 1)
            h = self.wte(x) + self.wpe(torch.arange(L))
            for b in self.blocks:
                h = b(h, mask)
            return self.head(self.ln_f(h))

    model = GPT()
    model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in weights.items()}, strict=True)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=wd)
    losses, times = [], []
    for b in batches:
        t0 = time.perf_counter()
        b = torch.from_numpy(b.astype(np.int64))
        logits = model(b[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, 256), b[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        times.append(time.perf_counter() - t0)
    return losses, times, f"PyTorch {torch.__version__}"


def mlx_run(cfg, weights, batches, lr, wd):
    import mlx.core as mx
    import mlx.nn as mnn
    import mlx.optimizers as mopt

    D, H, T = cfg.dims, cfg.heads, cfg.context

    class Attn(mnn.Module):
        def __init__(self):
            super().__init__()
            self.query_proj, self.key_proj = mnn.Linear(D, D), mnn.Linear(D, D)
            self.value_proj, self.out_proj = mnn.Linear(D, D), mnn.Linear(D, D)

        def __call__(self, x, mask):
            B, L, _ = x.shape
            q, k, v = (p(x).reshape(B, L, H, D // H).transpose(0, 2, 1, 3)
                       for p in (self.query_proj, self.key_proj, self.value_proj))
            s = (q * (1.0 / np.sqrt(D // H))) @ k.swapaxes(-1, -2) + mask
            o = mx.softmax(s, -1, precise=True) @ v
            return self.out_proj(o.transpose(0, 2, 1, 3).reshape(B, L, D))

    class Block(mnn.Module):
        def __init__(self):
            super().__init__()
            self.ln1, self.attn, self.ln2 = mnn.LayerNorm(D), Attn(), mnn.LayerNorm(D)
            self.mlp_in, self.mlp_out = mnn.Linear(D, 4 * D), mnn.Linear(4 * D, D)

        def __call__(self, x, mask):
            h = x + self.attn(self.ln1(x), mask)
            return h + self.mlp_out(mnn.gelu(self.mlp_in(self.ln2(h))))

    class GPT(mnn.Module):
        def __init__(self):
            super().__init__()
            self.wte, self.wpe = mnn.Embedding(256, D), mnn.Embedding(T, D)
            self.blocks = [Block() for _ in range(cfg.layers)]
            self.ln_f, self.head = mnn.LayerNorm(D), mnn.Linear(D, 256, bias=False)

        def __call__(self, x):
            L = x.shape[1]
            mask = mnn.MultiHeadAttention.create_additive_causal_mask(L)
            h = self.wte(x) + self.wpe(mx.arange(L))
            for b in self.blocks:
                h = b(h, mask)
            return self.head(self.ln_f(h))

    model = GPT()
    model.load_weights([(k, mx.array(v)) for k, v in weights.items()], strict=True)
    opt = mopt.AdamW(learning_rate=lr, betas=[0.9, 0.999], eps=1e-8, weight_decay=wd, bias_correction=True)

    def loss_fn(m, b):
        logits = m(b[:, :-1])
        return mnn.losses.cross_entropy(logits.reshape(-1, 256), b[:, 1:].reshape(-1), reduction="mean")

    step = mnn.value_and_grad(model, loss_fn)
    losses, times = [], []
    for b in batches:
        t0 = time.perf_counter()
        loss, grads = step(model, mx.array(b))
        opt.update(model, grads)
        mx.eval(loss, model.parameters(), opt.state)
        losses.append(loss.item())
        times.append(time.perf_counter() - t0)
    import importlib.metadata as md
    return losses, times, f"MLX {md.version('mlx')}"


def tokens_per_s(times, cfg):
    t = times[WARMUP:] if len(times) > WARMUP + 1 else times
    return cfg.batch * cfg.context * len(t) / sum(t)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build", nargs="?", default="build")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--dims", type=int, default=256)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--context", type=int, default=128)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--data", default=None)
    ap.add_argument("--rounds", type=int, default=3)
    cfg = ap.parse_args()

    exe = os.path.join(cfg.build, "examples", "mica-train")
    if not os.path.exists(exe):
        sys.exit(f"train_compare: {exe} not found; build first (make build)")
    tmp = tempfile.mkdtemp(prefix="mica-compare-")
    init, batches_path, out = (os.path.join(tmp, n) for n in ("init.safetensors", "batches.npy", "run"))
    cmd = [exe, "--steps", str(cfg.steps), "--schedule", "constant", "--lr", str(cfg.lr), "--clip", "0",
           "--weight-decay", str(cfg.weight_decay), "--eval-every", "0", "--sample", "0",
           "--layers", str(cfg.layers), "--dims", str(cfg.dims), "--heads", str(cfg.heads),
           "--context", str(cfg.context), "--batch", str(cfg.batch), "--save-every", str(10**9), "--out", out]
    if cfg.data:
        cmd += ["--data", cfg.data]

    def run_mica(extra):
        subprocess.run(cmd + extra, check=True, stdout=subprocess.DEVNULL)
        with open(os.path.join(out, "metrics.csv")) as f:
            rows = list(csv.DictReader(f))
        return ([float(r["train_loss"]) for r in rows],
                [cfg.batch * cfg.context / float(r["tokens_per_s"]) for r in rows], "mica")

    results = {"mica": run_mica(["--save-init", init, "--dump-batches", batches_path])}
    weights, batches = load_init(init), np.load(batches_path)
    nparams = sum(v.size for v in weights.values())
    speeds = {"mica": [tokens_per_s(results["mica"][1], cfg)]}
    for name, fn in (("torch", torch_run), ("mlx", mlx_run)):
        try:
            results[name] = fn(cfg, weights, batches, cfg.lr, cfg.weight_decay)
            speeds[name] = [tokens_per_s(results[name][1], cfg)]
        except ImportError as e:
            print(f"{name}: not installed ({e}); skipped")
    for _ in range(cfg.rounds - 1):  # more speed rounds, alternating (MLX is too slow to repeat)
        speeds["mica"].append(tokens_per_s(run_mica(["--init", init])[1], cfg))
        if "torch" in results:
            speeds["torch"].append(tokens_per_s(torch_run(cfg, weights, batches, cfg.lr, cfg.weight_decay)[1], cfg))

    print(f"GPT {cfg.layers} layers, width {cfg.dims}, context {cfg.context}, batch {cfg.batch}: {nparams / 1e6:.2f}M "
          f"parameters, {cfg.steps} steps of AdamW (lr {cfg.lr}), {os.cpu_count()} CPU threads")
    names = list(results)
    print("step  " + "  ".join(f"{results[n][2]:>16}" for n in names))
    for i in range(cfg.steps):
        print(f"{i + 1:4d}  " + "  ".join(f"{results[n][0][i]:16.6f}" for n in names))
    ok = True
    for n in names[1:]:
        rel = max(abs(a - b) / abs(b) for a, b in zip(results[n][0], results["mica"][0]))
        good = rel <= 1e-4
        ok &= good
        print(f"largest relative loss difference, {results[n][2]} vs mica: {rel:.2e} ({'ok' if good else 'ABOVE 1e-4'})")
    for n in names:
        rounds = ", ".join(f"{x:.0f}" for x in speeds[n])
        print(f"{results[n][2]:>16}: {max(speeds[n]):8.0f} tokens/s (rounds: {rounds})")
    speeds = {n: max(v) for n, v in speeds.items()}
    peers = [speeds[n] for n in names if n != "mica"]
    if peers:
        print(f"mica / fastest peer: {speeds['mica'] / max(peers):.2f}x")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
