"""PyTorch side of benchmarks/gpu/fused_bench.cpp (layer_norm, rms_norm forward and backward,
gelu and its backward, a fused Adam step), 8192 x 8192; rope over (8, 32, 2048, 128)."""
import torch
import torch.nn.functional as F

from common import cuda_median


def _rms_norm(x, w, eps):
    if hasattr(F, "rms_norm"):
        return F.rms_norm(x, (x.shape[-1],), w, eps)
    # Older PyTorch: the composition.
    return x * torch.rsqrt(x.float().pow(2).mean(-1, keepdim=True) + eps).to(x.dtype) * w


def cases():
    n = 8192
    eps = 1e-5
    out = {}
    for dt, sfx in ((torch.float32, "_f32"), (torch.bfloat16, "_bf16")):
        x = torch.randn(n, n, device="cuda").to(dt)
        g = torch.randn(n, n, device="cuda").to(dt)
        w = torch.rand(n, device="cuda").to(dt)
        b = torch.rand(n, device="cuda").to(dt)
        with torch.no_grad():
            out["layer_norm" + sfx] = cuda_median(lambda: F.layer_norm(x, (n,), w, b, eps))
            out["rms_norm" + sfx] = cuda_median(lambda: _rms_norm(x, w, eps))
            # The backward kernel alone, given the forward's saved statistics.
            _, mean, rstd = torch.ops.aten.native_layer_norm(x, (n,), w, b, eps)
            out["layer_norm_bwd" + sfx] = cuda_median(
                lambda: torch.ops.aten.native_layer_norm_backward(g, x, (n,), mean, rstd, w, b, [True, True, True]))
            out["gelu" + sfx] = cuda_median(lambda: F.gelu(x))
            out["gelu_bwd" + sfx] = cuda_median(lambda: torch.ops.aten.gelu_backward(g, x))
            del mean, rstd
        # rms_norm backward through autograd: forward + backward, minus the forward.
        xr = x.detach().requires_grad_(True)
        wr = w.detach().requires_grad_(True)

        def fwd():
            return _rms_norm(xr, wr, eps)

        def fwd_bwd():
            torch.autograd.grad(_rms_norm(xr, wr, eps), (xr, wr), g)

        out["rms_norm_bwd" + sfx] = max(cuda_median(fwd_bwd) - cuda_median(fwd), 0.0)
        del x, g, w, b, xr, wr
        torch.cuda.empty_cache()
    # Rotary embedding as PyTorch users write it (no fused op in PyTorch): cos/sin tables made
    # once outside the timing, then x cos + rotate_half(x) sin.
    q = torch.randn(8, 32, 2048, 128, device="cuda").to(torch.bfloat16)
    inv = 10000.0 ** (-torch.arange(0, 128, 2, device="cuda").float() / 128)
    th = torch.arange(2048, device="cuda").float()[:, None] * inv[None, :]
    cos = torch.cat([th.cos(), th.cos()], -1).to(torch.bfloat16)
    sin = torch.cat([th.sin(), th.sin()], -1).to(torch.bfloat16)

    def rope():
        x1, x2 = q[..., :64], q[..., 64:]
        return q * cos + torch.cat([-x2, x1], -1) * sin

    with torch.no_grad():
        out["rope_bf16"] = cuda_median(rope)
    del q, cos, sin
    torch.cuda.empty_cache()
    # One fused Adam step (PyTorch's fused=True kernel) of a 2^26-element float32 parameter.
    p = torch.randn(n * n, device="cuda")
    gr = torch.randn(n * n, device="cuda")
    m = torch.randn(n * n, device="cuda")
    v = torch.randn(n * n, device="cuda").abs()
    step = torch.tensor([10.0], device="cuda")
    out["adam_step_f32"] = cuda_median(lambda: torch._fused_adam_(
        [p], [gr], [m], [v], [], [step], lr=1e-3, beta1=0.9, beta2=0.999, weight_decay=0.0, eps=1e-8,
        amsgrad=False, maximize=False))
    del p, gr, m, v
    torch.cuda.empty_cache()
    return out
