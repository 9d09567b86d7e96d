package ziparchive

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"unicode/utf8"
)

var (
	// ErrFormat reports an archive no loader can read.
	ErrFormat = errors.New("zip: malformed archive")
	// ErrAmbiguous reports an archive that two loaders (or two lookups in one loader)
	// would read differently.
	ErrAmbiguous = errors.New("zip: ambiguous archive: loaders would read different contents")
	// ErrChecksum reports member data whose CRC-32 differs from the directory's.
	ErrChecksum = errors.New("zip: checksum error")
	// ErrUnsupported reports a member Refit cannot decompress (encryption, methods other
	// than store, deflate and bzip2).
	ErrUnsupported = errors.New("zip: unsupported member")
)

const (
	sigLocal     = "PK\x03\x04"
	sigCentral   = "PK\x01\x02"
	sigEnd       = "PK\x05\x06"
	sigEnd64     = "PK\x06\x06"
	sigLocator64 = "PK\x06\x07"

	endLen     = 22
	end64Len   = 56
	locatorLen = 20
	centralLen = 46
	localLen   = 30
	maxComment = 1<<16 - 1

	// pythonMaxExtract is zipfile's MAX_EXTRACT_VERSION: newer members raise.
	pythonMaxExtract = 63
)

// Compression methods.
const (
	Store   uint16 = 0
	Deflate uint16 = 8
	BZip2   uint16 = 12
)

// Member is one entry of the central directory with the data offset from its local header.
type Member struct {
	Name           string // the central directory's name bytes
	Method         uint16
	Flags          uint16
	CRC32          uint32
	CompressedSize int64
	Size           int64
	HeaderOffset   int64 // absolute offset of the local header
	DataOffset     int64 // absolute offset of the member's data
	localName      string
	localErr       error
}

// Reader is an archive both loaders read the same way (or the only reading one loader has).
type Reader struct {
	// Members in central directory order.
	Members []*Member
	// Loader is "" when miniz and zipfile agree, else the one loader that can read the file:
	// "miniz" (torch.load) or "zipfile" (numpy.load, Keras).
	Loader string
	r      io.ReaderAt
	size   int64
	byName map[string][]*Member // by ASCII-folded name
}

// reading is how one loader sees the archive.
type reading struct {
	loader   string
	members  []*Member
	dirStart int64
}

func formatErr(format string, args ...any) error {
	return fmt.Errorf("zip: %s: %w", fmt.Sprintf(format, args...), ErrFormat)
}

func ambiguous(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrAmbiguous)
}

// NewReader reads the archive's directory as miniz and zipfile do. See the package doc.
func NewReader(r io.ReaderAt, size int64) (*Reader, error) {
	z, _, err := open(r, size)
	return z, err
}

// Survey returns every member either loader lists (see AllMembers) and the error
// NewReader would return, reading the directories once.
func Survey(r io.ReaderAt, size int64) ([]*Member, error) {
	_, all, err := open(r, size)
	return all, err
}

func open(r io.ReaderAt, size int64) (*Reader, []*Member, error) {
	if size < 0 {
		return nil, nil, formatErr("negative size")
	}
	mzDir, mzErr := minizDirectory(r, size)
	pyDir, pyErr := zipfileDirectory(r, size)
	all := union(r, size, mzDir, pyDir)
	mz, mzErr := withLocals(r, size, mzDir, mzErr)
	py, pyErr := withLocals(r, size, pyDir, pyErr)
	z, err := choose(r, size, mz, mzErr, py, pyErr)
	return z, all, err
}

func choose(r io.ReaderAt, size int64, mz *reading, mzErr error, py *reading, pyErr error) (*Reader, error) {
	var use *reading
	switch {
	case mzErr != nil && pyErr != nil:
		return nil, fmt.Errorf("%w (as torch.load's miniz reads it: %v)", pyErr, mzErr)
	case mzErr != nil:
		use = py
	case pyErr != nil:
		use = mz
	default:
		if err := compare(mz, py); err != nil {
			return nil, err
		}
		use = mz
	}
	if err := use.check(); err != nil {
		return nil, err
	}
	z := &Reader{Members: use.members, r: r, size: size, byName: make(map[string][]*Member, len(use.members))}
	if mzErr != nil || pyErr != nil {
		z.Loader = use.loader
	}
	for _, m := range z.Members {
		k := foldASCII(m.Name)
		z.byName[k] = append(z.byName[k], m)
	}
	return z, nil
}

