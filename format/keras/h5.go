package keras

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/scigolib/hdf5"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/tensor"
)

// h5File wraps github.com/scigolib/hdf5, which opens files by name only (it cannot
// read from an io.ReaderAt: its File holds an *os.File it opens itself), reads whole
// datasets as float64 and may panic on malformed files. The wrapper opens the input
// file itself through /proc/self/fd when the input is a whole local file (an *os.File
// or refit.MappedFile), and otherwise copies the input to a temporary file that is
// unlinked as soon as it is open; it serializes access, recovers panics as ErrFormat
// and maps datasets to Refit dtypes and shapes.
type h5File struct {
	mu     sync.Mutex
	f      *hdf5.File
	size   int64 // of the HDF5 data
	budget *refit.Budget
	tmp    *os.File  // the copy, nil when the library opened the input itself
	raw    *h5Reader // over the library's file, for checkChunks
}

// fdPath returns a name under which the library can open the whole file r of the
// given size without a copy, or "" when there is none.
func fdPath(r io.ReaderAt, size int64) string {
	f, ok := r.(interface{ Fd() uintptr })
	if !ok {
		return ""
	}
	path := fmt.Sprintf("/proc/self/fd/%d", f.Fd())
	if st, err := os.Stat(path); err != nil || !st.Mode().IsRegular() || st.Size() != size {
		return ""
	}
	return path
}

// openH5At opens r, the whole HDF5 input, without copying it when fdPath finds a
// name for it, and through openH5's copy otherwise.
func openH5At(r io.ReaderAt, size int64, budget *refit.Budget) (*h5File, error) {
	if path := fdPath(r, size); path != "" {
		return openLibrary(path, r, size, budget, nil)
	}
	return openH5(io.NewSectionReader(r, 0, size), budget)
}

// openLibrary checks the HDF5 data in r (the superblock, then the heaps the library
// will load, charged to budget) and opens path, the same bytes, with the library. tmp
// is the temporary copy behind path, or nil.
func openLibrary(path string, r io.ReaderAt, size int64, budget *refit.Budget, tmp *os.File) (h *h5File, err error) {
	raw, err := superblockSizes(r, size)
	if err != nil {
		return nil, err
	}
	if err := checkHeaps(raw, budget); err != nil {
		return nil, err
	}
	defer recovered(&err)
	f, err := hdf5.Open(path)
	if err != nil {
		return nil, refit.Errorf("keras", -1, "HDF5: %v", err)
	}
	raw.r = f.Reader() // the library's own descriptor, open until Close
	return &h5File{f: f, size: size, budget: budget, tmp: tmp, raw: raw}, nil
}

// maxExpansion bounds a dataset's size relative to the file: gzip, the filter Keras
// files use, expands at most 1032:1.
const maxExpansion = 1032

// h5Magic is the HDF5 superblock signature (at offset 0; user blocks are not supported).
const h5Magic = "\x89HDF\r\n\x1a\n"

func recovered(err *error) {
	if p := recover(); p != nil {
		*err = refit.Errorf("keras", -1, "malformed HDF5: %v", p)
	}
}

// openH5 copies r to an unlinked temporary file and opens it. On Linux the file is
// unlinked before the first byte is written and opened again through /proc/self/fd, so
// no temporary file outlives the process, even one killed mid-copy. budget is charged
// with the heaps the library will load (see checkHeaps) and the datasets read later.
func openH5(r io.Reader, budget *refit.Budget) (h *h5File, err error) {
	tmp, err := os.CreateTemp("", "refit-keras-*.h5")
	if err != nil {
		return nil, err
	}
	path := fmt.Sprintf("/proc/self/fd/%d", tmp.Fd())
	if _, serr := os.Stat(path); serr != nil || os.Remove(tmp.Name()) != nil {
		path = tmp.Name() // no /proc: open by name, unlink once open
		defer os.Remove(path)
	}
	defer func() {
		if h == nil {
			tmp.Close()
		}
	}()
	size, err := io.Copy(tmp, r)
	if err != nil {
		return nil, fmt.Errorf("keras: copying HDF5 data: %w", err)
	}
	return openLibrary(path, tmp, size, budget, tmp)
}

