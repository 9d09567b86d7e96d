// Package tararchive lists the members of a tar archive exactly as Python's tarfile (3.11)
// does, which is how torch.load reads legacy (pre-1.6) tar checkpoints.
//
// Go's archive/tar reads the same dialects (V7, ustar, GNU, PAX) but not always the same
// way: tarfile prepends the ustar prefix field to a name whatever the magic says, accepts
// a header whose checksum matches as signed or unsigned bytes, parses numbers with
// Python's int(s, 8) (whitespace, underscores, a 0o prefix), stops quietly at the first
// bad header after the first, applies pax size records after computing where the next
// header starts, and more. A scanner that wants to see what torch.load unpickles must
// follow tarfile, so this package does, field for field.
//
// torch.load tries tarfile first and falls back to unpickling the file from byte 0 when
// tarfile raises a TarError, at the first header (ErrNotTar) or later (ErrFormat); a
// scanner must therefore also walk such files as pickles.
//
// Memory: headers are read one block at a time; pax records are capped at MaxPax bytes.
package tararchive

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
)

var (
	// ErrNotTar reports that tarfile.open fails at the first header.
	ErrNotTar = errors.New("tar: not a tar archive")
	// ErrFormat reports a tarfile.ReadError after the first header.
	ErrFormat = errors.New("tar: malformed archive")
	// ErrUnsupported reports what this package does not follow (GNU sparse data,
	// oversized pax records); the members read so far are returned.
	ErrUnsupported = errors.New("tar: unsupported")
)

// MaxPax caps the pax extended header data read into memory.
const MaxPax = 1 << 20

const block = 512

// Member is one entry as tarfile lists it.
type Member struct {
	Name       string
	Type       byte  // the type flag; 0 for the old regular-file type
	Size       int64 // after pax records
	Offset     int64 // of its first header block (a GNU long-name or pax header included)
	DataOffset int64
	// HasData is true when tarfile reads Size bytes of data after the header (regular
	// files and unknown types), so the data can be extracted.
	HasData bool
}

// headerErr is one of tarfile's HeaderErrors: at the first header it makes tarfile.open
// fail; later it ends the listing quietly, except inside an extension chain.
type headerErr struct {
	kind string // "eof", "empty", "truncated", "invalid"
	msg  string
}

func (e *headerErr) Error() string { return "tar: " + e.msg }

// maxChain caps the extension headers (GNU long names, pax) before one member.
const maxChain = 64

type reader struct {
	depth  int
	r      io.ReaderAt
	size   int64
	global map[string]string
	keys   []string // global pax keys in insertion order
}

// List returns the members tarfile lists. On an error the members before it are
// returned with it.
func List(r io.ReaderAt, size int64) ([]*Member, error) {
	rd := &reader{r: r, size: size, global: map[string]string{}}
	var out []*Member
	offset := int64(0)
	tell := int64(0)
	for {
		if offset != tell {
			// tarfile seeks to the byte before the next header and reads it.
			if offset <= 0 || offset-1 >= size {
				return out, fmt.Errorf("%w: unexpected end of data", ErrFormat)
			}
		}
		m, next, end, err := rd.member(offset)
		var he *headerErr
		switch {
		case errors.As(err, &he):
			if he.kind == "eof" {
				return out, nil
			}
			if offset == 0 {
				return out, fmt.Errorf("%w: %s", ErrNotTar, he.msg)
			}
			return out, nil
		case offset == 0 && errors.Is(err, ErrFormat):
			// tarfile.open reads the first member: any ReadError there fails the open.
			return out, fmt.Errorf("%w: %w", ErrNotTar, err)
		case err != nil:
			return out, err
		}
		out = append(out, m)
		offset, tell = next, end
	}
}

// member reads the member whose header starts at pos. It returns where the next header
// starts and where tarfile's file position is (they differ when data follows).
func (rd *reader) member(pos int64) (m *Member, next, tell int64, err error) {
	if rd.depth++; rd.depth > maxChain {
		return nil, 0, 0, fmt.Errorf("%w: more than %d extension headers before a member", ErrUnsupported, maxChain)
	}
	defer func() { rd.depth-- }()
	h, err := rd.header(pos)
	if err != nil {
		return nil, 0, 0, err
	}
	switch h.typ {
	case 'L', 'K':
		buf, err := rd.data(pos+block, h.size)
		if err != nil {
			return nil, 0, 0, err
		}
		m, next, tell, err := rd.member(pos + block + blocks(h.size))
		if err != nil {
			return nil, 0, 0, subsequent(err)
		}
		m.Offset = pos
		if h.typ == 'L' {
			m.Name = nts(buf)
			if m.Type == '5' {
				m.Name = strings.TrimSuffix(m.Name, "/")
			}
		}
		return m, next, tell, nil
	case 'S':
		return nil, 0, 0, fmt.Errorf("%w: GNU sparse member %q", ErrUnsupported, h.name)
	case 'x', 'g', 'X':
		return rd.pax(pos, h)
	}
	m = h.member(pos)
	next = m.DataOffset
	if m.HasData {
		next += blocks(m.Size)
	}
	rd.apply(m, rd.global, rd.keys)
	if m.Type == '5' {
		m.Name = strings.TrimRight(m.Name, "/")
	}
	return m, next, m.DataOffset, nil
}

