package pytorch

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/internal/pickle"
	"github.com/refit-ml/refit/internal/ziparchive"
	"github.com/refit-ml/refit/tensor"
)

const (
	// maxPickleSize caps data.pkl; real ones hold headers only (kilobytes to a few megabytes).
	maxPickleSize = 256 << 20
	// maxDeflateRatio is the largest expansion DEFLATE can achieve; a member declaring more
	// is a zip bomb.
	maxDeflateRatio = 1032
)

// legacyMagic is the LONG1 payload of the magic number pickle of pre-1.6 files,
// 0x1950a86a20f9469cfc6c, little-endian.
var legacyMagic = []byte{0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19}

// legacyTextMagic is the same number pickled with protocol 0 or 1.
const legacyTextMagic = "L119547037146038801333356L\n."

// isLegacy reports whether r starts with the legacy magic number pickle.
func isLegacy(r io.ReaderAt, size int64) bool {
	return refit.HasPrefix(r, size, string(legacyMagic)) || refit.HasPrefix(r, size, legacyTextMagic)
}

// Sniff reports whether r is a torch.save file: a zip archive holding <dir>/data.pkl,
// or a legacy file starting with the magic number pickle. An archive the loaders would
// read differently is claimed too, so that Decode explains why it is refused.
func Sniff(r io.ReaderAt, size int64) bool {
	if isLegacy(r, size) {
		return true
	}
	if !refit.HasPrefix(r, size, "PK\x03\x04") {
		return false
	}
	for _, m := range ziparchive.AllMembers(r, size) {
		if _, base, ok := strings.Cut(m.Name, "/"); ok && strings.EqualFold(base, "data.pkl") {
			return true
		}
	}
	return truncatedZip(r, size) != nil // claimed, so that Decode can say where it was cut
}

// findPrefix returns the archive's top-level folder as torch's reader takes it: the
// folder of the first member, which every lookup is then relative to.
func findPrefix(zr *ziparchive.Reader) (string, error) {
	if len(zr.Members) == 0 {
		return "", errorf("empty zip archive")
	}
	dir, _, ok := strings.Cut(zr.Members[0].Name, "/")
	if !ok || dir == "" || dir == "." || dir == ".." {
		return "", errorf("zip member %q is not in a folder", zr.Members[0].Name)
	}
	if m, err := lookup(zr, dir+"/data.pkl"); err != nil {
		return "", err
	} else if m == nil {
		return "", errorf("zip archive without %s/data.pkl", dir)
	}
	return dir, nil
}

// lookup finds a member as torch does (ignoring case), refusing names that match twice.
func lookup(zr *ziparchive.Reader, name string) (*ziparchive.Member, error) {
	m, err := zr.Lookup(name)
	if err != nil {
		return nil, &refit.FormatError{Format: "pytorch", Offset: -1, Msg: "bad zip archive", Err: err}
	}
	return m, nil
}

// openZip reads the archive's directory, refusing archives loaders read differently.
func openZip(r io.ReaderAt, size int64) (*ziparchive.Reader, error) {
	zr, err := ziparchive.NewReader(r, size)
	if err != nil {
		return nil, &refit.FormatError{Format: "pytorch", Offset: -1, Msg: "bad zip archive", Err: err}
	}
	return zr, nil
}

// Decode reads a torch.save file (zip or legacy format) or a TorchScript archive.
// Tensors read lazily from r, which must stay open while they are used.
func Decode(r io.ReaderAt, size int64, opts *refit.DecodeOptions) (*refit.Model, error) {
	if opts == nil {
		opts = &refit.DecodeOptions{}
	}
	var root any
	var err error
	legacy := &legacyLoader{storages: map[string]*storage{}, seen: map[string]bool{}}
	budget := opts.NewBudget()
	switch {
	case refit.HasPrefix(r, size, "PK\x03\x04"), refit.HasPrefix(r, size, "PK\x05\x06"):
		root, err = decodeZip(r, size, opts, budget)
		if err != nil {
			if terr := truncatedZip(r, size); terr != nil {
				err = terr
			}
		}
	case isLegacy(r, size):
		root, err = decodeLegacy(r, size, opts, budget, legacy)
	default:
		return nil, refit.Errorf("pytorch", 0, "not a torch.save file (no zip or legacy magic)")
	}
	if err != nil {
		return nil, err
	}
	m, err := flatten(root, opts)
	if err != nil {
		return nil, err
	}
	addModuleMetadata(m, legacy.modules)
	return m, nil
}

