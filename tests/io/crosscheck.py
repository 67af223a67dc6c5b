#!/usr/bin/env python3
"""io_crosscheck: files mica writes load in NumPy, safetensors, gguf and MLX with the right
values, and files those tools write load in mica.

    crosscheck.py <io_crosscheck_tool> <work dir>

Exits 77 (ctest's SKIP_RETURN_CODE) when numpy, safetensors, gguf or mlx is not installed.
Values are the fixture values of make_fixtures.py (`arr`), which the tool also writes.
"""
import os
import shutil
import subprocess
import sys
import zipfile

try:
    import numpy as np
    import gguf
    import mlx.core as mx
    from safetensors import safe_open
    from safetensors.numpy import load_file, save_file
except ImportError as e:  # pragma: no cover - depends on the machine
    print("io_crosscheck skipped: %s" % e)
    sys.exit(77)

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import arr  # noqa: E402

NP = {"bool": "|b1", "uint8": "|u1", "uint16": "<u2", "uint32": "<u4", "uint64": "<u8", "int8": "|i1",
      "int16": "<i2", "int32": "<i4", "int64": "<i8", "float16": "<f2", "float32": "<f4", "float64": "<f8",
      "bfloat16": "<f4", "complex64": "<c8"}  # bfloat16 values compare as float32 (all exact)
ALL = list(NP)
failures = []
checked = [0]


def check(ok, what):
    checked[0] += 1
    if not ok:
        failures.append(what)
        print("FAIL", what)


def expected(name):
    """The values the tool wrote for '<dtype>_<layout>'."""
    dt, layout = name.rsplit("_", 1)
    d = NP[dt]
    return {"c": lambda: arr((3, 4), d), "t": lambda: arr((4, 3), d).T, "s": lambda: arr((), d),
            "e": lambda: arr((0, 2), d)}[layout]()


def names(dtypes):
    return [d + "_" + l for d in dtypes for l in "ctse"]


def same_np(got, want, what, dtype=True):
    ok = got.shape == want.shape and np.array_equal(got, want)
    if dtype:
        ok = ok and got.dtype == want.dtype
    check(ok, "%s: got %s %s, want %s %s" % (what, got.dtype, got.shape, want.dtype, want.shape))


def same_mx(got, name, what):
    dt = name.rsplit("_", 1)[0]
    check(str(got.dtype) == "mlx.core." + dt, "%s: mlx dtype %s, want %s" % (what, got.dtype, dt))
    g = np.array(got.astype(mx.float32) if dt == "bfloat16" else got)
    same_np(g, expected(name), what, dtype=dt != "bfloat16")


def bf16_bits(values):
    return np.array(mx.array(values.astype(np.float32)).astype(mx.bfloat16).view(mx.uint16))


