"""PyTorch side of benchmarks/gpu/indexing_bench.cpp: the embedding lookup and its gradient
(index_add_ into a fresh zeros table), and torch.gather of each row's target logit."""
import torch

from common import cuda_median


def cases():
    V, D, N = 50304, 768, 8192
    out = {}
    ids = torch.randint(0, V, (N,), device="cuda", dtype=torch.int64)
    for dt, sfx in ((torch.float32, "_f32"), (torch.bfloat16, "_bf16")):
        table = torch.rand(V, D, device="cuda").to(dt)
        grad = torch.rand(N, D, device="cuda").to(dt)
        out["embedding_gather" + sfx] = cuda_median(lambda: torch.nn.functional.embedding(ids, table))
        out["embedding_grad" + sfx] = cuda_median(
            lambda: torch.zeros(V, D, device="cuda", dtype=dt).index_add_(0, ids, grad))
        del table, grad
        torch.cuda.empty_cache()
    logits = torch.rand(N, V, device="cuda")
    targets = ids.view(N, 1)
    out["take_along_axis_f32"] = cuda_median(lambda: torch.gather(logits, 1, targets))
    return out