func unpickleOptions(opts *refit.DecodeOptions, budget *refit.Budget, load pickle.PersistentLoader) *pickle.Options {
	return &pickle.Options{Globals: globals(), Inert: opts.Extract, PersistentLoad: load, Budget: budget}
}

// wrapPickleErr adds the --extract hint to refused globals.
func wrapPickleErr(err error) error {
	var fe *refit.FormatError
	if errors.As(err, &fe) || errors.Is(err, refit.ErrUnsupported) || errors.Is(err, refit.ErrBudget) {
		return err
	}
	if errors.Is(err, pickle.ErrGlobal) {
		return fmt.Errorf("pytorch: %w (a full-model pickle or custom class: use --extract to read its tensors without running it)", err)
	}
	if errors.Is(err, pickle.ErrUnsupported) {
		return fmt.Errorf("pytorch: %w (%w)", err, refit.ErrUnsupported)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return &refit.FormatError{Format: "pytorch", Offset: -1, Msg: "truncated pickle", Err: err}
	}
	return &refit.FormatError{Format: "pytorch", Offset: -1, Msg: "bad pickle", Err: err}
}

func decodeZip(r io.ReaderAt, size int64, opts *refit.DecodeOptions, budget *refit.Budget) (any, error) {
	zr, err := openZip(r, size)
	if err != nil {
		return nil, err
	}
	prefix, err := findPrefix(zr)
	if err != nil {
		return nil, err
	}
	bigEndian := false
	byteorder, err := lookup(zr, prefix+"/byteorder")
	if err != nil {
		return nil, err
	}
	if f := byteorder; f != nil {
		b, err := readMember(zr, f, 16)
		if err != nil {
			return nil, err
		}
		switch string(bytes.TrimSpace(b)) {
		case "little":
		case "big":
			bigEndian = true
		default:
			return nil, errorf("byteorder %q", b)
		}
	}
	dataPkl, err := lookup(zr, prefix+"/data.pkl")
	if err != nil {
		return nil, err
	}
	if dataPkl != nil && dataPkl.Size <= maxPickleSize {
		if err := budget.Charge(dataPkl.Size, "pytorch: the bytes of "+dataPkl.Name); err != nil {
			return nil, err
		}
	}
	pkl, err := readMember(zr, dataPkl, maxPickleSize)
	if err != nil {
		return nil, err
	}
	storages := map[string]*storage{}
	load := func(pid any) (any, error) {
		st, err := storageFromPID(pid, storages)
		if err != nil || st.resolved {
			return st, err
		}
		m, err := lookup(zr, prefix+"/data/"+st.key)
		if err != nil {
			return nil, err
		}
		if err := resolveZipStorage(r, zr, st, m, bigEndian, budget); err != nil {
			return nil, err
		}
		return st, nil
	}
	root, err := pickle.Unpickle(pkl, unpickleOptions(opts, budget, load))
	if err != nil {
		return nil, wrapPickleErr(err)
	}
	return root, nil
}

// readMember reads a small zip member whole, refusing more than limit bytes.
func readMember(zr *ziparchive.Reader, f *ziparchive.Member, limit int64) ([]byte, error) {
	if f == nil {
		return nil, errorf("zip member missing")
	}
	if f.Size > limit {
		return nil, errorf("%s declares %d bytes (limit %d)", f.Name, f.Size, limit)
	}
	if err := checkRatio(f); err != nil {
		return nil, err
	}
	rc, err := zr.Open(f)
	if err != nil {
		return nil, &refit.FormatError{Format: "pytorch", Offset: -1, Msg: "open " + f.Name, Err: err}
	}
	defer rc.Close()
	b, err := io.ReadAll(rc) // the reader stops at the declared size, checked against limit
	if err != nil {
		return nil, &refit.FormatError{Format: "pytorch", Offset: -1, Msg: "read " + f.Name, Err: err}
	}
	return b, nil
}

