#!/usr/bin/python3
"""Hostile container corpus: zip, tar and npy files that hide a pickle from a scanner that
does not read them the way torch.load, numpy.load, zipfile and tarfile do.

Run with Debian's /usr/bin/python3 (numpy). Writes hostile/testdata/containers/. Nothing
here loads a pickle: the payloads are written as bytes and never unpickled.

File names: bad_* must be flagged dangerous by `refit scan` (exit 2); amb_* are also
ambiguous (loaders read different contents) and inspect/convert must refuse them.
"""
import io
import os
import struct
import sys
import tarfile
import zipfile
import zlib

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "hostile", "testdata", "containers")

# A protocol-0 pickle calling os.system("true"): no PROTO byte, text opcodes only.
EVIL_P0 = b"cposix\nsystem\n(S'true'\ntR."
# The same with protocol 2 framing.
EVIL_P2 = b"\x80\x02cposix\nsystem\nq\x00X\x04\x00\x00\x00trueq\x01\x85q\x02Rq\x03."
# A harmless state dict pickle: {} (protocol 2).
BENIGN = b"\x80\x02}q\x00."


def write(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


# ---- zip assembly by hand -------------------------------------------------------------

def local(name, data, method=0, lname=None):
    """A local header plus data (stored or deflated)."""
    lname = name if lname is None else lname
    comp = data if method == 0 else zlib.compress(data)[2:-4]
    crc = zlib.crc32(data)
    hdr = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, method, 0, 0x21, crc, len(comp), len(data), len(lname), 0)
    return hdr + lname + comp, (crc, len(comp), len(data), method)


def central(name, info, offset):
    crc, csize, usize, method = info
    return struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, method, 0, 0x21, crc, csize, usize,
                       len(name), 0, 0, 0, 0, 0, offset) + name


def eocd(count, size, offset, count_disk=None):
    count_disk = count if count_disk is None else count_disk
    return struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count_disk, count, size, offset, 0)


def zip64_end(count, size, offset):
    return struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, size, offset)


def locator(at):
    return struct.pack("<4sLQL", b"PK\x06\x07", 0, at, 1)


def build(members, count=None):
    """members: [(name, data)]; returns a plain zip with stored members."""
    out, cd = b"", b""
    for name, data in members:
        blob, info = local(name, data)
        cd += central(name, info, len(out))
        out += blob
    n = len(members) if count is None else count
    return out + cd + eocd(n, len(cd), len(out))


def zinfo(name, method=zipfile.ZIP_STORED):
    """A member with a fixed time, so that the corpus is reproducible."""
    zi = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    zi.compress_type = method
    return zi


def npy(descr, payload, shape="(1,)"):
    """A .npy v1.0 file with a hand-written header (descr is Python literal text)."""
    text = "{'descr': %s, 'fortran_order': False, 'shape': %s, }" % (descr, shape)
    text = text.encode("latin1")
    pad = 64 - (10 + len(text) + 1) % 64
    text += b" " * pad + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text + payload


def check_object(data):
    """numpy's own header reader must see an object dtype (never reads the payload)."""
    f = io.BytesIO(data)
    np.lib.format.read_magic(f)
    _, _, dtype = np.lib.format.read_array_header_1_0(f)
    assert dtype.hasobject, dtype
    return data


VERSION = (b"archive/version", b"3\n")


def torch_reads(data):
    """What torch's own zip reader (miniz) returns for data.pkl, or None if it refuses."""
    try:
        import torch
    except ImportError:
        return None
    try:
        return torch._C.PyTorchFileReader(io.BytesIO(data)).get_record("data.pkl")
    except Exception:
        return None


