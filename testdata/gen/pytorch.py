#!/usr/bin/python3
"""Make the small torch.save fixtures under format/pytorch/testdata (torch 1.13, Debian).

Run: /usr/bin/python3 testdata/gen/pytorch.py
Each fixture X.pt has its expected tensors in expected.json: name -> dtype, shape and the
hex of its contiguous little-endian bytes, plus the metadata a decoder should report.
"""
import collections
import io
import json
import os
import zipfile

import torch

torch.set_num_threads(1)
torch.manual_seed(0)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "format", "pytorch", "testdata")
os.makedirs(OUT, exist_ok=True)
expected = {}


def raw(t):
    t = t.detach().contiguous().reshape(-1)
    if t.is_complex():
        t = torch.view_as_real(t).contiguous().reshape(-1)
    return t.view(torch.uint8).numpy().tobytes().hex() if t.numel() else ""


DTYPE = {
    torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
    torch.uint8: "U8", torch.bool: "BOOL", torch.complex64: "C64", torch.complex128: "C128",
}


def record(name, tensors, metadata=None):
    expected[name] = {
        "tensors": {k: {"dtype": DTYPE[t.dtype], "shape": list(t.shape), "hex": raw(t)} for k, t in tensors.items()},
        "metadata": metadata or {},
    }


def every_dtype():
    base = torch.tensor([[-1.5, 0.25, 3.0], [7.0, -0.0, 100.0]])
    d = collections.OrderedDict()
    for dt, name in DTYPE.items():
        if dt.is_complex:
            d[name] = torch.complex(base, -base).to(dt)
        elif dt == torch.bool:
            d[name] = base > 0
        elif dt == torch.uint8:
            d[name] = base.abs().to(dt)
        else:
            d[name] = base.to(dt)
    d["scalar"] = torch.tensor(2.5)
    d["empty"] = torch.zeros(0, 3)
    return d


def save(name, obj, tensors, metadata=None, **kw):
    torch.save(obj, os.path.join(OUT, name), **kw)
    record(name, tensors, metadata)


d = every_dtype()
save("dtypes.pt", d, d)
save("dtypes_legacy.pt", d, d, _use_new_zipfile_serialization=False)
small = collections.OrderedDict(w=torch.arange(6, dtype=torch.float32).reshape(2, 3), b=torch.tensor([1, -2], dtype=torch.int64))
# Protocol 0 writes persistent ids as str(tuple), which torch.load itself rejects.
for p in range(1, 6):
    save("protocol%d.pt" % p, small, small, pickle_protocol=p)
save("protocol1_legacy.pt", small, small, pickle_protocol=1, _use_new_zipfile_serialization=False)

base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
views = collections.OrderedDict(base=base, rows=base[1:3], col=base[:, 2], t=base.t(), flat=base.view(-1)[5:9], step=base[::2, ::3])
save("views.pt", views, views)
save("views_legacy.pt", views, views, _use_new_zipfile_serialization=False)


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 2, 3)
        self.layers = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
        self.register_buffer("scale", torch.tensor([0.5, 2.0]))

    def forward(self, x):
        return self.layers(x) * self.scale


net = Net()
sd = net.state_dict()
ckpt = {"state_dict": sd, "epoch": 3, "lr": 0.125, "arch": "net", "history": [torch.tensor([1.0, 2.0]), torch.tensor([3.0])]}
flat = {"state_dict." + k: v for k, v in sd.items()}
flat["history.0"] = ckpt["history"][0]
flat["history.1"] = ckpt["history"][1]
save("checkpoint.pt", ckpt, flat, {"epoch": 3, "lr": 0.125, "arch": "net"})
save("checkpoint_legacy.pt", ckpt, flat, {"epoch": 3, "lr": 0.125, "arch": "net"}, _use_new_zipfile_serialization=False)
save("model.pt", net, dict(sd))
save("model_protocol1.pt", net, dict(sd), pickle_protocol=1)
scripted = torch.jit.script(net)
scripted.save(os.path.join(OUT, "script.pt"))
record("script.pt", dict(sd))

# A big-endian archive, as torch writes on s390x: byteorder "big" and byteswapped storages.
be = collections.OrderedDict(f=torch.tensor([1.0, -2.0, 3.5]), h=torch.tensor([[1, 2], [3, 4]], dtype=torch.int16),
                             c=torch.tensor([1 + 2j], dtype=torch.complex64), v=torch.arange(6.0).reshape(2, 3).t())
buf = io.BytesIO()
torch.save(be, buf)
src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
sizes = {}
for k, t in be.items():
    st = t.storage()
    sizes[k] = st.element_size() if not t.is_complex() else st.element_size() // 2
with zipfile.ZipFile(os.path.join(OUT, "bigendian.pt"), "w", zipfile.ZIP_STORED) as dst:
    names = src.namelist()
    keys = {}  # storage key -> swap unit, from the order torch wrote them (one storage per tensor)
    for i, k in enumerate(be):
        keys["archive/data/%d" % i] = sizes[k]
    for n in names:
        b = src.read(n)
        if n in keys:
            u = keys[n]
            b = b"".join(b[j:j + u][::-1] for j in range(0, len(b), u))
        dst.writestr(n, b)
    dst.writestr("archive/byteorder", b"big")
record("bigendian.pt", be)

# A deflated archive (torch never writes one, zip tools might).
with zipfile.ZipFile(os.path.join(OUT, "deflated.pt"), "w", zipfile.ZIP_DEFLATED) as dst:
    for n in src.namelist():
        dst.writestr(n, src.read(n))
record("deflated.pt", be)

with open(os.path.join(OUT, "expected.json"), "w") as f:
    json.dump(expected, f, indent=1, sort_keys=True)
    f.write("\n")