// Lookup returns the member named name, compared ignoring ASCII case as miniz (torch.load)
// does. It returns nil when there is none, and an error wrapping ErrAmbiguous when several
// names match (archive/data.pkl and archive/DATA.pkl: torch reads either). Python's
// zipfile compares names exactly, so such archives are valid .npz files.
func (z *Reader) Lookup(name string) (*Member, error) {
	ms := z.byName[foldASCII(name)]
	if len(ms) > 1 {
		return nil, ambiguous("members %q and %q: torch.load's lookup of %q finds either", ms[0].Name, ms[1].Name, name)
	}
	if len(ms) == 0 {
		return nil, nil
	}
	return ms[0], nil
}

func foldASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			return strings.Map(func(r rune) rune {
				if r >= 'A' && r <= 'Z' {
					return r + 'a' - 'A'
				}
				return r
			}, s)
		}
	}
	return s
}

// compare refuses the archive when miniz and zipfile would list different members.
func compare(mz, py *reading) error {
	if len(mz.members) != len(py.members) {
		return ambiguous("torch.load (miniz) reads %d members, numpy.load (zipfile) %d", len(mz.members), len(py.members))
	}
	for i, a := range mz.members {
		b := py.members[i]
		if a.Name != b.Name || a.HeaderOffset != b.HeaderOffset || a.DataOffset != b.DataOffset ||
			a.CompressedSize != b.CompressedSize || a.Size != b.Size || a.Method != b.Method || a.CRC32 != b.CRC32 {
			return ambiguous("member %d: torch.load (miniz) reads %q at byte %d, numpy.load (zipfile) %q at byte %d",
				i, a.Name, a.DataOffset, b.Name, b.DataOffset)
		}
	}
	return nil
}

// check refuses a reading that is ambiguous by itself.
func (rd *reading) check() error {
	seen := make(map[string]bool, len(rd.members))
	for _, m := range rd.members {
		if i := strings.IndexByte(m.Name, 0); i >= 0 {
			return ambiguous("member %q: its name holds a NUL byte, where Python's zipfile cuts it", m.Name)
		}
		if seen[m.Name] {
			return ambiguous("two members named %q: a lookup by name finds either", m.Name)
		}
		seen[m.Name] = true
		if m.localName != m.Name {
			return ambiguous("member %q: its local header names it %q", m.Name, m.localName)
		}
	}
	byOffset := make([]*Member, len(rd.members))
	copy(byOffset, rd.members)
	sort.Slice(byOffset, func(i, j int) bool { return byOffset[i].HeaderOffset < byOffset[j].HeaderOffset })
	for i, m := range byOffset {
		end := m.DataOffset + m.CompressedSize
		if i+1 < len(byOffset) && end > byOffset[i+1].HeaderOffset {
			return ambiguous("members %q and %q overlap", m.Name, byOffset[i+1].Name)
		}
		if m.HeaderOffset <= rd.dirStart && rd.dirStart < end {
			return ambiguous("member %q holds the central directory in its data", m.Name)
		}
	}
	return nil
}

func le16(b []byte) uint64 { return uint64(binary.LittleEndian.Uint16(b)) }
func le32(b []byte) uint64 { return uint64(binary.LittleEndian.Uint32(b)) }
func le64(b []byte) uint64 { return binary.LittleEndian.Uint64(b) }

// readFull reads exactly len(b) bytes at off, or fails.
func readFull(r io.ReaderAt, size, off int64, b []byte) error {
	if off < 0 || off > size || int64(len(b)) > size-off {
		return formatErr("%d bytes at %d run past the end of the file (%d bytes)", len(b), off, size)
	}
	n, err := r.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("zip: reading %d bytes at %d: %w", len(b), off, err)
}