def zip_cases():
    # Two central directory entries at one offset: one named .pkl, the other not.
    vb, vi = local(*VERSION)
    blob, info = local(b"archive/data.pkl", EVIL_P0)
    cd = central(VERSION[0], vi, 0) + central(b"archive/data.pkl", info, len(vb)) + \
        central(b"archive/data/0", info, len(vb))
    out = vb + blob + cd + eocd(3, len(cd), len(vb) + len(blob))
    assert torch_reads(out) in (None, EVIL_P0)
    write("amb_zip_same_offset.pt", out)

    # A zip64 locator pointing at a second directory hidden in a stored member: miniz
    # (torch.load) follows the locator, zipfile reads the record before it.
    out, cd = b"", b""
    for name, data in [VERSION, (b"archive/data.pkl", BENIGN)]:
        blob, info = local(name, data)
        cd += central(name, info, len(out))
        out += blob
    # The hidden part is the data of archive/pad: an evil data.pkl, a directory listing it
    # with the real version record, and a zip64 record pointing at that directory.
    pad_start = len(out)
    hidden_local_at = pad_start + 30 + len(b"archive/pad")
    hb, hi = local(b"archive/data.pkl", EVIL_P2)
    hidden_cd = central(VERSION[0], vi, 0) + central(b"archive/data.pkl", hi, hidden_local_at)
    hidden_cd_at = hidden_local_at + len(hb)
    hidden_z64_at = hidden_cd_at + len(hidden_cd)
    hidden = hb + hidden_cd + zip64_end(2, len(hidden_cd), hidden_cd_at)
    b2, i2 = local(b"archive/pad", hidden)
    cd += central(b"archive/pad", i2, pad_start)
    out += b2
    cd_at = len(out)
    out += cd + zip64_end(3, len(cd), cd_at) + locator(hidden_z64_at) + eocd(0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF)
    assert torch_reads(out) in (None, EVIL_P2)
    assert zipfile.ZipFile(io.BytesIO(out)).read("archive/data.pkl") == BENIGN
    write("amb_zip64_hidden_directory.pt", out)

    # An end record whose directory offset is absolute for miniz (an evil directory in the
    # archive comment) while zipfile corrects it for a "prefix" and reads the directory
    # right before the end record.
    out, infos = b"", []
    for name, data in [VERSION, (b"archive/data.pkl", BENIGN)]:
        blob, info = local(name, data)
        infos.append((name, info, len(out)))
        out += blob
    cd_len = sum(len(central(n, i, o)) for n, i, o in infos)
    eocd_at = len(out) + cd_len
    hidden_local_at = eocd_at + 22
    hb, hi = local(b"archive/data.pkl", EVIL_P0)
    hidden_cd_at = hidden_local_at + len(hb)
    hidden_cd = central(VERSION[0], vi, 0) + central(b"archive/data.pkl", hi, hidden_local_at)
    assert len(hidden_cd) == cd_len
    comment = hb + hidden_cd
    concat = eocd_at - cd_len - hidden_cd_at  # negative: zipfile shifts every offset by it
    cd = b"".join(central(n, i, o - concat) for n, i, o in infos)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 2, 2, cd_len, hidden_cd_at, len(comment))
    out = out + cd + end + comment
    assert torch_reads(out) in (None, EVIL_P0)
    assert zipfile.ZipFile(io.BytesIO(out)).read("archive/data.pkl") == BENIGN
    write("amb_zip_prefix_offset.pt", out)

    # Names equal but for case: miniz finds either one.
    write("amb_zip_case_names.pt", build([VERSION, (b"archive/data.pkl", BENIGN), (b"archive/DATA.pkl", EVIL_P0)]))

    # A NUL in a name: zipfile cuts it there, miniz keeps it.
    write("amb_zip_nul_name.npz", build([(b"a.npy\x00.txt", npy("'<f4'", b"\0\0\0\0"))]))

    # The local header names the member differently from the directory.
    blob, info = local(b"archive/data.pkl", EVIL_P0, lname=b"archive/data.txt")
    cd = central(VERSION[0], vi, 0) + central(b"archive/data.pkl", info, len(vb))
    out = vb + blob + cd + eocd(2, len(cd), len(vb) + len(blob))
    assert torch_reads(out) in (None, EVIL_P0)
    write("amb_zip_local_name.pt", out)

    # The end record counts one entry, the directory holds two: zipfile reads by size
    # (both), miniz by count (one).
    evil = check_object(npy("'|O'", EVIL_P2))
    write("amb_zip_count_short.npz", build([(b"a.npy", npy("'<f4'", b"\0\0\0\0")), (b"b.npy", evil)], count=1))

    # A zip64 record listing one member more than the end record: zipfile and miniz
    # both use the zip64 record (two members), Go's archive/zip the end record (one).
    out = b""
    cd = b""
    for name, data in [(b"a.npy", npy("'<f4'", b"\0\0\0\0")), (b"b.npy", evil)]:
        blob, info = local(name, data)
        cd += central(name, info, len(out))
        out += blob
    cd_at = len(out)
    first = len(central(b"a.npy", (0, 0, 0, 0), 0))
    out += cd + zip64_end(2, len(cd), cd_at) + locator(cd_at + len(cd)) + eocd(1, first, cd_at)
    write("bad_zip64_extra_member.npz", out)

    # A protocol-0 pickle in a member whose name and first byte say nothing about pickles.
    write("bad_zip_p0_member.pt", build([(b"archive/data.pkl", BENIGN), (b"archive/data/0", EVIL_P0),
                                         (b"archive/version", b"3\n")]))

    # torch.load takes the folder of the first entry: a/data.pkl, not b/data.pkl.
    # (torch's reader also wants every member in that folder, so b/ is b/data.pkl's twin in a/.)
    out = build([(b"a/version", b"3\n"), (b"a/data.pkl", EVIL_P0), (b"a/b/data.pkl", BENIGN)])
    assert torch_reads(out) in (None, EVIL_P0)
    write("bad_zip_first_folder.pt", out)

    # Object dtypes numpy reads but a substring check misses, in .npz.
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(zinfo("w.npy"), check_object(npy("'object'", EVIL_P2)))
    write("bad_npz_object_word.npz", buf.getvalue())
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(zinfo("w.npy", zipfile.ZIP_DEFLATED), check_object(npy(r"'\x4f'", EVIL_P2)))
    write("bad_npz_object_escaped.npz", buf.getvalue())