// checkRatio refuses what torch's miniz cannot read (methods other than store and
// deflate) and sizes DEFLATE cannot reach.
func checkRatio(f *ziparchive.Member) error {
	if f.Method == ziparchive.Store {
		if f.CompressedSize != f.Size {
			return errorf("stored member %s with different sizes", f.Name)
		}
		return nil
	}
	if f.Method != ziparchive.Deflate {
		return refit.Unsupportedf("pytorch", "zip compression method %d in %s", f.Method, f.Name)
	}
	if f.Size/maxDeflateRatio > f.CompressedSize {
		return errorf("%s declares %d bytes from %d compressed: a zip bomb", f.Name, f.Size, f.CompressedSize)
	}
	return nil
}

// storageFromPID interprets ('storage', storage_type, key, location, numel[, view_metadata]),
// returning the storage cached under key so that views share it.
func storageFromPID(pid any, storages map[string]*storage) (*storage, error) {
	t, ok := pid.(pickle.Tuple)
	if !ok || len(t) < 5 {
		return nil, errorf("persistent id %T is not a storage tuple", pid)
	}
	if s, _ := t[0].(string); s != "storage" {
		return nil, errorf("persistent id of kind %v", t[0])
	}
	var dtype tensor.DType
	switch st := t[1].(type) {
	case *storageType:
		if st.dtype == tensor.Invalid {
			return nil, refit.Unsupportedf("pytorch", "storage type %s", st.name)
		}
		dtype = st.dtype
	case *dtypeValue:
		dtype = st.dtype
	default:
		return nil, errorf("storage type is %T", t[1])
	}
	key, ok := t[2].(string)
	if !ok || !refit.IsLocalPath(key) || strings.Contains(key, "/") { // one name in data/
		return nil, fmt.Errorf("pytorch: storage key %q: %w", t[2], refit.ErrInsecurePath)
	}
	numel, ok := pickle.Int(t[4])
	if !ok || numel < 0 {
		return nil, errorf("storage %s element count %v", key, t[4])
	}
	if _, err := tensor.ByteSize(dtype, tensor.Shape{numel}); err != nil {
		return nil, errorf("storage %s: %v", key, err)
	}
	st := storages[key]
	if st == nil {
		st = &storage{key: key, dtype: dtype, numel: numel}
		storages[key] = st
	} else if st.dtype.TypeSize() != dtype.TypeSize() || st.numel != numel {
		return nil, errorf("storage %s used as %v[%d] and %v[%d]", key, st.dtype, st.numel, dtype, numel)
	}
	if len(t) >= 6 && t[5] != nil { // legacy view_metadata: (view_key, offset, view_size)
		vm, ok := t[5].(pickle.Tuple)
		if !ok || len(vm) != 3 {
			return nil, errorf("storage %s view metadata %T", key, t[5])
		}
		vkey, ok1 := vm[0].(string)
		off, ok2 := pickle.Int(vm[1])
		n, ok3 := pickle.Int(vm[2])
		if !ok1 || !ok2 || !ok3 || off < 0 || n < 0 || off > numel || n > numel-off {
			return nil, errorf("storage %s view %v out of range", key, vm)
		}
		if v := storages["view:"+vkey]; v != nil {
			return v, nil
		}
		v := &storage{key: vkey, dtype: st.dtype, numel: n, root: st, rootOffset: off, resolved: true}
		storages["view:"+vkey] = v
		return v, nil
	}
	return st, nil
}