// zipfileReading reads the directory as Python's zipfile (3.11) does.
// zipfileDirectory lists the central directory as zipfile does.
func zipfileDirectory(r io.ReaderAt, size int64) (*reading, error) {
	var eocd int64 = -1
	var rec [endLen]byte
	if size >= endLen {
		if err := readFull(r, size, size-endLen, rec[:]); err != nil {
			return nil, err
		}
		if string(rec[:4]) == sigEnd && rec[20] == 0 && rec[21] == 0 {
			eocd = size - endLen
		}
	}
	if eocd < 0 {
		start := max(size-(1<<16)-endLen, 0)
		tail := make([]byte, size-start)
		if err := readFull(r, size, start, tail); err != nil {
			return nil, err
		}
		i := bytes.LastIndex(tail, []byte(sigEnd))
		if i < 0 {
			return nil, formatErr("no end of central directory record")
		}
		if len(tail)-i < endLen {
			return nil, formatErr("end of central directory record cut short")
		}
		eocd = start + int64(i)
		copy(rec[:], tail[i:])
	}
	dirSize, dirOff := le32(rec[12:]), le32(rec[16:])
	zip64 := false
	if eocd >= locatorLen {
		var loc [locatorLen]byte
		if err := readFull(r, size, eocd-locatorLen, loc[:]); err != nil {
			return nil, err
		}
		if string(loc[:4]) == sigLocator64 {
			if le32(loc[4:]) != 0 || le32(loc[16:]) > 1 {
				return nil, formatErr("zip64 locator names several disks")
			}
			if eocd < locatorLen+end64Len {
				return nil, formatErr("zip64 end record before the start of the file")
			}
			var z [end64Len]byte
			if err := readFull(r, size, eocd-locatorLen-end64Len, z[:]); err != nil {
				return nil, err
			}
			if string(z[:4]) == sigEnd64 {
				zip64 = true
				dirSize, dirOff = le64(z[40:]), le64(z[48:])
			}
		}
	}
	// The directory sits right before the end records; its recorded offset only sets
	// the prefix correction.
	if dirSize > uint64(size) {
		return nil, formatErr("central directory of %d bytes at %d outside the file", dirSize, dirOff)
	}
	start := eocd - int64(dirSize)
	if zip64 {
		start -= end64Len + locatorLen
	}
	// Every header offset is shifted by start - dirOff (the "concat" prefix); the sum is
	// computed without overflow in shift below.
	if start < 0 {
		return nil, formatErr("bad central directory offset %d", dirOff)
	}
	// zipfile reads up to dirSize bytes and parses what it got.
	n := min(int64(dirSize), max(size-start, 0))
	dir := make([]byte, n)
	if n > 0 {
		if err := readFull(r, size, start, dir); err != nil {
			return nil, err
		}
	}
	rd := &reading{loader: "zipfile", dirStart: start}
	for total := uint64(0); total < dirSize; {
		p := dir[min(total, uint64(len(dir))):]
		if len(p) < centralLen {
			return nil, formatErr("truncated central directory")
		}
		if string(p[:4]) != sigCentral {
			return nil, formatErr("bad central directory signature at %d", start+int64(total))
		}
		nl, xl, cl := le16(p[28:]), le16(p[30:]), le16(p[32:])
		rest := p[centralLen:]
		name := rest[:min(nl, uint64(len(rest)))]
		rest = rest[len(name):]
		extra := rest[:min(xl, uint64(len(rest)))]
		flags := uint16(le16(p[8:]))
		if flags&0x800 != 0 && !utf8.Valid(name) {
			return nil, formatErr("member name %q is not the UTF-8 its flag says", name)
		}
		if p[6] > pythonMaxExtract {
			return nil, formatErr("member %q needs zip version %d", name, p[6])
		}
		m := &Member{Name: string(name), Flags: flags, Method: uint16(le16(p[10:])), CRC32: uint32(le32(p[16:]))}
		csize, usize, off := le32(p[20:]), le32(p[24:]), le32(p[42:])
		if err := pythonZip64Extra(extra, &usize, &csize, &off); err != nil {
			return nil, err
		}
		if csize > math.MaxInt64/2 || usize > math.MaxInt64/2 {
			return nil, formatErr("member %q: size overflows", name)
		}
		m.CompressedSize, m.Size, m.HeaderOffset = int64(csize), int64(usize), shift(start, off, dirOff)
		rd.members = append(rd.members, m)
		total += centralLen + nl + xl + cl
	}
	return rd, nil
}

// shift returns start + off - dirOff, or -1 when that is negative or overflows: zipfile
// then fails when the member is opened, and readLocal does too.
func shift(start int64, off, dirOff uint64) int64 {
	if off >= dirOff {
		d := off - dirOff
		if d > uint64(math.MaxInt64-start) {
			return -1
		}
		return start + int64(d)
	}
	d := dirOff - off
	if d > uint64(start) {
		return -1
	}
	return start - int64(d)
}

// pythonZip64Extra applies the zip64 extra field as ZipInfo._decodeExtra does.
func pythonZip64Extra(extra []byte, usize, csize, off *uint64) error {
	for len(extra) >= 4 {
		tp, ln := le16(extra), le16(extra[2:])
		if ln+4 > uint64(len(extra)) {
			return formatErr("corrupt extra field %04x", tp)
		}
		if tp == 1 {
			data := extra[4 : 4+ln]
			for _, v := range []*uint64{usize, csize, off} {
				if *v != math.MaxUint32 {
					continue
				}
				if len(data) < 8 {
					return formatErr("corrupt zip64 extra field")
				}
				*v, data = le64(data), data[8:]
			}
		}
		extra = extra[4+ln:]
	}
	return nil
}

