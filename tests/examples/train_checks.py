"""Shared by the mica-train tests: the failure list, and readers of the files a run writes."""
import csv
import json
import os
import struct

failures = []


def check(cond, what):
    """Records (and prints) a failed check; the test exits non-zero if any failed."""
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def metrics(out):
    """The rows of a run's metrics.csv."""
    with open(os.path.join(out, "metrics.csv")) as f:
        return list(csv.DictReader(f))


def read_safetensors(path):
    """(metadata, {name: (dtype, shape, bytes)}) read by hand from the file's layout."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    return meta, {k: (v["dtype"], v["shape"], data[v["data_offsets"][0]:v["data_offsets"][1]]) for k, v in header.items()}
