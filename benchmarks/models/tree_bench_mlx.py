"""MLX's Python on the tree_bench operations: the same GPT-2-sized module (148 arrays),
microseconds per call of parameters(), update(parameters) and freeze() + unfreeze(keys=bias)."""
import time

import mlx.core as mx
import mlx.nn as nn


class Embedding(nn.Module):
    def __init__(self, n, d):
        super().__init__()
        self.weight = mx.zeros((n, d))


class LayerNorm(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.weight = mx.ones((d,))
        self.bias = mx.zeros((d,))


class Attention(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.c_attn = nn.Linear(d, 3 * d)
        self.c_proj = nn.Linear(d, d)


class MLP(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.c_fc = nn.Linear(d, 4 * d)
        self.c_proj = nn.Linear(4 * d, d)


class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.ln_1 = LayerNorm(d)
        self.attn = Attention(d)
        self.ln_2 = LayerNorm(d)
        self.mlp = MLP(d)


class GPT2(nn.Module):
    def __init__(self, vocab=50257, ctx=1024, d=768, layers=12):
        super().__init__()
        self.wte = Embedding(vocab, d)
        self.wpe = Embedding(ctx, d)
        self.h = [Block(d) for _ in range(layers)]
        self.ln_f = LayerNorm(d)


def time_us(fn, rounds=30, iters=50):
    for _ in range(iters):
        fn()
    per_call = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(iters):
            fn()
        per_call.append((time.perf_counter() - t0) * 1e6 / iters)
    per_call.sort()
    return per_call[0], per_call[len(per_call) // 2]


def main():
    model = GPT2()
    params = model.parameters()

    def freeze_unfreeze():
        model.freeze()
        model.unfreeze(keys=["bias"])

    print(f"{'operation (us per call)':28s} {'best':>8s} {'median':>8s}")
    for name, fn in [("parameters", model.parameters), ("update", lambda: model.update(params)),
                     ("freeze_unfreeze_bias", freeze_unfreeze)]:
        best, median = time_us(fn)
        print(f"{name:28s} {best:8.1f} {median:8.1f}")


if __name__ == "__main__":
    main()
