#!/usr/bin/env python3
"""GPT-2 124M training on one GPU: mica-train beside PyTorch eager, same weights, same batches.

Usage: python3 benchmarks/compare/gpt2_gpu.py [build_dir] [--steps 50] [--batches 8,16]
                                              [--precision bf16|fp32] [--data tokens.npy]
                                              [--grad-checkpoint] [--no-repeat]

For each batch size: mica-train --preset gpt2-124m --device gpu runs N steps of AdamW at a
constant learning rate (writing its initial weights and batches); the same model written in
PyTorch (tied embedding, exact GELU, F.scaled_dot_product_attention causal, torch.autocast
bfloat16, fused AdamW) loads them and trains on the same batches. Prints tokens/s (steps after
the first five), model FLOPs utilization (6 N + 12 L T D FLOPs a token against the GPU's dense
bf16 peak), peak GPU memory and the largest relative loss difference. Without --data the
batches are random token ids (the loss then falls towards ln 50304's neighbourhood slowly, which
is enough to compare the two frameworks step by step). mica runs twice and the two runs'
losses and checkpoints must be bit-identical. --grad-checkpoint recomputes each block's
activations in the backward pass on both sides (mica-train --grad-checkpoint,
torch.utils.checkpoint), for batches that do not fit otherwise (32 x 1024).
"""
import argparse
import csv
import math
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np

WARMUP = 5
PEAK_BF16 = {"H100": 989e12, "H200": 989e12}  # dense bf16 tensor-core peak, SXM


def load_safetensors(path):
    """{name: float32 array} of a safetensors file of F32 tensors (read by hand: no extra package)."""
    import json
    import struct
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    header.pop("__metadata__", None)
    out = {}
    for k, v in header.items():
        if v["dtype"] != "F32":
            sys.exit(f"gpt2_gpu: {path}: {k} is {v['dtype']}, expected F32")
        a, b = v["data_offsets"]
        out[k] = np.frombuffer(data[a:b], dtype=np.float32).reshape(v["shape"])
    return out