func resolveZipStorage(r io.ReaderAt, zr *ziparchive.Reader, st *storage, f *ziparchive.Member, bigEndian bool, budget *refit.Budget) error {
	if f == nil {
		return errorf("storage data/%s missing from the archive", st.key)
	}
	need := st.numel * int64(st.dtype.TypeSize())
	if f.Size < need {
		return errorf("storage data/%s holds %d bytes, needs %d", st.key, f.Size, need)
	}
	if err := checkRatio(f); err != nil {
		return err
	}
	st.bigEndian = bigEndian
	st.resolved = true
	if f.Method == ziparchive.Store {
		// The data lies within the file: NewReader checked every member's extent. Reading
		// r itself keeps copy_file_range available for stored tensors.
		st.readAt, st.base = r, f.DataOffset
		// The member's CRC-32 covers a tensor that spans the whole storage: a
		// conversion's verification compares its copy against it instead of reading
		// the source again (tensor.NoteDeclaredCRC; not checked here).
		tensor.NoteDeclaredCRC(io.NewSectionReader(r, f.DataOffset, f.Size), f.CRC32)
		return nil
	}
	// Every inflation is charged to the call's budget and stays charged (as for .npz
	// members): the caller may keep the bytes.
	st.inflate = func(n int64) ([]byte, error) {
		if err := budget.Charge(n, "inflated storages"); err != nil {
			return nil, fmt.Errorf("pytorch: data/%s: %w", st.key, err)
		}
		zrc, err := zr.Open(f)
		if err != nil {
			return nil, err
		}
		defer zrc.Close()
		rc := refit.LimitInflated("pytorch", f.Name, zrc, f.Size)
		buf := make([]byte, n)
		if _, err := io.ReadFull(rc, buf); err != nil {
			return nil, fmt.Errorf("pytorch: inflate data/%s: %w", st.key, err)
		}
		return buf, nil
	}
	return nil
}

// decodeLegacy reads the pre-1.6 format: five pickles (magic, protocol version, sys_info,
// the object, storage keys) followed by each storage as an 8-byte element count and its bytes.
func decodeLegacy(r io.ReaderAt, size int64, opts *refit.DecodeOptions, budget *refit.Budget, ld *legacyLoader) (any, error) {
	plain := &pickle.Options{Globals: globals(), Budget: budget}
	magic, off, err := pickle.Decode(r, 0, size, plain)
	if err != nil {
		return nil, legacyPickleErr(err, "magic number", 0, size)
	}
	if b, ok := magic.(interface{ String() string }); !ok || b.String() != "119547037146038801333356" {
		return nil, refit.Errorf("pytorch", 0, "legacy magic number is %v", magic)
	}
	start := off
	version, off, err := pickle.Decode(r, off, size, plain)
	if err != nil {
		return nil, legacyPickleErr(err, "protocol version", start, size)
	}
	if v, ok := pickle.Int(version); !ok || v != 1001 {
		return nil, refit.Unsupportedf("pytorch", "legacy protocol version %v", version)
	}
	start = off
	sysInfo, off, err := pickle.Decode(r, off, size, plain)
	if err != nil {
		return nil, legacyPickleErr(err, "sys_info", start, size)
	}
	if d, ok := sysInfo.(*pickle.Dict); ok {
		if le, ok := d.Get("little_endian"); ok && le == false {
			return nil, refit.Unsupportedf("pytorch", "big-endian legacy file")
		}
	}
	storages := ld.storages
	start = off
	root, off, err := pickle.Decode(r, off, size, unpickleOptions(opts, budget, ld.load))
	if err != nil {
		return nil, legacyPickleErr(err, "object", start, size)
	}
	start = off
	keysV, off, err := pickle.Decode(r, off, size, plain)
	if err != nil {
		return nil, legacyPickleErr(err, "storage key list", start, size)
	}
	keys, ok := keysV.(*pickle.List)
	if !ok {
		return nil, errorf("legacy storage keys are %T", keysV)
	}
	for _, k := range keys.Items {
		key, _ := k.(string)
		st := storages[key]
		if st == nil {
			return nil, errorf("legacy storage %v not referenced by the pickle", k)
		}
		if st.resolved {
			return nil, errorf("legacy storage %q listed twice", key)
		}
		var cnt [8]byte
		if off > size-8 {
			return nil, legacyStorageTruncated(key, off, 8, size)
		}
		if _, err := r.ReadAt(cnt[:], off); err != nil {
			return nil, &refit.FormatError{Format: "pytorch", Offset: off, Msg: "storage " + key, Err: err}
		}
		n := int64(0)
		for i := 7; i >= 0; i-- {
			n = n<<8 | int64(cnt[i])
		}
		if n != st.numel {
			return nil, refit.Errorf("pytorch", off, "storage %s holds %d elements, the pickle says %d", key, n, st.numel)
		}
		off += 8
		need := st.numel * int64(st.dtype.TypeSize())
		if need > size-off {
			return nil, legacyStorageTruncated(key, off, need, size)
		}
		st.readAt, st.base, st.resolved = r, off, true
		off += need
	}
	return root, nil
}