// minizEnd finds the end record as miniz's mz_zip_reader_locate_header_sig does: the last
// signature with a whole record after it, searching back in 4 KiB steps for about 64 KiB.
func minizEnd(r io.ReaderAt, size int64) (int64, error) {
	if size < endLen {
		return 0, formatErr("file too small")
	}
	const chunk = 4096
	lo := max(size-chunk, 0)
	for lo > 0 && size-lo < maxComment+endLen {
		lo = max(lo-(chunk-3), 0)
	}
	buf := make([]byte, size-lo)
	if err := readFull(r, size, lo, buf); err != nil {
		return 0, err
	}
	for i := len(buf) - endLen; i >= 0; i-- {
		if string(buf[i:i+4]) == sigEnd {
			return lo + int64(i), nil
		}
	}
	return 0, formatErr("no end of central directory record")
}

// minizReading reads the directory as miniz 2.1 (torch.load) does: absolute offsets, the
// zip64 record where the locator points, the entry count.
// minizDirectory lists the central directory as miniz does.
func minizDirectory(r io.ReaderAt, size int64) (*reading, error) {
	eocd, err := minizEnd(r, size)
	if err != nil {
		return nil, err
	}
	var e [endLen]byte
	if err := readFull(r, size, eocd, e[:]); err != nil {
		return nil, err
	}
	total, onDisk := le16(e[10:]), le16(e[8:])
	disk, dirDisk := le16(e[4:]), le16(e[6:])
	dirSize, dirOff := le32(e[12:]), le32(e[16:])
	if eocd >= locatorLen+end64Len {
		var loc [locatorLen]byte
		if err := readFull(r, size, eocd-locatorLen, loc[:]); err != nil {
			return nil, err
		}
		if string(loc[:4]) == sigLocator64 {
			at := le64(loc[8:])
			if at > uint64(size-end64Len) {
				return nil, formatErr("zip64 end record at %d outside the file", at)
			}
			var z [end64Len]byte
			if err := readFull(r, size, int64(at), z[:]); err != nil {
				return nil, err
			}
			if string(z[:4]) == sigEnd64 {
				if le64(z[4:]) < end64Len-12 {
					return nil, formatErr("zip64 end record too short")
				}
				if le32(loc[16:]) != 1 {
					return nil, formatErr("zip64 locator names %d disks", le32(loc[16:]))
				}
				total, onDisk = le64(z[32:]), le64(z[24:])
				if total > math.MaxUint32 || onDisk > math.MaxUint32 || le64(z[40:]) > math.MaxUint32 {
					return nil, formatErr("zip64 directory too large for miniz")
				}
				dirSize, dirOff = le64(z[40:]), le64(z[48:])
				disk, dirDisk = le32(z[16:]), le32(z[20:])
			}
		}
	}
	if total != onDisk || ((disk|dirDisk) != 0 && (disk != 1 || dirDisk != 1)) {
		return nil, formatErr("multi-disk archive")
	}
	if dirSize < total*centralLen || dirOff > uint64(size) || dirSize > uint64(size)-dirOff {
		return nil, formatErr("central directory of %d bytes at %d does not fit", dirSize, dirOff)
	}
	dir := make([]byte, dirSize) // fits in the file, checked above
	if err := readFull(r, size, int64(dirOff), dir); err != nil {
		return nil, err
	}
	rd := &reading{loader: "miniz", dirStart: int64(dirOff), members: make([]*Member, 0, total)}
	p := dir
	for i := uint64(0); i < total; i++ {
		if len(p) < centralLen || string(p[:4]) != sigCentral {
			return nil, formatErr("bad central directory entry %d", i)
		}
		csize, usize, off := le32(p[20:]), le32(p[24:]), le32(p[42:])
		nl, xl, cl := le16(p[28:]), le16(p[30:]), le16(p[32:])
		method := uint16(le16(p[10:]))
		if xl > 0 && max(csize, usize, off) == math.MaxUint32 && uint64(len(p)) >= centralLen+nl+xl {
			extra := p[centralLen+nl : centralLen+nl+xl]
			for len(extra) >= 4 {
				id, n := le16(extra), le16(extra[2:])
				if n+4 > uint64(len(extra)) {
					return nil, formatErr("corrupt extra field")
				}
				if id == 1 {
					data := extra[4 : 4+n]
					for _, v := range []*uint64{&usize, &csize, &off} {
						if *v != math.MaxUint32 {
							continue
						}
						if len(data) < 8 {
							return nil, formatErr("corrupt zip64 extra field")
						}
						*v, data = le64(data), data[8:]
					}
					break
				}
				extra = extra[4+n:]
			}
		}
		if (method == Store && usize != csize) || (usize != 0 && csize == 0) {
			return nil, formatErr("entry %d: inconsistent sizes", i)
		}
		if le16(p[34:]) == 0xffff {
			return nil, formatErr("multi-disk archive")
		}
		if csize != math.MaxUint32 && (off > uint64(size) || csize > uint64(size) || off+localLen+csize > uint64(size)) {
			return nil, formatErr("entry %d runs past the end of the file", i)
		}
		if le16(p[8:])&0x2000 != 0 {
			return nil, formatErr("entry %d: masked local header", i)
		}
		hdr := centralLen + nl + xl + cl
		if hdr > uint64(len(p)) {
			return nil, formatErr("central directory entry %d truncated", i)
		}
		if csize > math.MaxInt64/2 || usize > math.MaxInt64/2 || off > math.MaxInt64/2 {
			return nil, formatErr("entry %d: size or offset overflows", i)
		}
		rd.members = append(rd.members, &Member{
			Name: string(p[centralLen : centralLen+nl]), Flags: uint16(le16(p[8:])), Method: method,
			CRC32: uint32(le32(p[16:])), CompressedSize: int64(csize), Size: int64(usize), HeaderOffset: int64(off),
		})
		p = p[hdr:]
	}
	return rd, nil
}

