package scan

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/refit-ml/refit/internal/npyheader"
	"github.com/refit-ml/refit/internal/tararchive"
)

// Caps on nested archives. Exceeding one is reported in Report.Errors.
const (
	// MaxDepth is how deeply archives may nest (a zip in a zip is depth 2).
	MaxDepth = 8
	// MaxInMemory is the largest compressed-member archive buffered in memory to scan inside it.
	MaxInMemory = 256 << 20
	// MaxInflated is the most bytes one Scan decompresses in total (zip-bomb guard).
	MaxInflated = 4 << 30
	// MaxMembers is the most archive members one Scan looks at, nested ones included.
	MaxMembers = 1 << 20
	// memberCost is the work charged per archive member, for its buffers and headers.
	memberCost = 4 << 10
)

// Finding is one reference to a global (a class or function) in a pickle.
type Finding struct {
	Path   string `json:"path"`   // member path inside archives, e.g. "archive/data.pkl"
	Module string `json:"module"` // e.g. "torch._utils"
	Name   string `json:"name"`   // e.g. "_rebuild_tensor_v2"
	Level  Level  `json:"level"`
	Offset int64  `json:"offset"` // byte offset of the opcode inside the pickle's member
	Opcode string `json:"opcode"` // GLOBAL, STACK_GLOBAL, INST, REDUCE, BUILD, EXT1...
	Note   string `json:"note,omitempty"`
}

// Global is "module.name".
func (f Finding) Global() string { return f.Module + "." + f.Name }

// Report is the result of scanning one file.
type Report struct {
	Findings []Finding `json:"findings"`
	// Errors lists data that could not be scanned (broken pickles, unsupported compression,
	// caps exceeded). A file with errors is not known to be clean.
	Errors []string `json:"errors"`
	// Note explains a report with nothing to scan, e.g. a format that holds no pickles.
	Note string `json:"note,omitempty"`
}

// Worst returns the highest level among the findings (Safe when there are none).
func (r *Report) Worst() Level {
	w := Safe
	for _, f := range r.Findings {
		w = max(w, f.Level)
	}
	return w
}

var errTruncated = errors.New("truncated")

type scanner struct {
	rep      *Report
	label    string // names the top-level file in findings about the container itself
	inflated int64
	members  int
	// work counts bytes read by the walkers and header searches; overlapping or
	// self-referencing archive members cannot make a scan read more than workLimit.
	work, workLimit int64
	overBudget      bool
}

// charge adds n bytes of work and reports whether the scan is still within its budget.
func (s *scanner) charge(path string, n int64) bool {
	s.work += n
	if s.work > s.workLimit && !s.overBudget {
		s.overBudget = true
		s.errorf(path, "scan stopped after reading %d bytes (overlapping or nested members?)", s.workLimit)
	}
	return !s.overBudget
}

// Scan reads a pickle, a sequence of pickles, or an archive (zip, tar, npy, nested) holding
// pickles, and reports every global the pickles reference. It never executes anything.
// name labels a top-level raw pickle in Finding.Path. Problems with the data go to
// Report.Errors; the error result is only for unusable arguments.
func Scan(r io.ReaderAt, size int64, name string) (*Report, error) {
	if r == nil || size < 0 {
		return nil, errors.New("scan: nil reader or negative size")
	}
	s := &scanner{rep: &Report{Findings: []Finding{}, Errors: []string{}}, workLimit: 1<<28 + 16*size, label: name}
	s.scanAt(name, "", r, size, 0)
	return s.rep, nil
}

func (s *scanner) errorf(path, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if path != "" {
		msg = path + ": " + msg
	}
	s.rep.Errors = append(s.rep.Errors, msg)
}

// flag reports a container that loaders would read differently: Dangerous, because what
// runs depends on which loader opens it.
func (s *scanner) flag(path, what string, err error) {
	s.rep.Findings = append(s.rep.Findings, Finding{Path: cmp.Or(path, s.label), Module: "(container)",
		Name: what, Level: Dangerous, Offset: -1, Opcode: "(container)", Note: err.Error()})
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "/" + name
}

var (
	zipLocal = []byte("PK\x03\x04")
	zipEnd   = []byte("PK\x05\x06")
	npyMagic = []byte("\x93NUMPY")
)

func head(r io.ReaderAt, size int64, n int) []byte {
	n = int(min(int64(n), size))
	b := make([]byte, n)
	k, _ := r.ReadAt(b, 0)
	return b[:k]
}

