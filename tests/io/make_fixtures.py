#!/usr/bin/env python3
"""Writes the small files in tests/io/fixtures with NumPy, safetensors, gguf and MLX.

The C++ tests recompute the same values from `vals` below, so they need no Python.
Run from anywhere: python3 tests/io/make_fixtures.py
"""
import os
import struct

import numpy as np

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")


def vals(n, kind):
    """Element i of a fixture array, in row-major order (mirrored in tests/io/io_test_util.h)."""
    i = np.arange(n, dtype=np.int64)
    base = (i * 37) % 23 - 11
    if kind == "f":
        return (base + 0.5) * 0.25
    if kind == "i":
        return base
    if kind == "u":
        return (i * 37) % 23 + 1
    if kind == "b":
        return i % 3 != 0
    if kind == "c":
        return vals(n, "f") + 1j * ((((i + n) * 37) % 23 - 11) + 0.5) * 0.25
    raise ValueError(kind)


def arr(shape, dtype):
    dtype = np.dtype(dtype)
    n = int(np.prod(shape))
    kind = {"f": "f", "i": "i", "u": "u", "b": "b", "c": "c"}[dtype.kind]
    return vals(n, kind).astype(dtype).reshape(shape)


def path(*parts):
    p = os.path.join(HERE, *parts)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    return p


def npy():
    for name, shape, dt in [
        ("f32", (3, 4), "<f4"), ("f16", (7,), "<f2"), ("f64_be", (2, 3), ">f8"), ("c8", (4,), "<c8"),
        ("c8_be", (2, 2), ">c8"), ("u16_be", (5,), ">u2"), ("i32_be", (2, 3), ">i4"), ("b1", (2, 3), "|b1"),
        ("u8", (7,), "|u1"), ("i8", (7,), "|i1"), ("u32", (7,), "<u4"), ("u64", (7,), "<u8"),
        ("i64", (7,), "<i8"), ("i16", (7,), "<i2"), ("scalar", (), "<f4"), ("empty", (0, 3), "<f4"),
    ]:
        np.save(path("npy", name + ".npy"), arr(shape, dt))
    np.save(path("npy", "f64_fortran.npy"), np.asfortranarray(arr((3, 4, 2), "<f8")))
    np.save(path("npy", "i16_fortran.npy"), np.asfortranarray(arr((2, 5), "<i2")))
    for v in [(2, 0), (3, 0)]:
        with open(path("npy", "v%d.npy" % v[0]), "wb") as f:
            np.lib.format.write_array(f, arr((2, 2), "<f4"), version=v)


def npz():
    a, b, c = arr((3, 4), "<f4"), arr((5,), "<i8"), arr((2, 2), "|b1")
    np.savez(path("npz", "stored.npz"), a=a, b=b, c=c)
    np.savez_compressed(path("npz", "deflate.npz"), a=a, b=b, c=c)
    np.savez(path("npz", "positional.npz"), a, b)


def safetensors_files():
    from safetensors.numpy import save_file

    tensors = {dt: arr((2, 3), dt) for dt in ["|b1", "|u1", "|i1", "<u2", "<i2", "<u4", "<i4", "<u8", "<i8",
                                              "<f2", "<f4", "<f8"]}
    tensors = {"t_" + np.dtype(k).name: v for k, v in tensors.items()}
    tensors["scalar"] = arr((), "<f4")
    tensors["empty"] = arr((0, 4), "<f4")
    save_file(tensors, path("safetensors", "numpy.safetensors"), metadata={"format": "np", "note": "fixture"})


def gguf_files():
    import gguf
    from gguf.quants import quantize, dequantize

    T = gguf.GGMLQuantizationType
    w = gguf.GGUFWriter(path("gguf", "all.gguf"), "mica")
    w.add_uint8("m.u8", 200)
    w.add_int8("m.i8", -100)
    w.add_uint16("m.u16", 60000)
    w.add_int16("m.i16", -30000)
    w.add_uint32("m.u32", 4000000000)
    w.add_int32("m.i32", -2000000000)
    w.add_float32("m.f32", 1.25)
    w.add_bool("m.bool", True)
    w.add_string("m.str", "hello gguf")
    w.add_uint64("m.u64", 2**63 + 5)
    w.add_int64("m.i64", -(2**62))
    w.add_float64("m.f64", 0.1)
    w.add_array("m.arr_i32", [1, -2, 3])
    w.add_array("m.arr_f32", [0.5, -1.5])
    w.add_array("m.arr_bool", [True, False, True])
    w.add_array("m.arr_str", ["a", "bc", ""])
    w.add_array("m.nested", [[1, 2], [3]])
    w.add_key_value("m.arr_u8", [1, 2, 255], gguf.GGUFValueType.ARRAY, sub_type=gguf.GGUFValueType.UINT8)
    w.add_tensor("t.f32", arr((3, 4), "<f4"))
    w.add_tensor("t.f16", arr((2, 3), "<f2"))
    w.add_tensor("t.f64", arr((2, 2), "<f8"))
    w.add_tensor("t.i8", arr((3, 2), "|i1"))
    w.add_tensor("t.i16", arr((4,), "<i2"))
    w.add_tensor("t.i32", arr((2, 1, 3), "<i4"))
    w.add_tensor("t.i64", arr((3,), "<i8"))
    bf = quantize(arr((2, 4), "<f4"), T.BF16)
    w.add_tensor("t.bf16", bf, raw_shape=bf.shape, raw_dtype=T.BF16)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

    # Quantized tensors in their own file (MLX 0.32 crashes on some files with float64 metadata).
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 64)).astype(np.float32)
    w = gguf.GGUFWriter(path("gguf", "quant.gguf"), "mica")
    deq = {}
    for qt in [T.Q4_0, T.Q4_1, T.Q8_0]:
        q = quantize(x, qt)
        w.add_tensor("q." + qt.name, q, raw_shape=q.shape, raw_dtype=qt)
        deq["q." + qt.name] = dequantize(q, qt).astype(np.float32)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    # gguf's own dequantization, the reference for the affine layout.
    np.savez(path("gguf", "quant_dequantized.npz"), **deq)
    return deq


def mlx_files():
    import mlx.core as mx

    mx.save(path("npy", "bf16_mlx.npy"), mx.array(arr((2, 3), "<f4")).astype(mx.bfloat16))
    mx.savez(path("npz", "mlx.npz"), x=mx.array(arr((2, 3), "<f4")), y=mx.array(arr((4,), "<i4")))
    mx.save_safetensors(
        path("safetensors", "mlx.safetensors"),
        {"bf16": mx.array(arr((2, 3), "<f4")).astype(mx.bfloat16), "c64": mx.array(arr((3,), "<c8")),
         "f32": mx.array(arr((4, 2), "<f4")), "b": mx.array(arr((3,), "|b1"))},
        metadata={"framework": "mlx"})
    # MLX's own loading of the quantized GGUF tensors: what mica must reproduce exactly.
    q = mx.load(path("gguf", "quant.gguf"))
    mx.save_safetensors(path("gguf", "quant_mlx.safetensors"), q)


def main():
    npy()
    npz()
    safetensors_files()
    gguf_files()
    mlx_files()
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(HERE) for f in fs)
    print("fixtures: %d bytes" % total)


if __name__ == "__main__":
    main()
