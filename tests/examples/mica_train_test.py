#!/usr/bin/env python3
"""End-to-end tests of examples/train (mica-train) on a tiny model and corpus.

Usage: mica_train_test.py <mica-train executable> <scratch dir>
Checks: a run writes a checkpoint, metrics.csv, loss.svg and a sample, and its loss falls;
a run interrupted (SIGINT) and resumed reproduces the uninterrupted losses; --finetune freezes
everything but the biases (and LoRA adapters) so the checkpoint shows only those changed; bad
input gives a message and a non-zero exit without a traceback or a crash.
"""
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

EXE, WORK = sys.argv[1], sys.argv[2]
TINY = ["--layers", "1", "--dims", "32", "--heads", "2", "--context", "16", "--batch", "8", "--eval-batches", "2"]
from train_checks import check, failures, metrics, read_safetensors


def run(*args, ok=True, **kw):
    p = subprocess.run([EXE, *args], capture_output=True, text=True, timeout=300, **kw)
    if ok and p.returncode != 0:
        print(p.stdout, p.stderr)
        raise SystemExit(f"mica-train {' '.join(args)} exited {p.returncode}")
    return p



shutil.rmtree(WORK, ignore_errors=True)
os.makedirs(WORK)
# A corpus with structure to learn: repeated words in varying order.
words = ["mica", "trains", "a", "small", "model", "on", "bytes", "and", "the", "loss", "falls", "quickly"]
lines = []
for i in range(3000):
    lines.append(" ".join(words[(i * k) % len(words)] for k in range(1, 7)))
corpus = os.path.join(WORK, "corpus.txt")
with open(corpus, "w") as f:
    f.write("\n".join(lines))

# 1. A full run: files, falling loss, a sample.
A = os.path.join(WORK, "A")
p = run("--data", corpus, "--out", A, "--steps", "40", "--lr", "1e-2", "--warmup", "5", "--eval-every", "10",
        "--save-every", "10", "--sample", "40", *TINY)
rows = metrics(A)
check(len(rows) == 40, f"40 metric rows, got {len(rows)}")
check(float(rows[-1]["train_loss"]) < float(rows[0]["train_loss"]) - 1.0,
      f"loss falls by more than 1 nat: {rows[0]['train_loss']} -> {rows[-1]['train_loss']}")
vals = [float(r["val_loss"]) for r in rows if r["val_loss"]]
check(len(vals) == 5 and vals[-1] < vals[0], f"validation losses at steps 1,10,20,30,40 fall: {vals}")
check("--- sample" in p.stdout, "a sample is printed")
svg = ET.parse(os.path.join(A, "loss.svg")).getroot()
check(svg.tag.endswith("svg") and len(svg.findall(".//{http://www.w3.org/2000/svg}polyline")) == 2,
      "loss.svg holds the train and validation curves")
meta, tensors = read_safetensors(os.path.join(A, "checkpoint.safetensors"))
check(meta.get("step") == "40" and meta.get("phase") == "pretrain", f"checkpoint metadata {meta}")
check("model.wte.weight" in tensors and "optimizer.step" in tensors and
      any(k.startswith("optimizer.blocks.0.attn.query_proj.weight.") for k in tensors),
      "checkpoint holds the model, the optimizer state and its step")
check(not [f for f in os.listdir(A) if ".tmp" in f], "no temporary files are left behind")

# 2. Interrupt (SIGINT) and resume: the same losses as the uninterrupted run.
B = os.path.join(WORK, "B")
args = ["--data", corpus, "--out", B, "--steps", "40", "--lr", "1e-2", "--warmup", "5", "--eval-every", "10",
        "--save-every", "10", "--sample", "0", *TINY]