// isTar reports whether Python's tarfile opens the data (its first header is valid).
// rd may be nil for a stream, whose first 512 bytes h then decide.
func isTar(h []byte, rd io.ReaderAt, size int64) bool {
	if len(h) < 512 {
		return false
	}
	if rd == nil {
		rd, size = bytes.NewReader(h[:512]), 512
	}
	_, err := tararchive.List(rd, size)
	return !errors.Is(err, tararchive.ErrNotTar)
}

// scanAt scans data whose type is sniffed from its content. label names a top-level raw
// pickle; path is the member path of an archive member ("" at top level).
func (s *scanner) scanAt(label, path string, r io.ReaderAt, size int64, depth int) {
	if depth > MaxDepth {
		s.errorf(path, "archives nested deeper than %d; not scanned", MaxDepth)
		return
	}
	h := head(r, size, 512)
	switch {
	case bytes.HasPrefix(h, zipLocal) || bytes.HasPrefix(h, zipEnd):
		s.scanZip(path, r, size, depth)
	case bytes.HasPrefix(h, npyMagic):
		s.scanNPYStream(cmp.Or(path, label), io.NewSectionReader(r, 0, size))
	case isTar(h, r, size):
		members, err := tararchive.List(r, size)
		s.scanTar(path, r, size, members, err, depth)
		// torch.load unpickles the file from byte 0 when tarfile fails after opening it
		// (a member cut short, a bad header in a chain): walk it as a pickle too.
		s.scanPickles(cmp.Or(path, label), io.NewSectionReader(r, 0, size), layoutPlain, guess)
	default:
		// Not an archive by its first bytes, so torch.load would unpickle it from byte 0
		// even when a zip follows (junk or a pickle prepended, a polyglot). Walk the data
		// before any zip as pickles, then the zip.
		zipAt := indexFrom(r, size, 0, zipLocal)
		if zipAt < 0 && !hasEOCD(r, size) {
			s.scanPickles(cmp.Or(path, label), io.NewSectionReader(r, 0, size), layoutPlain, strict)
			return
		}
		if zipAt < 0 {
			zipAt = size
		}
		s.scanPickles(join(path, "(data before zip)"), io.NewSectionReader(r, 0, zipAt), layoutPlain, speculative)
		s.scanZip(path, r, size, depth)
	}
}

// indexFrom returns the first offset >= from where sig occurs, or -1. It reads in chunks
// that start small (the next header is usually near) and grow to 1 MiB.
func indexFrom(r io.ReaderAt, size, from int64, sig []byte) int64 {
	if from < 0 || from >= size {
		return -1
	}
	chunk := int64(4 << 10)
	var buf []byte
	for off := from; off < size; off += chunk {
		if off > from {
			chunk = min(2*chunk, 1<<20)
		}
		n := min(chunk+int64(len(sig))-1, size-off)
		if int64(cap(buf)) < n {
			buf = make([]byte, n)
		}
		k, _ := r.ReadAt(buf[:n], off)
		if i := bytes.Index(buf[:k], sig); i >= 0 {
			return off + int64(i)
		}
	}
	return -1
}

type layout int

const (
	layoutPlain       layout = iota // pickles until EOF; legacy torch storage data is skipped
	layoutTarStorages               // legacy tar "storages": count, then (args pickle, raw data)...
	layoutTarTensors                // legacy tar "tensors": count, then (args pickle, raw header)...
)

// legacyMagic is torch's MAGIC_NUMBER, the first pickle of a legacy (non-zip) torch file.
const legacyMagic = "119547037146038801333356"

// walkMode says how sure the scanner is that data is a pickle.
type walkMode int

const (
	strict      walkMode = iota // a pickle by name or position: every error is reported
	speculative                 // starts like a pickle: errors are reported if it referenced a global
	guess                       // any other member: kept only if it names real-looking globals
)

// plausible reports whether a walk of data that may not be a pickle at all found a
// GLOBAL, INST or STACK_GLOBAL naming a dotted Python identifier, which random bytes
// practically never spell.
func plausible(fs []Finding) bool {
	for _, f := range fs {
		switch f.Opcode {
		case "GLOBAL", "INST", "STACK_GLOBAL":
			if dottedIdent(f.Module) && dottedIdent(f.Name) {
				return true
			}
		}
	}
	return false
}

func dangerous(fs []Finding) bool {
	for _, f := range fs {
		if f.Level == Dangerous {
			return true
		}
	}
	return false
}