def more_zip_cases():
    # numpy.load reads bzip2 members through zipfile: an object array compressed so.
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_BZIP2) as z:
        z.writestr(zinfo("w.npy", zipfile.ZIP_BZIP2), check_object(npy("'|O'", EVIL_P2)))
    write("bad_npz_bzip2_object.npz", buf.getvalue())


def npy_cases():
    cases = {
        "bad_npy_object_word.npy": "'object'",
        "bad_npy_object_escaped.npy": r"'\x4f'",
        "bad_npy_object_unicode.npy": r"'\u004f'",
        "bad_npy_object_octal.npy": r"'\117'",
        "bad_npy_object_o8.npy": "'|O8'",
        "bad_npy_object_comma.npy": "'f4,O'",
        "bad_npy_object_subarray.npy": "'(2,)O'",
        "bad_npy_struct_object.npy": "[('a', '<f4'), ('b', '|O')]",
        "bad_npy_struct_nested.npy": "[('a', [('b', 'O')])]",
        "bad_npy_struct_shape.npy": "[('a', 'O', (2,))]",
        "bad_npy_struct_title.npy": "[(('t', 'a'), 'object')]",
        "bad_npy_object_concat.npy": "'ob' 'ject'",
    }
    for name, descr in cases.items():
        write(name, check_object(npy(descr, EVIL_P2)))


def tar_member(tf, name, data):
    ti = tarfile.TarInfo(name)
    ti.size = len(data)
    tf.addfile(ti, io.BytesIO(data))


def to_v7(data):
    """Rewrite every ustar header of a tar as V7: no magic, version or prefix."""
    out = bytearray(data)
    off = 0
    while off + 512 <= len(out) and any(out[off:off + 512]):
        h = out[off:off + 512]
        size = int(h[124:136].rstrip(b"\0 ") or b"0", 8)
        h[257:265] = b"\0" * 8
        h[265:500] = b"\0" * 235
        h[148:156] = b" " * 8
        h[148:156] = b"%06o\0 " % sum(h)
        out[off:off + 512] = h
        off += 512 + (size + 511) // 512 * 512
    return bytes(out)


def tar_cases():
    def legacy(fmt, long=False):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
            tar_member(tf, "sys_info", BENIGN)
            if long:
                tar_member(tf, "x" * 120, b"unrelated")
            tar_member(tf, "pickle", EVIL_P0)
            tar_member(tf, "storages", b"\x80\x02K\x00.")
            tar_member(tf, "tensors", b"\x80\x02K\x00.")
        return buf.getvalue()

    v7 = to_v7(legacy(tarfile.USTAR_FORMAT))
    tf = tarfile.open(fileobj=io.BytesIO(v7))
    assert tf.getnames() == ["sys_info", "pickle", "storages", "tensors"], tf.getnames()
    write("bad_tar_v7.pt", v7)
    write("bad_tar_gnu_longname.pt", legacy(tarfile.GNU_FORMAT, long=True))
    write("bad_tar_pax.pt", legacy(tarfile.PAX_FORMAT, long=True))

    # A V7 header with bytes in the ustar prefix field: tarfile prepends them to the name
    # whatever the magic, Go's archive/tar ignores them without the ustar magic.
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        tar_member(tf, "pickle", EVIL_P0)
    data = bytearray(to_v7(buf.getvalue()))
    data[345:345 + 3] = b"dir"
    data[148:156] = b" " * 8
    data[148:156] = b"%06o\0 " % sum(data[:512])
    assert tarfile.open(fileobj=io.BytesIO(bytes(data))).getnames() == ["dir/pickle"]
    write("bad_tar_v7_prefix.pt", bytes(data))

    # A tar whose first header is also a pickle (in the name field) and whose member is cut
    # short: tarfile opens it, extraction fails with a TarError, and torch.load then
    # unpickles the file from byte 0.
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        tar_member(tf, "x", b"\0" * 2048)
    data = bytearray(buf.getvalue()[:1024])
    data[0:100] = EVIL_P0.ljust(100, b"\0")
    data[148:156] = b" " * 8
    data[148:156] = b"%06o\0 " % sum(data[:512])
    tf = tarfile.open(fileobj=io.BytesIO(bytes(data)))
    assert tf.firstmember.name == EVIL_P0.decode()
    try:
        tf.getmembers()
        raise AssertionError("tarfile read the cut member")
    except tarfile.ReadError:
        pass  # the TarError after which torch.load unpickles from byte 0
    write("bad_tar_pickle_polyglot.pt", bytes(data))


def main():
    os.makedirs(OUT, exist_ok=True)
    zip_cases()
    more_zip_cases()
    npy_cases()
    tar_cases()


if __name__ == "__main__":
    sys.exit(main())