// superblockSizes reads the sizes of offsets and lengths from the superblock.
func superblockSizes(f io.ReaderAt, size int64) (*h5Reader, error) {
	var sb [16]byte
	n, _ := f.ReadAt(sb[:], 0)
	h := &h5Reader{r: f, size: size}
	switch {
	case n > 14 && sb[8] <= 1: // superblock v0/v1
		h.offsetSize, h.lengthSize = int(sb[13]), int(sb[14])
	case n > 10:
		h.offsetSize, h.lengthSize = int(sb[9]), int(sb[10])
	}
	valid := func(k int) bool { return k == 2 || k == 4 || k == 8 }
	if !valid(h.offsetSize) || !valid(h.lengthSize) {
		return nil, refit.Errorf("keras", 13, "HDF5 superblock: size of offsets %d, size of lengths %d", h.offsetSize, h.lengthSize)
	}
	return h, nil
}

// checkHeaps scans the file for local heap ("HEAP") and global heap collection ("GCOL")
// headers and refuses sizes larger than the file, then charges the rest to budget: the
// HDF5 library allocates a heap's full size before reading it. The library checks only
// the local heap's 4-byte signature (not its version or reserved bytes) and the global
// heap's signature and version 1, so the scan matches exactly what the library would
// accept. Tensor data rarely holds these ASCII signatures (as float32 they are values
// above 2000), and a false match is refused, not misread.
func checkHeaps(h *h5Reader, budget *refit.Budget) error {
	f, size := h.r, h.size
	sigs := []struct {
		sig       string
		fieldSize int
	}{
		{"HEAP", h.lengthSize},     // data segment size, in lengths
		{"GCOL\x01", h.offsetSize}, // collection size, read by the library with the offset size
	}
	// Scan in chunks that overlap by a header, so memory stays constant.
	const chunk = 1 << 20
	overlap := 8 + 8
	buf := make([]byte, chunk+overlap)
	var heaps int64
	for base := int64(0); base < size; base += chunk {
		n, err := f.ReadAt(buf, base)
		if n == 0 && err != nil {
			return err
		}
		b := buf[:n]
		for _, sg := range sigs {
			for off := 0; off < min(len(b), chunk); {
				i := bytes.Index(b[off:], []byte(sg.sig))
				if i < 0 || off+i >= chunk {
					break
				}
				p := off + i + 8
				if p+sg.fieldSize > len(b) {
					break
				}
				var v uint64
				for k := sg.fieldSize - 1; k >= 0; k-- {
					v = v<<8 | uint64(b[p+k])
				}
				if v > uint64(size) {
					return refit.Errorf("keras", base+int64(off+i), "HDF5 %s of %d bytes in a %d-byte file", sg.sig[:4], v, size)
				}
				heaps += int64(v)
				off = off + i + 1
			}
		}
	}
	if err := budget.Charge(heaps, "HDF5 heaps"); err != nil {
		return fmt.Errorf("keras: %w", err)
	}
	return nil
}

func (h *h5File) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.tmp == nil {
		return h.f.Close()
	}
	return errors.Join(h.f.Close(), h.tmp.Close())
}

// h5Object is a dataset or group found by walking the file.
type h5Object struct {
	path  string // "/model_weights/dense/dense/kernel:0"
	ds    *hdf5.Dataset
	group *hdf5.Group
}

func (h *h5File) walk() (objs []h5Object, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	defer recovered(&err)
	h.f.Walk(func(p string, o hdf5.Object) {
		switch v := o.(type) {
		case *hdf5.Dataset:
			objs = append(objs, h5Object{path: p, ds: v})
		case *hdf5.Group:
			objs = append(objs, h5Object{path: strings.TrimSuffix(p, "/"), group: v})
		}
	})
	return objs, nil
}

// groupStrings reads a string or string-array attribute of a group; ok is false when absent.
func (h *h5File) groupStrings(g *hdf5.Group, name string) (vals []string, ok bool, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	defer recovered(&err)
	attrs, err := g.Attributes()
	if err != nil {
		return nil, false, refit.Errorf("keras", -1, "HDF5 attributes: %v", err)
	}
	for _, a := range attrs {
		if a.Name != name {
			continue
		}
		// The library allocates one value per element before checking the data;
		// every element takes at least one byte, so more elements than bytes is a lie.
		if a.Dataspace == nil || !fitsIn(a.Dataspace.Dimensions, uint64(len(a.Data))) {
			return nil, false, refit.Errorf("keras", -1, "HDF5 attribute %s: dataspace larger than its data", name)
		}
		v, err := a.ReadValue()
		if err != nil {
			return nil, false, refit.Errorf("keras", -1, "HDF5 attribute %s: %v", name, err)
		}
		switch x := v.(type) {
		case string:
			return []string{x}, true, nil
		case []string:
			return x, true, nil
		case []any:
			for _, e := range x {
				s, ok := e.(string)
				if !ok {
					return nil, false, refit.Errorf("keras", -1, "HDF5 attribute %s holds %T", name, e)
				}
				vals = append(vals, s)
			}
			return vals, true, nil
		default:
			return nil, false, refit.Errorf("keras", -1, "HDF5 attribute %s holds %T", name, v)
		}
	}
	return nil, false, nil
}

