"""PyTorch side of benchmarks/gpu/linalg_bench.cpp (torch.linalg.inv and cholesky, which check
their infos as mica does)."""
import torch

from common import cuda_median


def cases():
    b, n = 4096, 64
    eye = torch.eye(n, device="cuda") * n
    a = torch.rand(b, n, n, device="cuda") + eye
    p = a @ a.transpose(-1, -2) + eye
    return {
        "inv_4096x64x64": cuda_median(lambda: torch.linalg.inv(a)),
        "cholesky_4096x64x64": cuda_median(lambda: torch.linalg.cholesky(p)),
    }