def check_mica_files(d):
    # .npy: NumPy (all but bfloat16, which NumPy has no type for) and MLX (all).
    for n in names(ALL):
        f = os.path.join(d, n + ".npy")
        with open(f, "rb") as fh:
            raw = fh.read()
        hlen = raw[8] | (raw[9] << 8)
        check(raw[:8] == b"\x93NUMPY\x01\x00" and (10 + hlen) % 64 == 0 and b"'fortran_order': False" in raw[:10 + hlen],
              n + ".npy header")
        a = np.load(f)
        if n.startswith("bfloat16"):
            same_np(a.view("<u2"), bf16_bits(expected(n)), "numpy " + n + ".npy bits", dtype=False)
        else:
            same_np(a, expected(n), "numpy " + n + ".npy")
        same_mx(mx.load(f), n, "mlx " + n + ".npy")
    # .npz
    for name, method in [("stored.npz", zipfile.ZIP_STORED), ("compressed.npz", zipfile.ZIP_DEFLATED)]:
        f = os.path.join(d, name)
        with zipfile.ZipFile(f) as z:
            check(z.testzip() is None, name + " CRCs")
            check(all(i.compress_type == method for i in z.infolist()), name + " compression")
        want = names(["float32", "int64", "bool", "complex64", "float16"])
        z = np.load(f)
        check(sorted(z.files) == sorted(want), name + " keys")
        for n in want:
            same_np(z[n], expected(n), "numpy %s[%s]" % (name, n))
        m = mx.load(f)
        for n in want:
            same_mx(m[n], n, "mlx %s[%s]" % (name, n))
    z = np.load(os.path.join(d, "positional.npz"))
    same_np(z["arr_0"], expected("int32_c"), "positional arr_0")
    same_np(z["arr_1"], expected("float32_t"), "positional arr_1")
    # .safetensors: the reference reader (it validates the header and the packed offsets).
    f = os.path.join(d, "numpy.safetensors")
    t = load_file(f)
    no_bf16 = [x for x in ALL if x != "bfloat16"]
    check(sorted(t) == sorted(names(no_bf16)), "numpy.safetensors keys")
    for n in names(no_bf16):
        same_np(t[n], expected(n), "safetensors " + n)
    with safe_open(f, framework="np") as s:
        check(s.metadata() == {"k": "v"}, "numpy.safetensors metadata")
    with safe_open(os.path.join(d, "all.safetensors"), framework="np") as s:
        check(sorted(s.keys()) == sorted(names(ALL)), "all.safetensors keys")
        check(s.metadata() == {"a": "b", "x": "y"}, "all.safetensors metadata")
        for n in names(no_bf16):
            same_np(s.get_tensor(n), expected(n), "safetensors all " + n)
    m, meta = mx.load(os.path.join(d, "mlx.safetensors"), return_metadata=True)
    check(meta == {"k": "v"}, "mlx.safetensors metadata")
    for n in names([x for x in ALL if x != "float64"]):
        same_mx(m[n], n, "mlx safetensors " + n)
    # .gguf: the gguf package's reader, then MLX.
    r = gguf.GGUFReader(os.path.join(d, "all.gguf"))
    T = gguf.GGMLQuantizationType
    types = {"float32": T.F32, "float16": T.F16, "bfloat16": T.BF16, "float64": T.F64, "int8": T.I8,
             "int16": T.I16, "int32": T.I32, "int64": T.I64}
    tensors = {t.name: t for t in r.tensors}
    gguf_names = [n for n in names(types) if n != "bfloat16_s"]  # see crosscheck.cpp
    check(sorted(tensors) == sorted(gguf_names), "all.gguf tensor names")
    for n in gguf_names:
        t, want = tensors[n], expected(n)
        check(t.tensor_type == types[n.rsplit("_", 1)[0]], "gguf type of " + n)
        check(list(reversed([int(x) for x in t.shape])) == list(want.shape), "gguf shape of " + n)
        check(t.data_offset % 32 == 0, "gguf alignment of " + n)
        data = np.asarray(t.data).reshape(-1)
        if n.startswith("bfloat16"):
            same_np(data.view("<u2"), bf16_bits(want).reshape(-1), "gguf " + n, dtype=False)
        else:
            same_np(data, want.reshape(-1), "gguf " + n)
    V = gguf.GGUFValueType
    want_fields = {"u8": (V.UINT8, 7), "i8": (V.INT8, -7), "u16": (V.UINT16, 700), "i16": (V.INT16, -700),
                   "u32": (V.UINT32, 70000), "i32": (V.INT32, -70000), "f32": (V.FLOAT32, 1.5),
                   "bool": (V.BOOL, True), "u64": (V.UINT64, 2**40), "i64": (V.INT64, -(2**40)),
                   "f64": (V.FLOAT64, 2.5), "str": (V.STRING, "hello"), "strs": (V.ARRAY, ["a", "bc"]),
                   "arr_i32": (V.ARRAY, [1, -2, 3]), "arr_f32": (V.ARRAY, [0.5, 1.5]),
                   "arr_bool": (V.ARRAY, [True, False])}
    for k, (vt, val) in want_fields.items():
        f = r.fields.get(k)
        check(f is not None and f.types[0] == vt and f.contents() == val,
              "gguf field %s: %s" % (k, None if f is None else (f.types, f.contents())))
    m, meta = mx.load(os.path.join(d, "mlx.gguf"), return_metadata=True)
    for n in names(["float32", "float16", "int8", "int16", "int32"]):
        same_mx(m[n], n, "mlx gguf " + n)
    check(meta["str"] == "hello" and meta["strs"] == ["a", "bc"], "mlx gguf strings")
    for k in ["u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "u64", "i64", "arr_i32", "arr_f32", "arr_bool"]:
        check(np.array(meta[k]).tolist() == want_fields[k][1], "mlx gguf metadata " + k)


def write_python_files(d):
    """Files written by NumPy, safetensors, gguf and MLX, listed in manifest.txt for the tool."""
    os.makedirs(d)
    lines = []

    def add(fmt, f, key, dtype, shape):
        lines.append(" ".join([fmt, f, key, dtype] + [str(s) for s in shape]))

    for dt, code in [("float32", "<f4"), ("float16", "<f2"), ("float64", ">f8"), ("complex64", "<c8"),
                     ("complex64", ">c8"), ("bool", "|b1"), ("uint8", "|u1"), ("int8", "|i1"), ("uint16", "<u2"),
                     ("int16", ">i2"), ("uint32", "<u4"), ("int32", "<i4"), ("uint64", "<u8"), ("int64", ">i8")]:
        f = "np_%s_%s.npy" % (dt, "be" if code[0] == ">" else "le")
        np.save(os.path.join(d, f), arr((3, 5), code))
        add("npy", f, "-", dt, (3, 5))
    np.save(os.path.join(d, "fortran.npy"), np.asfortranarray(arr((3, 4, 2), "<f8")))
    add("npy", "fortran.npy", "-", "float64", (3, 4, 2))
    np.save(os.path.join(d, "scalar.npy"), arr((), "<i4"))
    add("npy", "scalar.npy", "-", "int32", ())
    np.savez(os.path.join(d, "np.npz"), a=arr((2, 3), "<f4"), b=arr((4,), "|b1"))
    np.savez_compressed(os.path.join(d, "npc.npz"), a=arr((2, 3), "<f4"), b=arr((4,), "|b1"))
    for f in ["np.npz", "npc.npz"]:
        add("npz", f, "a", "float32", (2, 3))
        add("npz", f, "b", "bool", (4,))
    st = {dt: arr((2, 3), NP[dt]) for dt in ALL if dt != "bfloat16"}
    save_file(st, os.path.join(d, "st.safetensors"), metadata={"m": "1"})
    for dt in st:
        add("safetensors", "st.safetensors", dt, dt, (2, 3))
    mx.save(os.path.join(d, "mx_bf16.npy"), mx.array(arr((2, 3), "<f4")).astype(mx.bfloat16))
    add("npy", "mx_bf16.npy", "-", "bfloat16", (2, 3))
    mx.savez(os.path.join(d, "mx.npz"), x=mx.array(arr((2, 3), "<i4")))
    add("npz", "mx.npz", "x", "int32", (2, 3))
    mx.save_safetensors(os.path.join(d, "mx.safetensors"),
                        {"b": mx.array(arr((3, 2), "<f4")).astype(mx.bfloat16), "c": mx.array(arr((4,), "<c8"))})
    add("safetensors", "mx.safetensors", "b", "bfloat16", (3, 2))
    add("safetensors", "mx.safetensors", "c", "complex64", (4,))
    mx.save_gguf(os.path.join(d, "mx.gguf"), {"h": mx.array(arr((2, 3), "<f2")), "i": mx.array(arr((5,), "<i2"))}, {})
    add("gguf", "mx.gguf", "h", "float16", (2, 3))
    add("gguf", "mx.gguf", "i", "int16", (5,))
    w = gguf.GGUFWriter(os.path.join(d, "gg.gguf"), "x")
    for dt in ["float32", "float16", "float64", "int8", "int16", "int32", "int64"]:
        w.add_tensor(dt, arr((3, 2, 4), NP[dt]))
        add("gguf", "gg.gguf", dt, dt, (3, 2, 4))
    bf = gguf.quants.quantize(arr((2, 4), "<f4"), gguf.GGMLQuantizationType.BF16)
    w.add_tensor("bf16", bf, raw_shape=bf.shape, raw_dtype=gguf.GGMLQuantizationType.BF16)
    add("gguf", "gg.gguf", "bf16", "bfloat16", (2, 4))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    with open(os.path.join(d, "manifest.txt"), "w") as fh:
        fh.write("\n".join(lines) + "\n")


def main():
    tool, work = sys.argv[1], sys.argv[2]
    shutil.rmtree(work, ignore_errors=True)
    mica_dir, py_dir = os.path.join(work, "mica"), os.path.join(work, "py")
    subprocess.run([tool, "write", mica_dir], check=True)
    check_mica_files(mica_dir)
    write_python_files(py_dir)
    rc = subprocess.run([tool, "read", py_dir]).returncode
    check(rc == 0, "mica reading the Python tools' files")
    print("io_crosscheck: %d checks, %d failed" % (checked[0], len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
