#!/usr/bin/python3
"""Make the .npy/.npz fixtures of format/numpy/testdata and their expected values.

Run with Debian's python3 (numpy 1.24) from the repository root:

    /usr/bin/python3 testdata/gen/numpy_fixtures.py

expected.json lists, for every fixture, the tensors Refit must decode (name as
DecodeFS gives it, Refit dtype, shape, and the data as little-endian row-major hex)
or the error class it must report ("unsupported"). "exact" marks files that
numpy.save wrote in the layout Refit's EncodeNPY reproduces byte for byte.
"""
import json
import os

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "format", "numpy", "testdata")

REFIT = {
    "f2": "F16", "f4": "F32", "f8": "F64",
    "i1": "I8", "i2": "I16", "i4": "I32", "i8": "I64",
    "u1": "U8", "u2": "U16", "u4": "U32", "u8": "U64",
    "b1": "BOOL", "c8": "C64", "c16": "C128",
}


def values(code):
    """Six values per type, including the extremes and float specials."""
    kind = code[0]
    if kind == "f":
        return np.array([[1.5, -0.0, np.inf], [np.nan, -65504.0 if code == "f2" else -1e30, 1e-3]], dtype=code)
    if kind == "c":
        return np.array([[1 + 2j, -3.5j, np.inf], [np.nan + 1j, -1e30, 1e-3 - 7j]], dtype=code)
    if kind == "b":
        return np.array([[True, False, True], [False, False, True]])
    info = np.iinfo(code)
    return np.array([[info.min, info.max, 0], [1, info.max - 1, 7]], dtype=code)


def little_c_hex(a):
    le = np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<"))
    return le.tobytes(order="C").hex()


def entry(name, a):
    code = a.dtype.str[1:]
    return {"name": name, "dtype": REFIT[code], "shape": list(a.shape), "hex": little_c_hex(a)}


manifest = []


def save(fname, a, version=None, exact=False):
    with open(os.path.join(OUT, fname), "wb") as f:
        np.lib.format.write_array(f, a, version=version)
    manifest.append({"file": fname, "exact": exact, "tensors": [entry(fname[:-4], a)]})


def save_error(fname, a, kind):
    np.save(os.path.join(OUT, fname), a, allow_pickle=True)
    manifest.append({"file": fname, "error": kind})


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        if f.endswith((".npy", ".npz", ".json")):
            os.remove(os.path.join(OUT, f))

    # Every dtype in both byte orders, C order, format 1.0 as numpy.save writes it.
    for code in REFIT:
        a = values(code)
        if a.dtype.itemsize == 1:
            save(f"{code}.npy", a, exact=True)
        else:
            save(f"le_{code}.npy", a.astype("<" + code), exact=True)
            save(f"be_{code}.npy", a.astype(">" + code))

    # Fortran order, in both byte orders and several ranks.
    save("fortran_f4.npy", np.asfortranarray(np.arange(24, dtype="<f4").reshape(2, 3, 4)))
    save("fortran_be_i2.npy", np.asfortranarray(np.arange(-6, 6, dtype=">i2").reshape(3, 4)))
    save("fortran_c8.npy", np.asfortranarray((np.arange(6) + 1j * np.arange(6, 12)).astype("<c8").reshape(2, 3)))
    save("fortran_4d_u1.npy", np.asfortranarray(np.arange(120, dtype="u1").reshape(2, 3, 4, 5)))
    save("fortran_unit_dim_f8.npy", np.asfortranarray(np.arange(6, dtype="<f8").reshape(3, 1, 2)))

    # Format versions 2.0 and 3.0.
    save("v2_f4.npy", np.arange(5, dtype="<f4"), version=(2, 0))
    save("v3_i8.npy", np.arange(-3, 3, dtype="<i8").reshape(2, 3), version=(3, 0))
    save("v2_be_f8.npy", np.linspace(-1, 1, 7).astype(">f8"), version=(2, 0))

    # 0-d, 1-d and empty arrays.
    save("scalar_f4.npy", np.array(3.5, dtype="<f4"), exact=True)
    save("scalar_be_i4.npy", np.array(-7, dtype=">i4"))
    save("vector_i2.npy", np.arange(-4, 4, dtype="<i2"), exact=True)
    save("empty_f4.npy", np.zeros((0, 3), dtype="<f4"), exact=True)
    save("empty_fortran_f8.npy", np.asfortranarray(np.zeros((2, 0, 3), dtype="<f8")))
    save("wide_f2.npy", np.arange(64, dtype="<f2").reshape(1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2), exact=True)

    # Valid numpy files Refit refuses: pickles, strings, structured types.
    save_error("object.npy", np.array([1, "a", None], dtype=object), "unsupported")
    save_error("strings.npy", np.array(["ab", "c"]), "unsupported")
    save_error("structured.npy", np.zeros(2, dtype=[("a", "<f4"), ("b", "<i2")]), "unsupported")
    save_error("datetime.npy", np.array(["2020-01-01"], dtype="datetime64[D]"), "unsupported")

    # Archives, stored and deflated, mixing layouts and names with a slash.
    arrays = {
        "weight": np.arange(12, dtype="<f4").reshape(3, 4) / 7,
        "bias": np.array([1, -2, 3], dtype=">i8"),
        "layer/0": np.asfortranarray(np.arange(6, dtype="<f8").reshape(2, 3)),
        "scale": np.array(0.25, dtype="<f2"),
        "mask": np.array([True, False]),
        "none": np.zeros((0,), dtype="<u2"),
    }
    for fname, fn in [("stored.npz", np.savez), ("compressed.npz", np.savez_compressed)]:
        fn(os.path.join(OUT, fname), **arrays)
        manifest.append({"file": fname, "tensors": [entry(k, v) for k, v in arrays.items()]})
    np.savez(os.path.join(OUT, "positional.npz"), np.arange(3, dtype="<i4"), np.ones(2, dtype="<f4"))
    manifest.append({"file": "positional.npz", "tensors": [
        entry("arr_0", np.arange(3, dtype="<i4")), entry("arr_1", np.ones(2, dtype="<f4"))]})
    np.savez(os.path.join(OUT, "object.npz"), ok=np.arange(2), bad=np.array([None], dtype=object))
    manifest.append({"file": "object.npz", "error": "unsupported"})

    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump({"numpy": np.__version__, "files": manifest}, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
