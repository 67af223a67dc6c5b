"""PyTorch side of benchmarks/gpu/quantized_bench.cpp: its 4-bit weight-only matmul
(torch._weight_int4pack_mm, tinygemm's kernel, group 64, bfloat16) where this build has it, and
the bfloat16 matmul of the same shapes."""
import torch

from common import cuda_median


def cases():
    out = {}
    K, N = 8192, 28672
    w = torch.randn(N, K, device="cuda", dtype=torch.bfloat16)
    for m in (1, 16):
        x = torch.randn(m, K, device="cuda", dtype=torch.bfloat16)
        shape = f"{m}x8192x28672"
        out[f"matmul_{shape}_bf16"] = cuda_median(lambda: x @ w.t())
        try:
            q = torch.randint(0, 16, (N, K), device="cuda", dtype=torch.int32)
            packed = torch._convert_weight_to_int4pack(((q[:, 1::2] << 4) | q[:, ::2]).to(torch.uint8), 8)
            sz = torch.randn(K // 64, N, 2, device="cuda", dtype=torch.bfloat16)
            out[f"qmm_4bit_{shape}_bf16"] = cuda_median(lambda: torch._weight_int4pack_mm(x, packed, 64, sz))
        except Exception as e:  # no int4 kernel in this build: the ratio column stays empty
            print(f"torch int4 matmul unavailable: {e!r}")
    return out