// The library describes a dataset only as text, e.g.
// "Dataset: float (size=4 bytes), 2D array [3 x 4], contiguous (...)".
var infoRE = regexp.MustCompile(`^Dataset: (\w+) \(size=(\d+) bytes\), (scalar|null|\d+D array \[([0-9 x]*)\])`)

// info returns a dataset's dtype (Invalid when Refit cannot read it) and shape.
func (h *h5File) info(ds *hdf5.Dataset) (dt tensor.DType, shape tensor.Shape, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	defer recovered(&err)
	s, err := ds.Info()
	if err != nil {
		return 0, nil, refit.Errorf("keras", -1, "HDF5 dataset %s: %v", ds.Name(), err)
	}
	m := infoRE.FindStringSubmatch(s)
	if m == nil {
		return 0, nil, refit.Errorf("keras", -1, "HDF5 dataset %s: unrecognized description %q", ds.Name(), s)
	}
	switch m[1] + m[2] {
	case "float4":
		dt = tensor.F32
	case "float8":
		dt = tensor.F64
	case "integer4":
		dt = tensor.I32
	case "integer8":
		dt = tensor.I64
	}
	shape = tensor.Shape{}
	switch m[3] {
	case "scalar":
	case "null":
		dt = tensor.Invalid
	default:
		for _, f := range strings.FieldsFunc(m[4], func(r rune) bool { return r == ' ' || r == 'x' }) {
			d, err := strconv.ParseInt(f, 10, 64)
			if err != nil || len(shape) >= tensor.MaxDims {
				return 0, nil, refit.Errorf("keras", -1, "HDF5 dataset %s: bad shape %q", ds.Name(), m[4])
			}
			shape = append(shape, d)
		}
	}
	return dt, shape, nil
}

// read reads a whole dataset (as float64, the library's only numeric form) and
// encodes it as dt.
//
// The library holds the stored bytes, then float64s, then Refit the encoded bytes: at
// most 8+8+8 bytes per element, charged to the budget before reading and left charged.
func (h *h5File) read(ds *hdf5.Dataset, dt tensor.DType, n int64) (out []byte, err error) {
	if hi, lo := bits.Mul64(uint64(n), 8); hi != 0 || lo > uint64(h.size)*maxExpansion+1<<20 {
		return nil, refit.Errorf("keras", -1, "HDF5 dataset %s: %d elements cannot come from a %d-byte file", ds.Name(), n, h.size)
	}
	if err := h.budget.Charge(n*(8+2*int64(dt.TypeSize())), "HDF5 datasets"); err != nil {
		return nil, fmt.Errorf("keras: dataset %s: %w", ds.Name(), err)
	}
	if err := h.raw.checkChunks(ds.Address()); err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	defer recovered(&err)
	v, err := ds.Read()
	if err != nil {
		return nil, refit.Errorf("keras", -1, "HDF5 dataset %s: %v", ds.Name(), err)
	}
	if int64(len(v)) != n {
		return nil, refit.Errorf("keras", -1, "HDF5 dataset %s: %d values, shape needs %d", ds.Name(), len(v), n)
	}
	out = make([]byte, 0, n*int64(dt.TypeSize()))
	for _, x := range v {
		switch dt {
		case tensor.F32:
			b := float32bits(float32(x))
			out = append(out, byte(b), byte(b>>8), byte(b>>16), byte(b>>24))
		case tensor.F64:
			b := float64bits(x)
			for k := 0; k < 8; k++ {
				out = append(out, byte(b>>(8*k)))
			}
		case tensor.I32:
			b := uint32(int32(x))
			out = append(out, byte(b), byte(b>>8), byte(b>>16), byte(b>>24))
		case tensor.I64:
			b := uint64(int64(x))
			for k := 0; k < 8; k++ {
				out = append(out, byte(b>>(8*k)))
			}
		}
	}
	return out, nil
}

// fitsIn reports whether the product of dims is at most limit, without overflow.
func fitsIn(dims []uint64, limit uint64) bool {
	n := uint64(1)
	for _, d := range dims {
		hi, lo := bits.Mul64(n, d)
		if hi != 0 || lo > limit {
			return false
		}
		n = lo
	}
	return true
}