// withLocals completes a directory listing with the local headers (read by union
// already); a member whose local header is unreadable fails the reading.
func withLocals(r io.ReaderAt, size int64, rd *reading, err error) (*reading, error) {
	if err != nil {
		return nil, err
	}
	for _, m := range rd.members {
		if m.localErr != nil {
			return nil, m.localErr
		}
	}
	return rd, nil
}

// readLocal reads a member's local header for its data offset and name.
func readLocal(r io.ReaderAt, size int64, m *Member) error {
	var h [localLen]byte
	if err := readFull(r, size, m.HeaderOffset, h[:]); err != nil {
		return fmt.Errorf("member %q: local header: %w", m.Name, err)
	}
	if string(h[:4]) != sigLocal {
		return formatErr("member %q: bad local header signature at %d", m.Name, m.HeaderOffset)
	}
	nl, xl := int64(le16(h[26:])), int64(le16(h[28:]))
	// zipfile reads the name and extra field without checking their length, so one cut
	// by the end of the file leaves the data at the end of the file.
	at := m.HeaderOffset + localLen
	name := make([]byte, min(nl, size-at))
	if err := readFull(r, size, at, name); err != nil {
		return fmt.Errorf("member %q: local header: %w", m.Name, err)
	}
	m.localName = string(name)
	m.DataOffset = min(at+nl+xl, size)
	return nil
}

// AllMembers returns every member either loader lists, from both readings and whatever
// their ambiguity, for a scanner that must see every byte range a loader could read.
// Members whose local header cannot be read are left out.
func AllMembers(r io.ReaderAt, size int64) []*Member {
	all, _ := Survey(r, size)
	return all
}

// union reads the local header of every listed member (once per header offset) and
// returns the members of both listings, without repeats.
func union(r io.ReaderAt, size int64, listings ...*reading) []*Member {
	type key struct {
		name          string
		off, data, cs int64
		method        uint16
	}
	seen := map[key]bool{}
	type local struct {
		name string
		data int64
		err  error
	}
	locals := map[int64]local{}
	var out []*Member
	for _, rd := range listings {
		if rd == nil {
			continue
		}
		for _, m := range rd.members {
			l, ok := locals[m.HeaderOffset]
			if !ok {
				l.err = readLocal(r, size, m)
				l.name, l.data = m.localName, m.DataOffset
				locals[m.HeaderOffset] = l
			}
			m.localName, m.DataOffset = l.name, l.data
			if l.err == nil && (m.DataOffset > size || m.CompressedSize > size-m.DataOffset) {
				m.localErr = formatErr("member %q: %d bytes at %d run past the end of the file", m.Name, m.CompressedSize, m.DataOffset)
			} else {
				m.localErr = l.err
			}
			if m.localErr != nil {
				continue
			}
			k := key{m.Name, m.HeaderOffset, m.DataOffset, m.CompressedSize, m.Method}
			if !seen[k] {
				seen[k] = true
				out = append(out, m)
			}
		}
	}
	return out
}
