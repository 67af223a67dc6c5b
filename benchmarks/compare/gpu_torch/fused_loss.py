"""PyTorch side of benchmarks/gpu/fused_loss_bench.cpp (F.cross_entropy over (8192, 50304))."""
import torch

from common import cuda_median


def cases():
    out = {}
    rows, v = 8192, 50304
    t = torch.randint(0, v, (rows,), device="cuda")
    for dt, sfx in ((torch.float32, "_f32"), (torch.bfloat16, "_bf16")):
        x = torch.randn(rows, v, device="cuda").to(dt)
        out["cross_entropy_fwd" + sfx] = cuda_median(lambda: torch.nn.functional.cross_entropy(x, t))
        xg = x.clone().requires_grad_(True)

        def fwd_bwd():
            xg.grad = None
            torch.nn.functional.cross_entropy(xg, t).backward()

        out["cross_entropy_fwd_bwd" + sfx] = cuda_median(fwd_bwd)
        del x, xg
        torch.cuda.empty_cache()
    return out
