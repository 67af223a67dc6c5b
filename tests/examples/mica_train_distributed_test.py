#!/usr/bin/env python3
"""mica-train --distributed under mpirun, on a tiny model (a few seconds in all).

Usage: mica_train_distributed_test.py <mpiexec> <numproc flag> <mica-train executable> <scratch dir>
(ctest sets Open MPI's environment: tests/CMakeLists.txt's MICA_MPI_ENV, MICA_NUM_THREADS=1.)

Checks, with -np 2 and -np 3, plain data parallelism and --shard-optimizer:
- every rank ends with the same weights to the bit (--debug-rank-weights files compared bytewise);
- the training and validation losses equal one process's on the same global batches within
  1e-5 relative: per-shard mean losses averaged over equal shards are the global mean, but the
  gradients are summed in another order (per shard, then across ranks), which moves the last bits;
- without mpirun, --distributed is a group of one: the same losses and checkpoint to the bit;
- only rank 0 writes the checkpoint, metrics and curve; the checkpoint of a sharded run holds
  AdamW's whole state in its own layout, so a run resumes from it with another number of ranks;
- a sharded run resumed from its step-3 checkpoint repeats the uninterrupted losses exactly;
- misuse (a batch that does not split, --shard-optimizer alone, mpirun without --distributed)
  gives a message and a non-zero exit.
"""
import os
import shutil
import struct
import subprocess
import sys

MPIEXEC, NP_FLAG, EXE, WORK = sys.argv[1:5]
TINY = ["--layers", "1", "--dims", "32", "--heads", "2", "--context", "16", "--eval-batches", "2", "--sample", "0",
        "--lr", "1e-2", "--warmup", "2", "--eval-every", "3"]
from train_checks import check, failures, metrics, read_safetensors


def run(*args, np=None, ok=True):
    cmd = ([MPIEXEC, NP_FLAG, str(np)] if np else []) + [EXE, *args]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if ok and p.returncode != 0:
        print(p.stdout, p.stderr)
        raise SystemExit(f"{' '.join(cmd)} exited {p.returncode}")
    return p



def floats(t):
    dtype, _, raw = t
    assert dtype == "F32", dtype
    return struct.unpack(f"<{len(raw) // 4}f", raw)


def losses_close(ref, got, what, rtol=1e-5, cols=("train_loss", "val_loss")):
    """The losses (cols) of two runs, row by row, within rtol (relative)."""
    check(len(ref) == len(got), f"{what}: {len(got)} metric rows, want {len(ref)}")
    worst = 0.0
    for a, b in zip(ref, got):
        for col in cols:
            check(bool(a[col]) == bool(b[col]), f"{what}: step {a['step']} {col} present in one run only")
            if a[col] and b[col]:
                worst = max(worst, abs(float(a[col]) - float(b[col])) / abs(float(a[col])))
    check(worst <= rtol, f"{what}: losses differ from one process's by {worst:.2e} relative (> {rtol})")
    return worst


def ranks_agree(out, n, what):
    files = [os.path.join(out, f"weights.rank{r}.safetensors") for r in range(n)]
    if not all(os.path.exists(f) for f in files):
        check(False, f"{what}: every rank wrote weights.rank<r>.safetensors: {sorted(os.listdir(out))}")
        return
    raw = [open(f, "rb").read() for f in files]
    check(all(x == raw[0] for x in raw), f"{what}: the {n} ranks' weights are bit-identical")
    # ... and they are the checkpoint's weights.
    _, w = read_safetensors(files[0])
    _, ck = read_safetensors(os.path.join(out, "checkpoint.safetensors"))
    check(all(ck["model." + k][2] == v[2] for k, v in w.items()), f"{what}: rank weights equal the checkpoint's")


shutil.rmtree(WORK, ignore_errors=True)
os.makedirs(WORK)
words = ["mica", "trains", "a", "small", "model", "on", "bytes", "and", "the", "loss", "falls", "quickly"]
corpus = os.path.join(WORK, "corpus.txt")
with open(corpus, "w") as f:
    f.write("\n".join(" ".join(words[(i * k) % len(words)] for k in range(1, 7)) for i in range(3000)))
base = ["--data", corpus, *TINY]


def out(name):
    return os.path.join(WORK, name)


# One process, the references: global batches of 12 (divisible by 2 and 3), 6 steps.
run(*base, "--batch", "12", "--steps", "6", "--out", out("S"))
ref = metrics(out("S"))
check(len(ref) == 6 and float(ref[-1]["train_loss"]) < float(ref[0]["train_loss"]), "the reference run trains")

