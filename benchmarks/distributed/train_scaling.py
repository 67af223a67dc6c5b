#!/usr/bin/env python3
"""Data-parallel scaling of mica-train on CPU ranks: tokens/s of `mpirun -np N mica-train
--distributed` against one rank at the same per-rank batch (issue 17's target: 2 ranks >= 1.7x).

Usage: benchmarks/distributed/train_scaling.py BUILD_DIR [--ranks 2] [--per-rank-batch 8]
       [--steps 30] [--rounds 3] [--threads 1] [--shard-optimizer] [-- extra mica-train flags]

Every rank runs with MICA_NUM_THREADS=--threads; the one-rank run is `mica-train --distributed`
without mpirun (a group of one). Runs alternate (1 rank, N ranks, 1 rank, ...) so that a busy
machine slows both alike. tokens/s is the global batch's tokens over each step's wall time
(metrics.csv), the median over the steps after the first 5, then the median over the rounds.
"""
import argparse
import csv
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

ap = argparse.ArgumentParser()
ap.add_argument("build")
ap.add_argument("--ranks", type=int, default=2)
ap.add_argument("--per-rank-batch", type=int, default=8)
ap.add_argument("--steps", type=int, default=30)
ap.add_argument("--rounds", type=int, default=3)
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--shard-optimizer", action="store_true")
ap.add_argument("extra", nargs="*")
a = ap.parse_args()

exe = os.path.join(a.build, "examples", "mica-train")
mpiexec = shutil.which("mpiexec") or shutil.which("mpirun")
if not mpiexec:
    sys.exit("train_scaling: expected mpiexec or mpirun on PATH, got neither")
env = dict(os.environ, MICA_NUM_THREADS=str(a.threads))
# Open MPI: one host, shared memory; allowed as root (harmless elsewhere).
env.setdefault("OMPI_MCA_btl", "self,vader")
env.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
env.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
work = tempfile.mkdtemp(prefix="mica-train-scaling-")
flags = ["--steps", str(a.steps), "--eval-every", "0", "--sample", "0", "--save-every", str(10**6), "--distributed",
         *(["--shard-optimizer"] if a.shard_optimizer else []), *a.extra]


def tokens_per_s(n):
    out = os.path.join(work, f"np{n}")
    shutil.rmtree(out, ignore_errors=True)
    cmd = ([mpiexec, "-np", str(n), "-x", "MICA_NUM_THREADS"] if n > 1 else []) + [
        exe, *flags, "--batch", str(a.per_rank_batch * n), "--out", out]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"train_scaling: {' '.join(cmd)} exited {p.returncode}:\n{p.stderr[-2000:]}")
    with open(os.path.join(out, "metrics.csv")) as f:
        rows = list(csv.DictReader(f))
    return statistics.median(float(r["tokens_per_s"]) for r in rows[5:])


one, many = [], []
for i in range(a.rounds):
    one.append(tokens_per_s(1))
    many.append(tokens_per_s(a.ranks))
    print(f"round {i + 1}: 1 rank {one[-1]:.0f} tokens/s, {a.ranks} ranks {many[-1]:.0f} tokens/s "
          f"({many[-1] / one[-1]:.2f}x)", flush=True)
m1, mn = statistics.median(one), statistics.median(many)
print(f"median: 1 rank {m1:.0f} tokens/s, {a.ranks} ranks {mn:.0f} tokens/s: {mn / m1:.2f}x "
      f"(per-rank batch {a.per_rank_batch}, {a.threads} thread(s) per rank{', sharded optimizer' if a.shard_optimizer else ''})")
shutil.rmtree(work, ignore_errors=True)