func dottedIdent(s string) bool {
	if s == "" {
		return false
	}
	for _, part := range strings.Split(s, ".") {
		if part == "" || part[0] >= '0' && part[0] <= '9' {
			return false
		}
		for i := 0; i < len(part); i++ {
			c := part[i]
			if c != '_' && !(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') && !(c >= '0' && c <= '9') {
				return false
			}
		}
	}
	return true
}

// scanPickles walks consecutive pickles in rd until EOF. It keeps going after each STOP,
// because a loader may read more than one pickle (legacy torch reads five). mode says
// which errors are worth reporting. It reports whether the data parsed cleanly to the end.
func (s *scanner) scanPickles(path string, rd io.Reader, lay layout, mode walkMode) bool {
	src := &source{r: bufio.NewReaderSize(rd, 16<<10)}
	if sk, ok := rd.(io.ReadSeeker); ok {
		src.seeker = sk
	}
	mark := len(s.rep.Findings)
	fail := func(err error) bool {
		if mode == strict || len(s.rep.Findings) > mark {
			s.errorf(path, "%v", err)
		}
		return false
	}
	var (
		legacy   bool
		storages map[string]string
		count    int64 = -1 // items announced by the first pickle of a tar member
	)
	for idx := 1; ; idx++ {
		if !s.charge(path, 0) {
			return false
		}
		start := src.off
		w := newWalker(src, path)
		top, err := w.walk()
		s.charge(path, src.off-start)
		if mode == guess {
			// Text that merely looks like GLOBAL lines ("cat\ndog\n" in a vocabulary
			// tensor) must not make a clean file unknown: keep a guess only if it names
			// a dangerous global or parses as a whole pickle.
			if !plausible(w.findings) || err != nil && err != io.EOF && !dangerous(w.findings) {
				return false
			}
			mode = speculative
		}
		s.rep.Findings = append(s.rep.Findings, w.findings...)
		if err == io.EOF {
			return true
		}
		if err != nil {
			return fail(err)
		}
		switch lay {
		case layoutPlain:
			if idx == 1 && top.kind == kInt && top.s == legacyMagic {
				legacy = true
			}
			if legacy && idx == 4 {
				storages = w.storages
			}
			if legacy && idx == 5 {
				if err := skipLegacyStorages(src, top, storages); err != nil {
					return fail(fmt.Errorf("legacy torch storage data at byte %d: %w", src.off, err))
				}
				legacy = false
			}
		case layoutTarStorages, layoutTarTensors:
			if idx == 1 {
				if top.kind != kInt {
					return fail(errors.New("legacy torch tar member: first pickle is not a count"))
				}
				count, _ = strconv.ParseInt(top.s, 10, 64)
				if count < 0 {
					return fail(errors.New("legacy torch tar member: bad count"))
				}
			} else if count > 0 {
				count--
				if err := skipTarRecord(src, top, lay); err != nil {
					return fail(fmt.Errorf("legacy torch tar record at byte %d: %w", src.off, err))
				}
			}
			if count == 0 {
				lay = layoutPlain
			}
		}
	}
}

// skip discards n bytes of raw data, seeking past them when the data is seekable.
func (src *source) skip(n uint64) error {
	if n > 1<<62 {
		return errTruncated
	}
	if src.seeker != nil && n > uint64(src.r.Buffered()) {
		b := src.r.Buffered()
		src.r.Discard(b)
		cur, err := src.seeker.Seek(0, io.SeekCurrent)
		if err != nil {
			return err
		}
		end, err := src.seeker.Seek(0, io.SeekEnd)
		if err != nil {
			return err
		}
		rest := int64(n) - int64(b)
		if rest > end-cur {
			src.off += int64(b) + end - cur
			src.r.Reset(src.seeker)
			return errTruncated
		}
		if _, err := src.seeker.Seek(cur+rest, io.SeekStart); err != nil {
			return err
		}
		src.r.Reset(src.seeker)
		src.off += int64(n)
		return nil
	}
	k, err := io.CopyN(io.Discard, src.r, int64(n))
	src.off += k
	if err != nil {
		return errTruncated
	}
	return nil
}

// skipLegacyStorages skips the raw storages after a legacy torch file's fifth pickle:
// for each key, an int64 element count then count * element-size bytes.
func skipLegacyStorages(src *source, keys value, storages map[string]string) error {
	if keys.kind != kList || keys.x.list == nil {
		return errors.New("storage keys are not a list")
	}
	for _, k := range *keys.x.list {
		if k.kind != kStr {
			return errors.New("storage key is not a string")
		}
		typ, ok := storages[k.s]
		if !ok {
			return fmt.Errorf("storage %q has no persistent id", k.s)
		}
		if err := skipStorage(src, typ); err != nil {
			return err
		}
	}
	return nil
}

