"""Hostile Keras HDF5 files for hostile/budgets_test.go (run with /usr/bin/python3, h5py 3.7).

keras_big_dataset.h5: a legacy Keras weights file whose one weight declares 2^29 float32
elements, chunked and gzip-compressed, with no chunk written (HDF5 reads the fill value).
The test pads it past 4 MiB at run time, so that the dataset is not refused by the
expansion check (1032 x the file size) but by the memory budget.

keras3_big_dataset.weights.h5: the same dataset at a Keras 3 path (layers/dense/vars/0),
for a .keras archive the test builds around it.

keras_chunk_bomb.h5: a legacy Keras weights file whose one weight is 1024 float32 (4 KiB) in
one gzip chunk of 64 KB that inflates to 64 MiB; the HDF5 library inflates a chunk whole.

format/keras/testdata/gzip_chunks.h5: a well-formed weights file with a (100, 16) float32
weight in 100 shuffled gzip chunks (a two-level chunk index), for the chunk checker;
gzip_chunks_v2.h5 the same in 10 chunks with version 2 object headers.

keras_heap_version.h5: a small legacy Keras weights file whose local heaps have their
version byte changed and their data segment size set to 110 TB; the HDF5 library reads
any version and would allocate the whole size.
"""
import os
import sys
import zlib

import h5py
import numpy as np

out = sys.argv[1] if len(sys.argv) > 1 else "hostile/testdata/budgets"
fixtures = sys.argv[2] if len(sys.argv) > 2 else "format/keras/testdata"


def keras_root(f, weight_shape, **kw):
    f.attrs["layer_names"] = np.array([b"dense"])
    f.attrs["backend"] = b"tensorflow"
    f.attrs["keras_version"] = b"2.13.1"
    g = f.create_group("dense")
    g.attrs["weight_names"] = np.array([b"dense/kernel:0"])
    return g.create_dataset("dense/kernel:0", shape=weight_shape, dtype="<f4", track_times=False, **kw)


with h5py.File(os.path.join(out, "keras_big_dataset.h5"), "w", libver="earliest") as f:
    keras_root(f, (1 << 29,), chunks=(1 << 24,), compression="gzip", fillvalue=0.0)

# The same dataset as a Keras 3 .keras weights member (the test zips it).
with h5py.File(os.path.join(out, "keras3_big_dataset.weights.h5"), "w", libver="earliest") as f:
    f.create_group("layers/dense/vars").create_dataset(
        "0", shape=(1 << 29,), dtype="<f4", chunks=(1 << 24,), compression="gzip", fillvalue=0.0, track_times=False)

with h5py.File(os.path.join(out, "keras_chunk_bomb.h5"), "w", libver="earliest") as f:
    ds = keras_root(f, (1024,), chunks=(1024,), compression="gzip")
    ds.id.write_direct_chunk((0,), zlib.compress(bytes(64 << 20), 9))

with h5py.File(os.path.join(fixtures, "gzip_chunks.h5"), "w", libver="earliest") as f:
    keras_root(f, (100, 16), chunks=(1, 16), compression="gzip", shuffle=True,
               data=np.arange(1600, dtype="<f4").reshape(100, 16))

# Version 2 object headers ("OHDR"), still a version 1 B-tree chunk index. Only the two
# attributes Refit needs: the HDF5 library fails on this layout with more root attributes.
# Creation times off everywhere (the root group through the file creation list), so the
# file is the same on every run.
fcpl = h5py.h5p.create(h5py.h5p.FILE_CREATE)
fcpl.set_obj_track_times(False)
fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
fapl.set_libver_bounds(h5py.h5f.LIBVER_V18, h5py.h5f.LIBVER_V18)
fid = h5py.h5f.create(os.path.join(fixtures, "gzip_chunks_v2.h5").encode(), h5py.h5f.ACC_TRUNC, fcpl=fcpl, fapl=fapl)
with h5py.File(fid) as f:
    f.attrs["layer_names"] = np.array([b"dense"])
    gcpl = h5py.h5p.create(h5py.h5p.GROUP_CREATE)
    gcpl.set_obj_track_times(False)
    g = h5py.Group(h5py.h5g.create(f.id, b"dense", gcpl=gcpl))
    g.attrs["weight_names"] = np.array([b"dense/kernel:0"])
    h5py.h5g.create(g.id, b"dense", gcpl=gcpl)
    g.create_dataset("dense/kernel:0", data=np.arange(1600, dtype="<f4").reshape(100, 16),
                     chunks=(10, 16), compression="gzip", track_times=False)

path = os.path.join(out, "keras_heap_version.h5")
with h5py.File(path, "w", libver="earliest") as f:
    keras_root(f, (2, 3), data=np.arange(6, dtype="<f4").reshape(2, 3))
b = bytearray(open(path, "rb").read())
n = 0
at = b.find(b"HEAP")
while at >= 0:
    b[at + 4] = 7  # version byte: the library does not check it
    b[at + 8 : at + 16] = (110 * 10**12).to_bytes(8, "little")
    n += 1
    at = b.find(b"HEAP", at + 1)
assert n > 0
open(path, "wb").write(bytes(b))
