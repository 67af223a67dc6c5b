"""PyTorch side of benchmarks/gpu/core_bench.cpp (part 1: elementwise, reductions, copies,
overhead)."""
import torch

from common import cuda_median, host_median


def cases():
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