func subsequent(err error) error {
	var he *headerErr
	if errors.As(err, &he) {
		return fmt.Errorf("%w: %s", ErrFormat, he.msg)
	}
	return err
}

// paxRecord matches a record's length prefix, as tarfile's _header_length_prefix_re.
var paxRecord = regexp.MustCompile(`^([0-9]{1,20}) `)

func (rd *reader) pax(pos int64, h *header) (*Member, int64, int64, error) {
	if h.size > MaxPax {
		return nil, 0, 0, fmt.Errorf("%w: pax header of %d bytes", ErrUnsupported, h.size)
	}
	buf, err := rd.data(pos+block, h.size)
	if err != nil {
		return nil, 0, 0, err
	}
	var local map[string]string
	var keys []string
	if h.typ == 'g' {
		local, keys = rd.global, rd.keys
	} else {
		local = make(map[string]string, len(rd.global))
		for k, v := range rd.global {
			local[k] = v
		}
		keys = append(keys, rd.keys...)
	}
	invalid := &headerErr{kind: "invalid", msg: "invalid pax header"}
	for p := 0; p < len(buf) && buf[p] != 0; {
		mt := paxRecord.FindSubmatchIndex(buf[p:])
		if mt == nil {
			return nil, 0, 0, invalid
		}
		length, err := strconv.Atoi(string(buf[p+mt[2] : p+mt[3]]))
		if err != nil || length < 5 || p+length > len(buf) {
			return nil, 0, 0, invalid
		}
		end := p + length - 1
		kv := buf[p+mt[3]+1 : end]
		k, v, ok := bytes.Cut(kv, []byte("="))
		if len(k) == 0 || !ok || buf[end] != '\n' {
			return nil, 0, 0, invalid
		}
		key := string(k)
		if strings.HasPrefix(key, "GNU.sparse.") {
			return nil, 0, 0, fmt.Errorf("%w: GNU sparse pax records", ErrUnsupported)
		}
		if _, seen := local[key]; !seen {
			keys = append(keys, key)
		}
		local[key] = string(v)
		p += length
	}
	if h.typ == 'g' {
		rd.global, rd.keys = local, keys
	}
	m, next, tell, err := rd.member(pos + block + blocks(h.size))
	if err != nil {
		return nil, 0, 0, subsequent(err)
	}
	if h.typ == 'g' {
		return m, next, tell, nil
	}
	rd.apply(m, local, keys)
	m.Offset = pos
	if _, ok := local["size"]; ok {
		next = m.DataOffset
		if m.HasData {
			next += blocks(m.Size)
		}
	}
	return m, next, tell, nil
}

// apply sets the fields pax records override, as TarInfo._apply_pax_info does.
func (rd *reader) apply(m *Member, recs map[string]string, keys []string) {
	for _, k := range keys {
		v, ok := recs[k]
		if !ok {
			continue
		}
		switch k {
		case "path":
			m.Name = strings.TrimRight(v, "/")
		case "size":
			n, ok := pyInt(v, 10)
			if !ok {
				n = 0
			}
			m.Size = n
		}
	}
}

type header struct {
	name string
	typ  byte
	size int64
}

func (h *header) member(pos int64) *Member {
	m := &Member{Name: h.name, Type: h.typ, Size: h.size, Offset: pos, DataOffset: pos + block}
	switch h.typ {
	case '1', '2', '3', '4', '5', '6':
	default:
		m.HasData = true
	}
	return m
}

