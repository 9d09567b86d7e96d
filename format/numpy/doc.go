// Package numpy reads and writes NumPy arrays: single .npy files (format versions
// 1.0, 2.0 and 3.0) and .npz archives (zip files of .npy members, stored or deflated).
//
// Spec: https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
//
// # Layout
//
// A .npy file is the magic "\x93NUMPY", a major and minor version byte, the header
// length (uint16 for 1.0, uint32 for 2.0 and 3.0), a header that is a Python dict
// literal such as {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), } padded
// with spaces and a newline to a multiple of 64 bytes, then the raw array data.
//
// # Names
//
// [Decode] names the tensor of a .npy file [DefaultName] ("array"); [DecodeFS], which
// refit.Open uses, names it after the file's stem ("w.npy" gives "w"). A .npz member
// "x.npy" becomes the tensor "x", in archive order. Models have no metadata, and
// [Encode] writes none.
//
// # Invariants
//
// Tensors are always little-endian and row-major. Big-endian data is byte-swapped and
// Fortran-ordered data transposed lazily, when the tensor is read; little-endian
// C-ordered data is a view of the file. Supported dtypes are f2 f4 f8 i1 i2 i4 i8 u1
// u2 u4 u8 b1 c8 c16 in either byte order ('=' and '|' mean the host's order).
// Writers emit what numpy.save and numpy.savez emit for the same array, byte for byte
// for .npy; .npz members carry a fixed 1980-01-01 timestamp, so output is
// deterministic. Types numpy lacks (BF16, the F8 types, GGML blocks) are refused
// before anything is written.
//
// # Memory
//
// Decoding reads headers only. Stored .npz members and plain .npy data are
// io.SectionReader views; converted or deflated tensors are computed when pulled and
// not retained (see tensor.Lazy). Every inflation of a deflated member is charged to
// the call's memory budget (refit.DecodeOptions.MaxMemory; Decode and DecodeFS use
// refit.DefaultMaxMemory) before its buffer is allocated, and stays charged, so a small
// archive of highly compressible members fails with refit.ErrBudget instead of
// exhausting memory. Writers stream one tensor at a time.
//
// # Security
//
// Headers are parsed by a small literal parser that never evaluates anything, capped
// at [MaxHeaderSize] bytes and 16 levels of nesting. The object dtype ("|O") is a
// pickle and is refused with refit.ErrUnsupported, never loaded. The shape's element
// and byte counts are overflow-checked and must match the bytes present exactly
// before anything is allocated. For deflated members the declared uncompressed size
// must equal header plus data and be reachable by DEFLATE's maximum ratio; inflation
// stops at the declared size (refit.LimitInflated: one byte more is an error) and the
// CRC-32 is verified. Member names, read or
// written, must be unique valid fs paths (refit.ErrInsecurePath otherwise). Stored members are not
// CRC-checked, since they are read as views.
package numpy