func skipStorage(src *source, typ string) error {
	es := elementSize(typ)
	if es == 0 {
		return fmt.Errorf("unknown storage type %s", typ)
	}
	b, err := src.fixed(8)
	if err != nil {
		return err
	}
	n := binary.LittleEndian.Uint64(b)
	if n > (1<<62)/es {
		return fmt.Errorf("storage size %d overflows", n)
	}
	return src.skip(n * es)
}

// skipTarRecord skips the raw bytes after one record of a legacy tar member.
func skipTarRecord(src *source, args value, lay layout) error {
	if lay == layoutTarStorages {
		// args = (key, location, storage_type)
		if args.kind != kTuple || len(args.x.items) != 3 || args.x.items[2].kind != kGlobal {
			return errors.New("storage record is not (key, location, type)")
		}
		g := args.x.items[2].x
		return skipStorage(src, g.module+"."+g.name)
	}
	// tensors: int32 ndim, 4 bytes, ndim int64 sizes, ndim int64 strides, int64 offset.
	b, err := src.fixed(4)
	if err != nil {
		return err
	}
	ndim := int32(binary.LittleEndian.Uint32(b))
	if ndim < 0 || ndim > 1024 {
		return fmt.Errorf("bad tensor rank %d", ndim)
	}
	return src.skip(4 + 16*uint64(ndim) + 8)
}

func elementSize(typ string) uint64 {
	name := typ[strings.LastIndexByte(typ, '.')+1:]
	switch strings.TrimSuffix(name, "Storage") {
	case "Byte", "Char", "Bool", "QInt8", "QUInt8", "QUInt4x2", "QUInt2x4", "Untyped", "_Untyped":
		return 1
	case "Short", "Half", "BFloat16":
		return 2
	case "Int", "Float", "QInt32":
		return 4
	case "Long", "Double", "ComplexFloat":
		return 8
	case "ComplexDouble":
		return 16
	}
	return 0
}

// scanNPYStream scans a .npy file whose array holds Python objects (its payload is a pickle).
func (s *scanner) scanNPYStream(path string, r io.Reader) {
	br := bufio.NewReader(r)
	pre := make([]byte, 10)
	if _, err := io.ReadFull(br, pre); err != nil || !bytes.HasPrefix(pre, npyMagic) {
		s.errorf(path, "npy: truncated header")
		return
	}
	var hlen uint32
	switch pre[6] {
	case 1:
		hlen = uint32(binary.LittleEndian.Uint16(pre[8:]))
	case 2, 3:
		b := make([]byte, 2)
		if _, err := io.ReadFull(br, b); err != nil {
			s.errorf(path, "npy: truncated header")
			return
		}
		hlen = binary.LittleEndian.Uint32(append(pre[8:10:10], b...))
	default:
		s.errorf(path, "npy: unsupported version %d", pre[6])
		return
	}
	if hlen > 1<<20 {
		s.errorf(path, "npy: header of %d bytes is too large", hlen)
		return
	}
	hdr := make([]byte, hlen)
	if _, err := io.ReadFull(br, hdr); err != nil {
		s.errorf(path, "npy: truncated header")
		return
	}
	switch obj, err := npyObjects(string(hdr), pre[6]); {
	case obj && err != nil:
		s.errorf(path, "npy: %v; its data is scanned as a pickle", err)
		s.scanPickles(path, br, layoutPlain, speculative)
	case obj:
		s.scanPickles(path, br, layoutPlain, strict)
	}
}

// npyObjects reports whether a header's descr is or holds an object dtype, as numpy
// reads it, in which case numpy.load unpickles the data. A header it cannot read counts
// as holding objects, with the reason.
func npyObjects(h string, major byte) (bool, error) {
	if major < 3 {
		// Versions 1 and 2 are Latin-1; the literal parser reads UTF-8.
		var b strings.Builder
		for i := 0; i < len(h); i++ {
			b.WriteRune(rune(h[i]))
		}
		h = b.String()
	}
	v, err := npyheader.Parse(h)
	if err != nil {
		return true, fmt.Errorf("header not understood: %w", err)
	}
	d, ok := v.(*npyheader.Dict)
	if !ok {
		return true, errors.New("header is not a dict")
	}
	descr, ok := d.Vals["descr"]
	if !ok {
		return true, errors.New("header has no descr")
	}
	return npyheader.HasObject(descr)
}