// header reads and checks the 512-byte header at pos, as TarInfo.frombuf does.
func (rd *reader) header(pos int64) (*header, error) {
	n := min(int64(block), max(rd.size-pos, 0))
	buf := make([]byte, n)
	if n > 0 {
		if k, err := rd.r.ReadAt(buf, pos); int64(k) != n {
			return nil, fmt.Errorf("tar: reading header at %d: %w", pos, err)
		}
	}
	switch {
	case n == 0:
		return nil, &headerErr{"empty", "empty header"}
	case n < block:
		return nil, &headerErr{"truncated", "truncated header"}
	case bytes.Count(buf, []byte{0}) == block:
		return nil, &headerErr{"eof", "end of file header"}
	}
	invalid := &headerErr{"invalid", "invalid header"}
	sum, ok := nti(buf[148:156])
	if !ok {
		return nil, invalid
	}
	var unsigned, signed int64 = 256, 256
	for i, c := range buf {
		if i >= 148 && i < 156 {
			continue
		}
		unsigned += int64(c)
		signed += int64(int8(c))
	}
	if sum != unsigned && sum != signed {
		return nil, &headerErr{"invalid", "bad checksum"}
	}
	h := &header{name: nts(buf[0:100]), typ: buf[156]}
	for _, f := range [][2]int{{100, 108}, {108, 116}, {116, 124}, {136, 148}, {329, 337}, {337, 345}} {
		if _, ok := nti(buf[f[0]:f[1]]); !ok {
			return nil, invalid
		}
	}
	if h.size, ok = nti(buf[124:136]); !ok {
		return nil, invalid
	}
	if h.size < 0 {
		return nil, fmt.Errorf("%w: negative size", ErrUnsupported)
	}
	if h.typ == 'S' {
		for p := 386; p < 386+4*24; p += 24 {
			if _, ok := nti(buf[p : p+12]); !ok {
				return nil, invalid
			}
			if _, ok := nti(buf[p+12 : p+24]); !ok {
				return nil, invalid
			}
		}
		if _, ok := nti(buf[483:495]); !ok {
			return nil, invalid
		}
	}
	prefix := nts(buf[345:500])
	if h.typ == 0 && strings.HasSuffix(h.name, "/") {
		h.typ = '5'
	}
	if h.typ == '5' {
		h.name = strings.TrimRight(h.name, "/")
	}
	if prefix != "" && h.typ != 'L' && h.typ != 'K' && h.typ != 'S' {
		h.name = prefix + "/" + h.name
	}
	return h, nil
}

// data reads n bytes at pos, fewer at the end of the file, as file.read does.
func (rd *reader) data(pos, n int64) ([]byte, error) {
	n = min(blocks(n), max(rd.size-pos, 0))
	if n > MaxPax+block {
		return nil, fmt.Errorf("%w: %d-byte extended header", ErrUnsupported, n)
	}
	buf := make([]byte, n)
	if k, err := rd.r.ReadAt(buf, pos); int64(k) != n {
		return nil, fmt.Errorf("tar: reading at %d: %w", pos, err)
	}
	return buf, nil
}

func blocks(n int64) int64 { return (n + block - 1) / block * block }

// nts cuts a field at its first NUL.
func nts(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// nti parses a number field as tarfile's nti: base-256 when the first byte is 0x80 or
// 0xff, else ASCII octal read with Python's int().
func nti(b []byte) (int64, bool) {
	if b[0] == 0x80 || b[0] == 0xff {
		var n int64
		for _, c := range b[1:] {
			if n > (1<<62)>>8 {
				return 0, false
			}
			n = n<<8 | int64(c)
		}
		if b[0] == 0xff {
			// -(256**(len-1) - n); refuse what does not fit.
			if len(b)-1 >= 8 {
				return 0, false
			}
			n -= 1 << (8 * (len(b) - 1))
		}
		return n, true
	}
	s := nts(b)
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return 0, false
		}
	}
	s = strings.TrimFunc(s, pySpace)
	if s == "" {
		return 0, true
	}
	return pyInt(s, 8)
}

func pySpace(r rune) bool {
	return r == ' ' || r >= '\t' && r <= '\r' || r >= 0x1c && r <= 0x1f
}

// pyInt parses s as Python's int(s, base) for base 8 or 10: surrounding whitespace, a
// sign, a 0o prefix (base 8), underscores between digits.
func pyInt(s string, base int) (int64, bool) {
	s = strings.TrimFunc(s, pySpace)
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	if base == 8 && len(s) >= 2 && s[0] == '0' && (s[1] == 'o' || s[1] == 'O') {
		s = strings.TrimPrefix(s[2:], "_")
	}
	if s == "" || s[0] == '_' || s[len(s)-1] == '_' || strings.Contains(s, "__") {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), base, 64)
	if err != nil {
		return 0, false
	}
	if neg {
		n = -n
	}
	return n, true
}
