"""PyTorch side of benchmarks/gpu/attention_bench.cpp: causal bf16 attention, the fastest of
PyTorch's SDPA back-ends (flash, cuDNN, memory-efficient) for each shape, forward and
forward + backward."""
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

from common import cuda_median

BACKENDS = {"flash": SDPBackend.FLASH_ATTENTION, "cudnn": SDPBackend.CUDNN_ATTENTION,
            "efficient": SDPBackend.EFFICIENT_ATTENTION}


def cases():
    out = {}
    for name, b, h, l, d in (("attn_causal_b8_h12_l1024_d64", 8, 12, 1024, 64),
                             ("attn_causal_b4_h16_l4096_d128", 4, 16, 4096, 128)):
        q, k, v, cot = (torch.randn(b, h, l, d, device="cuda", dtype=torch.bfloat16) for _ in range(4))
        qg, kg, vg = (t.clone().requires_grad_(True) for t in (q, k, v))
        sdpa = torch.nn.functional.scaled_dot_product_attention
        best_f, best_fb = {}, {}
        for bname, backend in BACKENDS.items():
            try:
                with sdpa_kernel(backend):
                    best_f[bname] = cuda_median(lambda: sdpa(q, k, v, is_causal=True))

                    def fwd_bwd():
                        qg.grad = kg.grad = vg.grad = None
                        sdpa(qg, kg, vg, is_causal=True).backward(cot)

                    best_fb[bname] = cuda_median(fwd_bwd)
            except RuntimeError:  # a back-end that does not take the shape
                pass
        for tag, best in (("_fwd_bf16", best_f), ("_fwd_bwd_bf16", best_fb)):
            fastest = min(best, key=best.get)
            print(f"  torch {name}{tag}: " + ", ".join(f"{k} {t * 1e3:.3f} ms" for k, t in best.items()) +
                  f" -> {fastest}")
            out[name + tag] = best[fastest]
    return out