# 1. Data-parallel and sharded runs on 2 and 3 ranks.
worst = {}
for np in (2, 3):
    for mode in ([], ["--shard-optimizer"]):
        name = f"np{np}" + ("-sharded" if mode else "")
        p = run(*base, "--batch", "12", "--steps", "6", "--out", out(name), "--distributed", "--debug-rank-weights",
                *mode, np=np)
        check(f"data-parallel over {np} ranks (mpi): global batch 12, {12 // np} sequences per rank" in p.stdout,
              f"{name}: rank 0 reports the split: {p.stdout[:400]}")
        check(p.stdout.count("GPT: ") == 1, f"{name}: only rank 0 prints")
        ranks_agree(out(name), np, name)
        worst[name] = losses_close(ref, metrics(out(name)), name)
        written = sorted(f for f in os.listdir(out(name)) if not f.startswith("weights.rank"))
        check(written == ["checkpoint.safetensors", "loss.svg", "metrics.csv"], f"{name}: rank 0's files only: {written}")
        meta, ck = read_safetensors(os.path.join(out(name), "checkpoint.safetensors"))
        _, ck_ref = read_safetensors(os.path.join(out("S"), "checkpoint.safetensors"))
        check(meta.get("step") == "6" and sorted(ck) == sorted(ck_ref) and
              all(ck[k][1] == ck_ref[k][1] for k in ck), f"{name}: the checkpoint has the single-process layout")
        if mode:
            # AdamW's state per rank: 2 x ceil(29664 / np) of 2 x 29664 elements.
            per_rank = 2 * -(-29664 // np)
            check(f"AdamW state per rank: {per_rank} elements (m and v) of 59328" in p.stdout,
                  f"{name}: state elements per rank reported: {p.stdout[:600]}")
            m, m_ref = floats(ck["optimizer.wte.weight.m"]), floats(ck_ref["optimizer.wte.weight.m"])
            scale = max(abs(x) for x in m_ref)
            check(max(abs(a - b) for a, b in zip(m, m_ref)) <= 1e-4 * scale,
                  f"{name}: the gathered first moments equal one process's")
print("largest relative loss difference from one process:", {k: f"{v:.1e}" for k, v in worst.items()})

# 2. Without mpirun, --distributed is a group of one: the same losses and weights to the bit.
run(*base, "--batch", "12", "--steps", "6", "--out", out("one"), "--distributed")
check([(r["train_loss"], r["val_loss"]) for r in metrics(out("one"))] == [(r["train_loss"], r["val_loss"]) for r in ref],
      "--distributed alone: the same losses as without the flag")
_, a = read_safetensors(os.path.join(out("S"), "checkpoint.safetensors"))
_, b = read_safetensors(os.path.join(out("one"), "checkpoint.safetensors"))
check(a == b, "--distributed alone: the same checkpoint as without the flag")

# 3. Resuming a sharded run: from its step-3 checkpoint with 2 ranks, the uninterrupted losses
# exactly; with 1 rank, the same within tolerance (the checkpoint does not depend on the ranks).
const = [*base, "--batch", "12", "--schedule", "constant", "--distributed", "--shard-optimizer"]
run(*const, "--steps", "6", "--out", out("R-full"), np=2)
run(*const, "--steps", "3", "--out", out("R"), np=2)
shutil.copytree(out("R"), out("R1"))
p = run(*const, "--steps", "6", "--out", out("R"), "--resume", np=2)
check("resumed from" in p.stdout, "the sharded run resumes")
full, resumed = metrics(out("R-full")), metrics(out("R"))
check([r["train_loss"] for r in full] == [r["train_loss"] for r in resumed],
      f"resumed on 2 ranks: the uninterrupted losses {[r['train_loss'] for r in full]}, "
      f"got {[r['train_loss'] for r in resumed]}")
run(*const, "--steps", "6", "--out", out("R1"), "--resume")
# (a resumed run also validates at its first step: the training losses are compared)
losses_close(full, metrics(out("R1")), "resumed on 1 rank", cols=("train_loss",))

# 4. Misuse.
p = run(*base, "--batch", "8", "--steps", "2", "--out", out("bad"), "--distributed", np=3, ok=False)
check(p.returncode != 0 and "expects --batch (the global batch) to be a multiple of the 3 ranks, got 8" in p.stderr,
      f"--batch 8 over 3 ranks refused: {p.returncode} {p.stderr.strip()[:300]}")
check(p.stderr.count("mica-train: ") == 1, f"a usage error is printed once, by rank 0: {p.stderr.strip()[:300]}")
p = run(*base, "--steps", "2", "--out", out("bad"), "--shard-optimizer", ok=False)
check(p.returncode == 2 and "--shard-optimizer expects --distributed" in p.stderr, f"--shard-optimizer alone: {p.stderr}")
p = run(*base, "--steps", "2", "--out", out("bad"), np=2, ok=False)
check(p.returncode != 0 and "expected --distributed" in p.stderr, f"mpirun without --distributed: {p.stderr[:300]}")

print(f"{len(failures)} failure(s)")
sys.exit(1 if failures else 0)
