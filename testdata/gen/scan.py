#!/usr/bin/python3
"""Make the fixtures of package scan (scan/testdata). Run from the repository root:

    /usr/bin/python3 testdata/gen/scan.py

Malicious pickles are written opcode by opcode; they are only ever scanned, never loaded.
Benign files come from real torch.save / numpy.save / pickle.dumps (torch 1.13, numpy 1.24).
Names: bad_* must scan Dangerous, ok_* clean (Safe only), unknown_* Unknown.
"""
import collections
import io
import os
import pickle
import struct
import tarfile
import zipfile
import zlib

import numpy as np
import torch

torch.set_num_threads(1)
torch.manual_seed(0)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scan", "testdata")
os.makedirs(OUT, exist_ok=True)


def write(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def su(s):  # SHORT_BINUNICODE
    b = s.encode()
    return b"\x8c" + bytes([len(b)]) + b


PROTO4 = b"\x80\x04"
CMD = su("echo pwned")
CALL = CMD + b"\x85R."  # TUPLE1 REDUCE STOP

# --- hand-made malicious pickles -------------------------------------------------------
evil = {
    # memo indirection: names stored with BINPUT, popped, fetched with BINGET.
    "bad_memo.pkl": PROTO4 + su("os") + b"q\x01" + su("system") + b"q\x02" + b"00" + b"h\x01h\x02\x93" + CALL,
    # MEMOIZE then LONG_BINGET.
    "bad_memoize.pkl": PROTO4 + su("subprocess") + b"\x94" + b"0" + b"j\x00\x00\x00\x00" + su("getoutput") + b"\x93" + CALL,
    # module string duplicated on the stack, one copy dropped.
    "bad_dup.pkl": PROTO4 + su("os") + b"2" + b"0" + su("system") + b"\x93" + CALL,
    # protocol 0 text GLOBAL and INST.
    "bad_p0_global.pkl": b"cos\nsystem\n(S'echo pwned'\ntR.",
    "bad_p0_inst.pkl": b"(S'echo pwned'\nios\nsystem\n.",
    # protocol 0 STRING with escapes spelling "os" feeding STACK_GLOBAL.
    "bad_escapes.pkl": b"S'\\x6f\\163'\nS'system'\n\x93(S'echo'\ntR.",
    # builtins.getattr(builtins.__import__('os'), 'system')('echo pwned')
    "bad_getattr.pkl": b"\x80\x02c__builtin__\ngetattr\n(c__builtin__\n__import__\n(S'os'\ntRS'system'\ntR(S'echo pwned'\ntR.",
    # getattr on an allowlisted class, result called.
    "bad_getattr_safe.pkl": PROTO4 + su("builtins") + su("getattr") + b"\x93" + su("collections") + su("OrderedDict")
    + b"\x93" + su("fromkeys") + b"\x86R" + b"]\x85R.",
    # STACK_GLOBAL whose module is computed (str('os')).
    "bad_computed.pkl": PROTO4 + su("builtins") + su("str") + b"\x93" + su("os") + b"\x85R" + su("system") + b"\x93" + CALL,
    # protocol 4 dotted name reaching os through an allowlisted module.
    "bad_dotted.pkl": PROTO4 + su("torch") + su("serialization.os.system") + b"\x93" + CALL,
    # extension registry code.
    "bad_ext.pkl": b"\x80\x02\x82\x01)R.",
    # BUILD on a global: monkey-patches torch._utils.
    "bad_build.pkl": PROTO4 + su("torch") + su("_utils") + b"\x93" + b"N}" + su("_rebuild_tensor_v2") + su("x") + b"s\x86b.",
    # REDUCE of functools.partial wrapping eval.
    "bad_partial.pkl": PROTO4 + su("functools") + su("partial") + b"\x93" + su("builtins") + su("eval") + b"\x93" + su("1")
    + b"\x86R)R.",
    # broken data after the dangerous global.
    "bad_broken_tail.pkl": PROTO4 + su("os") + su("system") + b"\x93" + CMD + b"\x85R" + b"\xff\xfe garbage",
    # truncated right after the global.
    "bad_truncated.pkl": b"\x80\x02cposix\nsystem\nX\x10\x00\x00\x00echo",
}


class Pwn:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


evil["bad_reduce_os_system.pkl"] = pickle.dumps(Pwn(), protocol=2)  # posix.system, as Python writes it
for k, v in evil.items():
    write(k, v)
MAL = evil["bad_memo.pkl"]

# legacy concatenated pickles: the bad one is second.
write("bad_concat.pkl", pickle.dumps(1001, protocol=2) + MAL)

# --- benign pickles ---------------------------------------------------------------------
obj = collections.OrderedDict([("a", 1), ("b", [1, 2.5, "x"]), ("c", {3, 4}), ("d", b"\x00\x01"),
                               ("e", bytearray(b"ab")), ("f", frozenset([1])), ("g", complex(1, 2))])
for p in range(6):
    write("ok_p%d.pkl" % p, pickle.dumps(obj, protocol=p))


# --- torch ------------------------------------------------------------------------------
class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(3, 2)
        self.register_buffer("steps", torch.tensor([7], dtype=torch.int64))
        self.register_buffer("halfbuf", torch.ones(2, dtype=torch.float16))


net = Net()


def tsave(o, **kw):
    b = io.BytesIO()
    torch.save(o, b, **kw)
    return b.getvalue()


ok_zip = tsave(net.state_dict())
write("ok_torch_zip.pt", ok_zip)
write("ok_torch_legacy.pt", tsave(net.state_dict(), _use_new_zipfile_serialization=False))
write("unknown_torch_module.pt", tsave(torch.nn.Linear(2, 2)))


def replace_member(zbytes, suffix, data, compress=zipfile.ZIP_STORED):
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(zbytes)) as zin, zipfile.ZipFile(out, "w") as zout:
        for info in zin.infolist():
            payload = zin.read(info.filename)
            if info.filename.endswith(suffix):
                payload = data
            zout.writestr(info.filename, payload, compress_type=compress)
    return out.getvalue()


