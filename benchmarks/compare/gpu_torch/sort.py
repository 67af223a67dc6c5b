"""PyTorch side of benchmarks/gpu/sort_bench.cpp (sort family: sort, argsort, topk). torch.sort
returns values and int64 indices; argsort is asked to be stable, as mica's is."""
import torch

from common import cuda_median


def cases():
    out = {}
    n = 1 << 24
    x = torch.rand(n, device="cuda")
    xb = x.to(torch.bfloat16)
    out["sort_f32_2p24"] = cuda_median(lambda: torch.sort(x))
    out["argsort_f32_2p24"] = cuda_median(lambda: torch.argsort(x, stable=True))
    out["sort_bf16_2p24"] = cuda_median(lambda: torch.sort(xb))
    m = torch.rand(4096, 1024, device="cuda")
    out["sort_f32_4096x1024"] = cuda_median(lambda: torch.sort(m, -1))
    out["argsort_f32_4096x1024"] = cuda_median(lambda: torch.argsort(m, dim=-1, stable=True))
    out["sort_f32_axis0_1024x4096"] = cuda_median(lambda: torch.sort(m.view(1024, 4096), 0))
    r = torch.rand(8, 1 << 20, device="cuda")
    out["sort_f32_8x2p20"] = cuda_median(lambda: torch.sort(r, -1))
    out["argsort_f32_8x2p20"] = cuda_median(lambda: torch.argsort(r, dim=-1, stable=True))
    out["sort_f32_64x2p17"] = cuda_median(lambda: torch.sort(r.view(64, 1 << 17), -1))
    out["sort_f32_128x2p16"] = cuda_median(lambda: torch.sort(r.view(128, 1 << 16), -1))
    out["topk_f32_4096x1024_k8"] = cuda_median(lambda: torch.topk(m, 8, -1))
    del x, xb, m, r
    torch.cuda.empty_cache()
    return out
