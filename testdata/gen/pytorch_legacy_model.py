#!/usr/bin/python3
"""Full-model pickles in torch's legacy format (torch.save(model, f,
_use_new_zipfile_serialization=False), what every torch before 1.6 wrote), made with
Debian's torch 1.13.

  /usr/bin/python3 testdata/gen/pytorch_legacy_model.py            writes the fixtures
  /usr/bin/python3 testdata/gen/pytorch_legacy_model.py write DIR  writes them into DIR
  /usr/bin/python3 testdata/gen/pytorch_legacy_model.py dump F...  torch.load's each F and
                                                                   prints its tensors as JSON

The legacy pickler replaces each nn.Module class, the first time it meets it, with the
persistent id ('module', class, source file, source) beside the ('storage', ...) ids.
The fixtures cover nested custom modules, a class used twice (the second use is a plain
memo reference), torch's own modules, registered and non-persistent buffers, an int64
buffer (BatchNorm's num_batches_tracked) and a weight tied between two modules.
Expected tensors go to format/pytorch/testdata/expected_legacy_model.json (same layout as
expected.json): every parameter and buffer of every module, by its dotted path.
dump imports nothing but torch: the classes below are the ones torch.load looks up in
__main__. Run with python3 -c, torch finds no source for them and saves None instead.
"""
import collections
import json
import os
import sys

import torch

torch.set_num_threads(1)
# Tests run this file's text with python3 -c (no __file__), always with write DIR or dump.
HERE = os.path.dirname(os.path.abspath(globals().get("__file__", ".")))
OUT = os.path.join(HERE, "..", "..", "format", "pytorch", "testdata")

DTYPE = {
    torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
    torch.uint8: "U8", torch.bool: "BOOL",
}


class Block(torch.nn.Module):
    def __init__(self, n):
        super().__init__()
        self.fc = torch.nn.Linear(n, n)
        self.norm = torch.nn.BatchNorm1d(n)
        self.register_buffer("steps", torch.tensor([3, 5], dtype=torch.int64))
        self.register_buffer("cache", torch.full((2,), 0.5), persistent=False)


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(6, 4)
        self.blocks = torch.nn.Sequential(Block(4), torch.nn.ReLU(), Block(4))
        self.head = torch.nn.Linear(4, 6, bias=False)
        self.head.weight = self.embed.weight  # tied, as language models do
        self.register_buffer("scale", torch.tensor([0.25, 2.0], dtype=torch.float16))


def every_tensor(model):
    """Every parameter and buffer by path, duplicates and non-persistent buffers included."""
    out = collections.OrderedDict()
    for prefix, mod in model.named_modules(remove_duplicate=False):
        for kind in (mod._parameters, mod._buffers):
            for name, t in kind.items():
                if t is not None:
                    out[(prefix + "." if prefix else "") + name] = t
    return out


def raw(t):
    t = t.detach().contiguous().reshape(-1)
    return t.view(torch.uint8).numpy().tobytes().hex() if t.numel() else ""


def describe(tensors):
    return {k: {"dtype": DTYPE[t.dtype], "shape": list(t.shape), "hex": raw(t)} for k, t in tensors.items()}


def relative_source_file(path):
    """Replaces this script's absolute path, which torch saved as the source file of Net
    and Block, with its path in the repository, so the fixtures do not depend on where the
    checkout is. Legacy files locate storages by order, not offset, so lengths may change."""
    here = os.path.abspath(globals().get("__file__", ""))
    if not os.path.isfile(here):
        return
    with open(path, "rb") as f:
        data = f.read()
    old, new = here.encode(), b"testdata/gen/pytorch_legacy_model.py"
    for op, size in ((b"X", 4), (b"\x8c", 1)):  # BINUNICODE, SHORT_BINUNICODE
        if len(old) < 256 or size == 4:
            data = data.replace(op + len(old).to_bytes(size, "little") + old, op + len(new).to_bytes(size, "little") + new)
    with open(path, "wb") as f:
        f.write(data)


def write(out):
    torch.manual_seed(0)
    net = Net()
    with torch.no_grad():  # running statistics that differ from the defaults
        for b in (net.blocks[0], net.blocks[2]):
            b.norm.running_mean.uniform_(-1, 1)
            b.norm.running_var.uniform_(0.5, 2)
            b.norm.num_batches_tracked.fill_(7)
    expected = {}
    modules = ", ".join(["__main__.Net", "torch.nn.modules.sparse.Embedding", "torch.nn.modules.container.Sequential",
                         "__main__.Block", "torch.nn.modules.linear.Linear", "torch.nn.modules.batchnorm.BatchNorm1d",
                         "torch.nn.modules.activation.ReLU"])
    for name, proto in (("model_legacy.pt", 2), ("model_legacy_protocol1.pt", 1)):
        path = os.path.join(out, name)
        torch.save(net, path, _use_new_zipfile_serialization=False, pickle_protocol=proto)
        relative_source_file(path)
        expected[name] = {"tensors": describe(every_tensor(net)), "metadata": {"pytorch.modules": modules}}
    return expected


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "dump":
        res = {}
        for p in sys.argv[2:]:
            model = torch.load(p)
            res[os.path.basename(p)] = describe(every_tensor(model))
        print(json.dumps(res))
        return
    out = sys.argv[2] if len(sys.argv) > 2 and sys.argv[1] == "write" else OUT
    expected = write(out)
    if out == OUT:
        with open(os.path.join(OUT, "expected_legacy_model.json"), "w") as f:
            json.dump(expected, f, indent=1, sort_keys=True)
            f.write("\n")


main()