bad_zip = replace_member(ok_zip, "data.pkl", MAL)
write("bad_torch_zip.pt", bad_zip)

# nested: outer.zip (deflated) / inner.zip (stored) / model.pt / archive/data.pkl
inner = io.BytesIO()
with zipfile.ZipFile(inner, "w") as z:
    z.writestr("model.pt", bad_zip)
outer = io.BytesIO()
with zipfile.ZipFile(outer, "w", compression=zipfile.ZIP_DEFLATED) as z:
    z.writestr("readme.txt", "hello")
    z.writestr("inner.zip", inner.getvalue())
write("bad_nested.zip", outer.getvalue())

# junk before the zip; and junk before a zip whose tail (central directory) is cut off.
write("bad_junk_prefix.pt", b"JUNK" * 64 + bad_zip)
cut = bad_zip[: bad_zip.rfind(b"PK\x01\x02") - 10]
write("bad_junk_truncated.pt", b"\x00JUNK" * 50 + cut)
# a pickle before a benign zip: torch.load would unpickle it as a legacy file.
write("bad_pickle_before_zip.pt", MAL + ok_zip)


def local_header(name, data):
    n = name.encode()
    return struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 0, 0, 0, zlib.crc32(data), len(data), len(data), len(n), 0) + n + data


def central(name, data, off):
    n = name.encode()
    return struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0, 0, 0, 0, zlib.crc32(data), len(data), len(data),
                       len(n), 0, 0, 0, 0, 0, off) + n


# a member present as a local header but absent from the central directory.
good = pickle.dumps(obj, protocol=2)
a = local_header("archive/data.pkl", good)
b = local_header("archive/hidden.pkl", MAL)
cd = central("archive/data.pkl", good, 0)
eocd = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 1, 1, len(cd), len(a) + len(b), 0)
write("bad_hidden_member.zip", a + b + cd + eocd)
with zipfile.ZipFile(io.BytesIO(a + b + cd + eocd)) as z:
    assert z.namelist() == ["archive/data.pkl"]

# npz with an object array whose .npy payload is a (malicious) pickle.
hdr = "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
hdr = hdr + " " * (63 - (10 + len(hdr)) % 64) + "\n"
npy = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr.encode() + MAL
ok_npz = io.BytesIO()
np.savez(ok_npz, w=np.arange(4, dtype=np.float32), o=np.array([1, "x", None], dtype=object))
write("ok_object.npz", ok_npz.getvalue())
out = io.BytesIO()
with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as z:
    z.writestr("w.npy", zipfile.ZipFile(ok_npz).read("w.npy"))
    z.writestr("o.npy", npy)
write("bad_object.npz", out.getvalue())


# legacy tar format (torch can still load it; it cannot write it any more).
def tar(pickle_bytes):
    storages = (pickle.dumps(1, protocol=2) + pickle.dumps((0, "cpu", torch.FloatStorage), protocol=2)
                + struct.pack("<q", 2) + struct.pack("<2f", 1.5, 2.5) + pickle.dumps([], protocol=2))
    tensors = pickle.dumps(0, protocol=2)
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, data in [("storages", storages), ("tensors", tensors), ("pickle", pickle_bytes)]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return out.getvalue()


class StoragePID(pickle.Pickler):
    def persistent_id(self, o):
        if isinstance(o, torch.FloatStorage):
            return "0"  # key into the storages member
        return None


def tar_pickle():
    b = io.BytesIO()
    st = torch.FloatStorage([1.5, 2.5])
    StoragePID(b, protocol=2).dump(collections.OrderedDict(w=st))
    return b.getvalue()


ok_tar = tar(tar_pickle())
write("ok_torch_tar.pt", ok_tar)
# legacy tar loading needs a real file
assert list(torch.load(os.path.join(OUT, "ok_torch_tar.pt"))["w"]) == [1.5, 2.5]
write("bad_torch_tar.pt", tar(MAL))

# sanity: the benign torch files load with the real loader.
for n in ["ok_torch_zip.pt", "ok_torch_legacy.pt"]:
    sd = torch.load(os.path.join(OUT, n))
    assert torch.equal(sd["fc.weight"], net.fc.weight)
