// Package pytorch reads and writes torch.save files (.pt, .pth, .bin, .ckpt) without
// running Python or executing the pickle inside them.
//
// # Formats read
//
//   - The zip format (torch >= 1.6): <dir>/data.pkl is a pickle whose tensors are
//     persistent ids ('storage', torch.<T>Storage, key, location, numel) naming the raw
//     little-endian (or, with <dir>/byteorder = "big", big-endian) bytes in <dir>/data/<key>.
//   - The legacy format (_use_new_zipfile_serialization=False): five pickles in a row
//     (magic number 0x1950a86a20f9469cfc6c, protocol version 1001, sys_info, the object,
//     the list of storage keys), then each storage as an 8-byte element count and its bytes.
//     A full model saved this way (torch.save(model), every torch before 1.6) also has a
//     persistent id ('module', class, source file, source) for each nn.Module class; with
//     DecodeOptions.Extract the class becomes an inert record like any other, and the
//     classes and their sources are reported as metadata ("pytorch.modules",
//     "pytorch.module_file.<class>", "pytorch.module_source.<class>"), never run.
//   - TorchScript archives (torch.jit.save): the same data.pkl/data layout holding
//     __torch__.* module objects; their tensors are read with DecodeOptions.Extract.
//
// The unpickled object is flattened to dotted tensor names: a state dict gives its own
// keys; nested checkpoints give "state_dict.layer.weight", lists give indices;
// DecodeOptions.Key selects a sub-tree. Scalars (ints, floats, strings, bools) outside
// modules become Model metadata under their dotted names. With DecodeOptions.Extract,
// instances of unknown classes (torch.save(model), TorchScript) are inert records whose
// tensors are named from their _parameters/_buffers/_modules (or plain attributes), as
// state_dict() names them.
//
// # Invariants
//
// A file cut short is a FormatError at the file's size wrapping io.ErrUnexpectedEOF,
// saying which pickle or storage (legacy) or zip member (zip) it stops in; Sniff still
// claims a cut zip whose first member is one torch writes, so that this is what users see.
//
// Every view (storage offset, size, stride) is checked against its storage's element
// count, and every storage against the bytes present, before a tensor is returned.
// Several tensors may share one storage. A contiguous view of a stored (uncompressed)
// member is an io.SectionReader of the input: nothing is copied. Strided views,
// big-endian storages and deflated members are computed on read (tensor.Lazy), one
// tensor at a time.
//
// Encode writes what torch.save writes for an OrderedDict of tensors: protocol-2 data.pkl
// calling torch._utils._rebuild_tensor_v2, one stored member per tensor whose data is
// aligned to 64 bytes through a zip extra field (as torch's writer does), "version" 3 and
// "byteorder" little. Output is deterministic and loads with torch.load(weights_only=True).
//
// # Memory
//
// Decode holds data.pkl (capped at 256 MiB) and the object tree it describes, never the
// tensor bytes. A view wider than its storage (expand) is refused beyond 1 GiB.
// Encode holds data.pkl and streams each tensor once.
//
// # Security
//
// Pickles are interpreted by internal/pickle through an allowlist (torch rebuild
// functions, storage types, dtypes, torch.Size, OrderedDict, a few builtins); any other
// global is an error naming it (errors.Is(err, pickle.ErrGlobal)) unless Extract is set,
// and even then nothing is imported or called. Storage keys are checked to be plain file
// names. A deflated member declaring more than 1032 times its compressed size (DEFLATE's
// maximum ratio) is refused as a zip bomb. Quantized, sparse and meta tensors are
// refit.ErrUnsupported.
//
// Spec: torch/serialization.py and caffe2/serialize/inline_container.h in PyTorch.
package pytorch