proc = subprocess.Popen([EXE, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
deadline = time.time() + 120
while time.time() < deadline and not os.path.exists(os.path.join(B, "checkpoint.safetensors")):
    time.sleep(0.01)
proc.send_signal(signal.SIGINT)
out, err = proc.communicate(timeout=120)
if proc.returncode == 0:
    print("note: the run finished before the interrupt arrived")
else:
    check(proc.returncode == 130 and "--resume" in out,
          f"SIGINT: exit 130 and a resume hint, got {proc.returncode}; stderr ends: {err[-800:]!r}")
stopped = int(read_safetensors(os.path.join(B, "checkpoint.safetensors"))[0]["step"])
check(len(metrics(B)) == stopped, "metrics.csv matches the checkpoint's step")
run(*args, "--resume")
rb = metrics(B)
check(len(rb) == 40, f"resumed run ends with 40 rows, got {len(rb)}")
diff = max(abs(float(x["train_loss"]) - float(y["train_loss"])) for x, y in zip(rows, rb))
check(diff < 1e-4, f"resumed losses equal the uninterrupted run's (largest difference {diff})")

# 3. Fine-tuning from A's checkpoint: only biases (and the LoRA adapters) change.
C = os.path.join(WORK, "C")
shutil.copytree(A, C)
p = run("--data", corpus, "--out", C, "--resume", "--steps", "40", "--finetune", "5", "--lora", "2", "--lr", "1e-2",
        "--eval-every", "0", "--sample", "0", *TINY)
check("trainable parameters:" in p.stdout, "fine-tuning reports trainable versus total parameters")
_, before = read_safetensors(os.path.join(A, "checkpoint.safetensors"))
meta, after = read_safetensors(os.path.join(C, "checkpoint.safetensors"))
check(meta.get("phase") == "finetune" and meta.get("step") == "45" and meta.get("lora") == "2", f"metadata {meta}")
changed = set()
for k, (dt, shape, data) in after.items():
    if not k.startswith("model."):
        continue
    name = k[len("model."):].replace(".linear.", ".")  # LoRALinear wraps the original Linear
    if name not in [b[len("model."):] for b in before] or before["model." + name][2] != data:
        changed.add(k)
check(changed and all(k.endswith(".bias") or ".lora_" in k for k in changed),
      f"only biases and LoRA weights changed: {sorted(changed)}")
check(any(".lora_b" in k for k in changed), "the LoRA weights trained")

# 4. Bad input: a message and a non-zero exit.
# Token-id data (.npy, uint16): the vocabulary comes from the largest id, the run trains in bf16
# autocast (matrix products in bfloat16, weights float32), resumes, and the checkpoint records
# the vocabulary; the GPT-2 preset ties the output projection to the token embedding.
def save_npy(path, values, code):
    """A 1-D .npy (format 1.0) of `values` with struct type code `code` ('H' uint16, 'i' int32)."""
    descr = {"H": "<u2", "i": "<i4"}[code]
    header = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': ({len(values)},), }}"
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
        f.write(struct.pack(f"<{len(values)}{code}", *values))


tok = os.path.join(WORK, "tokens.npy")
save_npy(tok, [(7 * i + (i // 5)) % 300 for i in range(6000)], "H")
T = os.path.join(WORK, "T")
p = run("--data", tok, "--out", T, "--steps", "30", "--lr", "3e-3", "--precision", "bf16", "--eval-every", "10",
        *TINY)
check("vocabulary 320" in p.stdout and "bf16" in p.stdout, f"token data header: {p.stdout[:300]}")
losses_t = [float(r["train_loss"]) for r in metrics(T)]
check(losses_t[-1] < losses_t[0] - 0.5, f"bf16 token-id loss falls: {losses_t[0]} -> {losses_t[-1]}")
meta, tensors = read_safetensors(os.path.join(T, "checkpoint.safetensors"))
check(meta.get("vocab") == "320" and meta.get("tied") == "0", f"checkpoint vocab/tied: {meta}")
check(tensors["model.wte.weight"][0] == "F32", "bf16 autocast keeps float32 master weights")
run("--data", tok, "--out", T, "--resume", "--steps", "33", "--eval-every", "0", *TINY)
check(len(metrics(T)) == 33, "token-id run resumes")
G = os.path.join(WORK, "G")
p = run("--preset", "gpt2-124m", "--layers", "1", "--dims", "64", "--heads", "2", "--context", "32", "--data", tok,
        "--out", G, "--steps", "2", "--batch", "2", "--eval-every", "0")
meta, tensors = read_safetensors(os.path.join(G, "checkpoint.safetensors"))
check(meta.get("vocab") == "50304" and meta.get("tied") == "1" and "model.head.weight" not in tensors,
      f"gpt2-124m preset: vocabulary 50304, tied head: {meta}")
# --grad-checkpoint recomputes each block's activations in the backward pass: the same losses and
# the same checkpoint to the bit as the run that keeps them.
K1, K2 = os.path.join(WORK, "K1"), os.path.join(WORK, "K2")
kargs = ["--data", tok, "--steps", "4", "--eval-every", "0", "--sample", "0", "--layers", "2", "--dims", "32",
         "--heads", "2", "--context", "16", "--batch", "4"]
run(*kargs, "--out", K1)
run(*kargs, "--out", K2, "--grad-checkpoint")
check([r["train_loss"] for r in metrics(K1)] == [r["train_loss"] for r in metrics(K2)],
      "--grad-checkpoint: the same losses")
with open(os.path.join(K1, "checkpoint.safetensors"), "rb") as f1, open(os.path.join(K2, "checkpoint.safetensors"), "rb") as f2:
    check(f1.read() == f2.read(), "--grad-checkpoint: the same checkpoint")
# The step is compiled by default on the CPU: --no-compile trains the same (fused sums add in
# another order, so equal to float32 rounding, not to the bit).
K3 = os.path.join(WORK, "K3")
run(*kargs, "--out", K3, "--no-compile")
l1, l3 = [float(r["train_loss"]) for r in metrics(K1)], [float(r["train_loss"]) for r in metrics(K3)]
check(len(l1) == len(l3) and all(abs(a - b) <= 1e-5 * max(1.0, abs(b)) for a, b in zip(l1, l3)),
      f"--no-compile: the compiled step's losses {l1} vs {l3}")

bad_ids = os.path.join(WORK, "bad_ids.npy")
save_npy(bad_ids, [1, 2, 400] * 100, "i")
empty = os.path.join(WORK, "empty.txt")
open(empty, "w").close()
garbage = os.path.join(WORK, "garbage.safetensors")
with open(garbage, "wb") as f:
    f.write(b"\xff" * 100)
cases = [
    (["--data", os.path.join(WORK, "missing.txt")], 1, "does not exist"),
    (["--data", empty], 1, "is empty"),
    (["--steps", "abc"], 2, "--steps expects an integer"),
    (["--lr", "-1"], 2, "--lr expects a number"),
    (["--dims", "32", "--heads", "3"], 2, "must divide"),
    (["--frobnicate"], 2, "unknown flag"),
    (["--device", "tpu"], 2, "--device expects cpu or gpu"),
    (["--data", corpus, "--resume", garbage, *TINY], 1, garbage),
    (["--data", corpus, "--out", A, "--resume", "--layers", "2"], 2, "does not match the checkpoint"),
    (["--data", corpus, "--init", os.path.join(A, "loss.svg"), *TINY], 1, "loss.svg"),
    (["--data", corpus, "--context", "100000"], 1, "corpus too small"),
    (["--data", bad_ids, "--vocab", "300", *TINY], 1, "outside the vocabulary"),
    (["--data", corpus, "--vocab", "100", *TINY], 2, "too small for text"),
    (["--preset", "gpt3"], 2, "--preset expects gpt2-124m"),
    (["--precision", "fp8"], 2, "--precision expects fp32 or bf16"),
]
for args, code, msg in cases:
    p = run(*args, "--out", os.path.join(WORK, "bad"), ok=False) if "--out" not in args else run(*args, ok=False)
    check(p.returncode == code and msg in p.stderr and p.stderr.startswith("mica-train: "),
          f"{args}: exit {code} with '{msg}', got {p.returncode}: {p.stderr.strip()}")
# A checkpoint of another model shape fails to load with a clear message, leaving it untouched.
D = os.path.join(WORK, "D")
shutil.copytree(A, D)
with open(os.path.join(D, "checkpoint.safetensors"), "rb") as f:
    raw = f.read()
p = run("--data", corpus, "--out", D, "--resume", "--init", os.path.join(D, "checkpoint.safetensors"), *TINY, ok=False)
check(p.returncode == 1 and "do not fit the model" in p.stderr, f"foreign weights rejected: {p.stderr.strip()}")
with open(os.path.join(D, "checkpoint.safetensors"), "rb") as f:
    check(f.read() == raw, "a failed run leaves the checkpoint untouched")

print(f"{len(failures)} failure(s)")
sys.exit(1 if failures else 0)
