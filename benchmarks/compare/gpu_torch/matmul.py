"""PyTorch side of benchmarks/gpu/matmul_bench.cpp (cuBLAS through torch.matmul)."""
import torch

from common import cuda_median


def product(m, k, n, dt, trans_b=False):
    a = torch.rand(m, k, device="cuda").to(dt)
    b = torch.rand((n, k) if trans_b else (k, n), device="cuda").to(dt)
    bb = b.t() if trans_b else b
    t = cuda_median(lambda: a @ bb)
    del a, b, bb
    return t


def cases():
    out = {}
    torch.backends.cuda.matmul.allow_tf32 = False
    for s in (4096, 8192):
        out[f"matmul_bf16_{s}"] = product(s, s, s, torch.bfloat16)
    for s in (4096, 8192):
        out[f"matmul_f32_{s}"] = product(s, s, s, torch.float32)
    torch.backends.cuda.matmul.allow_tf32 = True
    out["matmul_tf32_8192"] = product(8192, 8192, 8192, torch.float32)
    torch.backends.cuda.matmul.allow_tf32 = False
    out["gpt2_qkv_bf16"] = product(8192, 768, 2304, torch.bfloat16, True)
    out["gpt2_mlp_up_bf16"] = product(8192, 768, 3072, torch.bfloat16, True)
    out["gpt2_lm_head_bf16"] = product(8192, 768, 50304, torch.bfloat16, True)
    out["gpt2_lm_head_dw_bf16"] = product(50304, 8192, 768, torch.bfloat16)
    x = torch.rand(8, 1024, 768, device="cuda").to(torch.bfloat16)
    w = torch.rand(2304, 768, device="cuda").to(torch.bfloat16)
    b = torch.rand(2304, device="cuda").to(torch.bfloat16)
    out["gpt2_qkv_linear_bias_bf16"] = cuda_median(lambda: torch.nn.functional.linear(x, w, b))
    return out
