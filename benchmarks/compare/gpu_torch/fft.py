"""PyTorch side of benchmarks/gpu/fft_bench.cpp (torch.fft, which runs cuFFT)."""
import torch

from common import cuda_median


def cases():
    n = 1 << 24
    x = torch.complex(torch.rand(n, device="cuda"), torch.rand(n, device="cuda"))
    r = torch.rand(4096, 4096, device="cuda")
    m = torch.complex(torch.rand(4096, 4096, device="cuda"), torch.rand(4096, 4096, device="cuda"))
    return {
        "fft_1d_2p24": cuda_median(lambda: torch.fft.fft(x)),
        "rfft_rows_4096": cuda_median(lambda: torch.fft.rfft(r)),
        "fft2_4096": cuda_median(lambda: torch.fft.fft2(m)),
    }