def torch_run(weights, batches, layers, dims, heads, lr, wd, precision, checkpoint=False):
    import torch
    import torch.nn as tnn
    import torch.nn.functional as F
    import torch.utils.checkpoint

    D, H, V = dims, heads, weights["wte.weight"].shape[0]

    class Attn(tnn.Module):
        def __init__(self):
            super().__init__()
            self.query_proj, self.key_proj = tnn.Linear(D, D), tnn.Linear(D, D)
            self.value_proj, self.out_proj = tnn.Linear(D, D), tnn.Linear(D, D)

        def forward(self, x):
            B, L, _ = x.shape
            q, k, v = (p(x).reshape(B, L, H, D // H).transpose(1, 2)
                       for p in (self.query_proj, self.key_proj, self.value_proj))
            o = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            return self.out_proj(o.transpose(1, 2).reshape(B, L, D))

    class Block(tnn.Module):
        def __init__(self):
            super().__init__()
            self.ln1, self.attn, self.ln2 = tnn.LayerNorm(D), Attn(), tnn.LayerNorm(D)
            self.mlp_in, self.mlp_out = tnn.Linear(D, 4 * D), tnn.Linear(4 * D, D)

        def forward(self, x):
            h = x + self.attn(self.ln1(x))
            return h + self.mlp_out(F.gelu(self.mlp_in(self.ln2(h))))

    class GPT(tnn.Module):
        def __init__(self, T):
            super().__init__()
            self.wte, self.wpe = tnn.Embedding(V, D), tnn.Embedding(T, D)
            self.blocks = tnn.ModuleList([Block() for _ in range(layers)])
            self.ln_f = tnn.LayerNorm(D)

        def forward(self, x):
            h = self.wte(x) + self.wpe(torch.arange(x.shape[1], device=x.device))
            for b in self.blocks:
                h = torch.utils.checkpoint.checkpoint(b, h, use_reentrant=False) if checkpoint else b(h)
            return self.ln_f(h) @ self.wte.weight.t()

    torch.manual_seed(0)
    model = GPT(weights["wpe.weight"].shape[0]).cuda()
    model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in weights.items()}, strict=True)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=wd, fused=True)
    torch.cuda.reset_peak_memory_stats()
    losses, times = [], []
    dev_batches = torch.from_numpy(batches.astype(np.int64)).cuda()
    for b in dev_batches:
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=precision == "bf16"):
            logits = model(b[:, :-1])
            loss = F.cross_entropy(logits.reshape(-1, V).float(), b[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        times.append(time.perf_counter() - t0)
    return losses, times, torch.cuda.max_memory_allocated() / 2**30, f"PyTorch {torch.__version__}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build", nargs="?", default="build")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--batches", default="8,16")
    ap.add_argument("--precision", default="bf16", choices=["bf16", "fp32"])
    ap.add_argument("--lr", type=float, default=6e-4)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--data", default=None)
    ap.add_argument("--no-repeat", action="store_true", help="skip the second mica run (the reproducibility check)")
    ap.add_argument("--grad-checkpoint", action="store_true",
                    help="recompute each block's activations in the backward pass (both sides)")
    ap.add_argument("--mica-flags", default="", help="more mica-train flags, space-separated (e.g. --no-compile)")
    cfg = ap.parse_args()
    import torch

    exe = os.path.join(cfg.build, "examples", "mica-train")
    if not os.path.exists(exe):
        sys.exit(f"gpt2_gpu: {exe} not found; build with -DMICA_BUILD_EXAMPLES=ON")
    tmp = tempfile.mkdtemp(prefix="mica-gpt2-")
    data = cfg.data
    if data is None:
        data = os.path.join(tmp, "tokens.npy")
        np.save(data, np.random.default_rng(0).integers(0, 50257, size=4_000_000, dtype=np.int64).astype(np.uint16))
    gpu = torch.cuda.get_device_name()
    peak = next((v for k, v in PEAK_BF16.items() if k in gpu), 989e12)
    ok = True
    for batch in (int(b) for b in cfg.batches.split(",")):
        init, bpath, out = (os.path.join(tmp, f"{n}{batch}{ext}") for n, ext in
                            (("init", ".safetensors"), ("batches", ".npy"), ("run", "")))
        cmd = [exe, "--preset", "gpt2-124m", "--layers", str(cfg.layers), "--device", "gpu", "--precision",
               cfg.precision, "--data", data, "--steps", str(cfg.steps), "--batch", str(batch), "--schedule",
               "constant", "--lr", str(cfg.lr), "--clip", "0", "--weight-decay", str(cfg.weight_decay),
               "--eval-every", "0", "--sample", "0", "--save-every", str(10**9), "--out", out, "--save-init", init,
               "--dump-batches", bpath] + (["--grad-checkpoint"] if cfg.grad_checkpoint else []) + cfg.mica_flags.split()
        def mica_run(cmd, out):
            p = subprocess.run(cmd, capture_output=True, text=True)
            if p.returncode != 0:
                print(p.stdout[-3000:], p.stderr[-3000:])
                sys.exit(f"gpt2_gpu: mica-train failed ({p.returncode})")
            with open(os.path.join(out, "metrics.csv")) as f:
                rows = list(csv.DictReader(f))
            with open(os.path.join(out, "checkpoint.safetensors"), "rb") as f:
                ckpt = f.read()
            return p, [r["train_loss"] for r in rows], rows, ckpt

        p, m_loss_text, rows, ckpt = mica_run(cmd, out)
        mica_mem = float(re.search(r"peak GPU memory: ([0-9.]+) GiB", p.stdout).group(1))
        m_loss = [float(x) for x in m_loss_text]
        m_tps = [float(r["tokens_per_s"]) for r in rows]
        # Reproducibility: the same run again gives the same losses (as printed) and the same
        # checkpoint (weights and optimizer state) to the bit.
        repeat = None
        if not cfg.no_repeat:
            out2 = out + "-again"
            cmd2 = [c if c != out else out2 for c in cmd[: cmd.index("--save-init")]]
            _, loss2, _, ckpt2 = mica_run(cmd2, out2)
            repeat = loss2 == m_loss_text and ckpt2 == ckpt
            ok &= repeat
        weights, batches = load_safetensors(init), np.load(bpath)
        t_loss, t_times, t_mem, t_name = torch_run(weights, batches, cfg.layers, 768, 12, cfg.lr, cfg.weight_decay,
                                                   cfg.precision, cfg.grad_checkpoint)
        T = batches.shape[2] - 1
        tokens = batch * T
        m_rate = tokens * (len(m_tps) - WARMUP) / sum(tokens / x for x in m_tps[WARMUP:])
        t_rate = tokens * (len(t_times) - WARMUP) / sum(t_times[WARMUP:])
        n = sum(v.size for v in weights.values())
        flops_tok = 6 * n + 12 * cfg.layers * T * 768
        rel = max(abs(a - b) / abs(b) for a, b in zip(m_loss, t_loss))
        bound = 2e-2 if cfg.precision == "bf16" else 1e-4
        ok &= rel <= bound and math.isfinite(rel)
        print(f"GPT-2 {cfg.layers} layers ({n / 1e6:.1f}M parameters), batch {batch} x {T}, {cfg.steps} steps, "
              f"{cfg.precision}, {gpu}")
        print(f"  step losses (mica / torch): " + ", ".join(f"{a:.4f}/{b:.4f}" for a, b in
                                                             list(zip(m_loss, t_loss))[:: max(1, cfg.steps // 10)]))
        for name, rate, mem in (("mica", m_rate, mica_mem), (t_name, t_rate, t_mem)):
            print(f"  {name:>22}: {rate:10.0f} tokens/s  MFU {rate * flops_tok / peak * 100:5.1f}%  "
                  f"peak memory {mem:6.2f} GiB")
        print(f"  mica / torch: {m_rate / t_rate:.2f}x tokens/s; largest relative loss difference {rel:.2e} "
              f"(bound {bound:g}: {'ok' if rel <= bound else 'ABOVE'})")
        if repeat is not None:
            print(f"  mica run twice: losses and checkpoint {'bit-identical' if repeat else 'DIFFER'} "
                  f"over {cfg.steps} steps")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
