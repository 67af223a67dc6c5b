"""PyTorch side of benchmarks/gpu/compile_bench.cpp: the 50-layer MLP (width 256, batch 32, MSE,
AdamW) training step eager (mlp50_step_plain) and replayed from a captured CUDA graph
(mlp50_step_compiled; AdamW with capturable=True, static inputs), wall time per step including the
host; the GELU-with-bias and layer-norm-plus-residual chains of 8192 x 8192 float32, eager, in
both rows (torch.compile's first call takes too long for this run)."""
import torch
import torch.nn.functional as F

from common import cuda_median, host_median


def _mlp():
    torch.manual_seed(0)
    layers = []
    for _ in range(50):
        layers += [torch.nn.Linear(256, 256), torch.nn.ReLU()]
    return torch.nn.Sequential(*layers).cuda()


def cases():
    out = {}
    x = torch.rand(32, 256, device="cuda")
    y = torch.rand(32, 256, device="cuda")
    model = _mlp()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        return loss

    out["mlp50_step_plain"] = host_median(step, reps=30)

    model = _mlp()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, capturable=True)
    sx, sy = x.clone(), y.clone()
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):  # warm-up on a side stream, as CUDA graph capture wants
        for _ in range(3):
            opt.zero_grad(set_to_none=True)
            F.mse_loss(model(sx), sy).backward()
            opt.step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    opt.zero_grad(set_to_none=True)
    with torch.cuda.graph(graph):
        static_loss = F.mse_loss(model(sx), sy)
        static_loss.backward()
        opt.step()
    out["mlp50_step_compiled"] = host_median(graph.replay, reps=30)

    n = 8192
    a = torch.rand(n, n, device="cuda")
    r = torch.rand(n, n, device="cuda")
    b = torch.rand(n, device="cuda")
    w = torch.rand(n, device="cuda")
    c = torch.rand(n, device="cuda")

    def gelu_bias():
        h = a + b
        return h * (torch.tanh((h + h * h * h * 0.044715) * 0.7978845608) + 1.0) * 0.5

    def ln_residual():
        h = a + r
        mu = h.mean(-1, keepdim=True)
        d = h - mu
        var = (d * d).mean(-1, keepdim=True)
        return d * torch.rsqrt(var + 1e-5) * w + c

    with torch.no_grad():
        out["gelu_bias_chain_plain"] = out["gelu_bias_chain_compiled"] = cuda_median(gelu_bias)
        out["ln_residual_chain_plain"] = out["ln_residual_chain_compiled"] = cuda_median(ln_residual)
    return out
