package scan

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/refit-ml/refit/internal/tararchive"
	"github.com/refit-ml/refit/internal/ziparchive"
)

// zipEntry is a member as described by a local file header, with sizes completed from the
// central directory when the header defers them to a data descriptor.
type zipEntry struct {
	name      string // from the central directory when it lists the member
	localName string
	method    uint16
	flags     uint16
	dataOff   int64
	csize     int64 // -1: unknown (deflate stream with a data descriptor)
}

func hasEOCD(r io.ReaderAt, size int64) bool { _, ok := findEOCD(r, size); return ok }

// findEOCD returns the offset of the end-of-central-directory record.
func findEOCD(r io.ReaderAt, size int64) (int64, bool) {
	start := max(0, size-(1<<16+22)) // the end record plus the longest comment
	buf := make([]byte, size-start)
	n, _ := r.ReadAt(buf, start)
	i := bytes.LastIndex(buf[:n], zipEnd)
	if i < 0 || n-i < 22 {
		return 0, false
	}
	return start + int64(i), true
}

// localHeader parses the local file header at off.
func localHeader(r io.ReaderAt, size, off int64) (zipEntry, error) {
	var h [30]byte
	if _, err := r.ReadAt(h[:], off); err != nil || !bytes.Equal(h[:4], zipLocal) {
		return zipEntry{}, errors.New("bad local header")
	}
	flags := binary.LittleEndian.Uint16(h[6:])
	method := binary.LittleEndian.Uint16(h[8:])
	csize := int64(binary.LittleEndian.Uint32(h[18:]))
	nl := int64(binary.LittleEndian.Uint16(h[26:]))
	xl := int64(binary.LittleEndian.Uint16(h[28:]))
	if off+30+nl+xl > size {
		return zipEntry{}, errors.New("local header truncated")
	}
	nx := make([]byte, nl+xl) // at most 128 KiB
	if _, err := r.ReadAt(nx, off+30); err != nil {
		return zipEntry{}, err
	}
	if csize == 0xffffffff {
		for extra := nx[nl:]; len(extra) >= 4; {
			id := binary.LittleEndian.Uint16(extra)
			n := int(binary.LittleEndian.Uint16(extra[2:]))
			if 4+n > len(extra) {
				break
			}
			if id == 1 && n >= 16 {
				csize = int64(binary.LittleEndian.Uint64(extra[12:]))
			}
			extra = extra[4+n:]
		}
	}
	e := zipEntry{name: string(nx[:nl]), localName: string(nx[:nl]), method: method, flags: flags, dataOff: off + 30 + nl + xl, csize: csize}
	if flags&8 != 0 && csize == 0 {
		e.csize = -1
	}
	if e.csize < -1 || e.csize == 0xffffffff {
		return zipEntry{}, errors.New("bad compressed size")
	}
	return e, nil
}

// scanZip scans every member either loader lists (miniz for torch.load, zipfile for
// numpy.load and Keras), flags archives they would read differently, then sweeps the file
// for local headers no directory lists, so a broken or lying directory hides nothing.
func (s *scanner) scanZip(prefix string, r io.ReaderAt, size int64, depth int) {
	listed, err := ziparchive.Survey(r, size)
	if errors.Is(err, ziparchive.ErrAmbiguous) {
		s.flag(prefix, "ambiguous zip archive", err)
	} else if err != nil {
		s.errorf(prefix, "%v", err)
	}
	// torch.load looks pickles up ignoring case: two *.pkl names that differ only by case
	// leave it to chance which one runs.
	pkl := map[string]string{}
	for _, m := range listed {
		if !isPickleName(m.Name) {
			continue
		}
		k := strings.ToLower(m.Name)
		if prev, ok := pkl[k]; ok && prev != m.Name {
			s.flag(prefix, "ambiguous zip archive", fmt.Errorf("members %q and %q: torch.load's lookup ignores case and finds either", prev, m.Name))
			break
		}
		pkl[k] = m.Name
	}
	if len(listed) > MaxMembers {
		s.errorf(prefix, "zip: %d members; only the first %d are scanned", len(listed), MaxMembers)
		listed = listed[:MaxMembers]
	}
	// skip maps a scanned local header to the bytes its data occupies.
	skip := make(map[int64]int64, len(listed))
	type key struct{ off, size int64 }
	done := make(map[key]bool, len(listed))
	for _, m := range listed {
		if !s.charge(prefix, 0) {
			return
		}
		skip[m.HeaderOffset] = max(skip[m.HeaderOffset], m.DataOffset+m.CompressedSize-m.HeaderOffset)
		k := key{m.DataOffset, m.CompressedSize}
		e := zipEntry{name: m.Name, localName: m.Name, method: m.Method, flags: m.Flags, dataOff: m.DataOffset, csize: m.CompressedSize}
		if done[k] {
			continue // the same bytes under another name: scanned once, flagged above
		}
		done[k] = true
		s.zipMember(prefix, r, size, e, depth)
	}
	for pos := int64(0); pos < size && s.charge(prefix, 0); {
		off := indexFrom(r, size, pos, zipLocal)
		if off < 0 {
			s.charge(prefix, size-pos)
			break
		}
		s.charge(prefix, off-pos)
		if n, ok := skip[off]; ok {
			pos = off + max(n, 1)
			continue
		}
		e, err := localHeader(r, size, off)
		if err != nil {
			pos = off + 1
			continue
		}
		consumed := s.zipMember(prefix, r, size, e, depth)
		pos = e.dataOff + max(consumed, 0)
		if pos <= off {
			pos = off + 1
		}
	}
}

// countingReader counts the compressed bytes flate consumes; ReadByte keeps flate from
// reading ahead.
type countingReader struct {
	r *bufio.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (c *countingReader) ReadByte() (byte, error) {
	b, err := c.r.ReadByte()
	if err == nil {
		c.n++
	}
	return b, err
}

// inflateLimit is MaxInflated; tests lower it.
var inflateLimit int64 = MaxInflated

// capReader stops once the scan as a whole has inflated MaxInflated bytes.
type capReader struct {
	r io.Reader
	s *scanner
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.s.inflated >= inflateLimit {
		return 0, fmt.Errorf("decompressed more than %d bytes in total; stopped (zip bomb?)", inflateLimit)
	}
	p = p[:min(int64(len(p)), inflateLimit-c.s.inflated)]
	n, err := c.r.Read(p)
	c.s.inflated += int64(n)
	return n, err
}

// zipMember scans one member and returns how many compressed bytes it occupies (-1 unknown).
func (s *scanner) zipMember(prefix string, r io.ReaderAt, size int64, e zipEntry, depth int) int64 {
	p := join(prefix, e.name)
	pickleName := isPickleName(e.name)
	if e.flags&1 != 0 {
		s.errorf(p, "zip: encrypted member; not scanned")
		return e.csize
	}
	avail := size - e.dataOff
	if e.csize >= 0 && e.csize > avail {
		s.errorf(p, "zip: member truncated (%d of %d bytes)", avail, e.csize)
	} else if e.csize >= 0 {
		avail = e.csize
	}
	sec := io.NewSectionReader(r, e.dataOff, avail)
	switch e.method {
	case 0:
		if e.csize < 0 {
			n, ok := findDescriptor(r, size, e.dataOff)
			if !ok {
				s.errorf(p, "zip: stored member of unknown size; not scanned")
				return -1
			}
			e.csize, avail = n, n
			sec = io.NewSectionReader(r, e.dataOff, n)
		}
		s.member(p, sec, sec, avail, depth, pickleName)
		return e.csize
	case 8:
		cr := &countingReader{r: bufio.NewReader(sec)}
		fr := flate.NewReader(cr)
		in := &capReader{r: fr, s: s}
		s.member(p, in, nil, -1, depth, pickleName)
		if e.csize < 0 {
			if _, err := io.Copy(io.Discard, in); err != nil {
				s.errorf(p, "zip: inflate: %v", err)
			}
			return cr.n
		}
		return e.csize
	case 12:
		// bzip2: Python's zipfile (numpy.load, Keras) reads it, so its members are scanned.
		if e.csize < 0 {
			s.errorf(p, "zip: bzip2 member of unknown size; not scanned")
			return -1
		}
		s.member(p, &capReader{r: bzip2.NewReader(bufio.NewReader(sec)), s: s}, nil, -1, depth, pickleName)
		return e.csize
	default:
		s.errorf(p, "zip: compression method %d not supported; not scanned", e.method)
		return e.csize
	}
}

// member scans one archive member: nested archives recursively, pickles by walking them.
// ra gives random access when the member is stored uncompressed.
func (s *scanner) member(p string, rd io.Reader, ra io.ReaderAt, raSize int64, depth int, isPickle bool) {
	s.members++
	if s.members > MaxMembers {
		if s.members == MaxMembers+1 {
			s.errorf(p, "more than %d archive members; the rest are not scanned", MaxMembers)
		}
		return
	}
	if !s.charge(p, memberCost) {
		return
	}
	br := bufio.NewReaderSize(rd, 4096)
	h, err := br.Peek(512)
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull && !errors.Is(err, io.ErrUnexpectedEOF) {
		s.errorf(p, "%v", err)
		return
	}
	switch {
	case bytes.HasPrefix(h, npyMagic):
		s.scanNPYStream(p, br)
	case bytes.HasPrefix(h, zipLocal) || bytes.HasPrefix(h, zipEnd) || isTar(h, ra, raSize):
		if ra == nil {
			buf, err := io.ReadAll(io.LimitReader(br, MaxInMemory+1))
			if err != nil {
				s.errorf(p, "%v", err)
				return
			}
			if len(buf) > MaxInMemory {
				s.errorf(p, "compressed nested archive larger than %d bytes; not scanned", MaxInMemory)
				return
			}
			ra, raSize = bytes.NewReader(buf), int64(len(buf))
		}
		s.scanAt("", p, ra, raSize, depth+1)
	case isPickle:
		s.scanPickles(p, br, layoutPlain, strict)
	case len(h) >= 2 && h[0] == 0x80 && h[1] <= 5:
		s.scanPickles(p, br, layoutPlain, speculative)
	default:
		// Any member may be a pickle of any protocol to some loader: walk it, and
		// keep what the walk found if it names real-looking globals.
		s.scanPickles(p, br, layoutPlain, guess)
	}
}

// isPickleName reports member names loaders unpickle: *.pkl (data.pkl, constants.pkl,
// compared ignoring case as miniz does) and the legacy tar member "pickle".
func isPickleName(name string) bool {
	base := strings.ToLower(name[strings.LastIndexByte(name, '/')+1:])
	return strings.HasSuffix(base, ".pkl") || base == "pickle"
}

// scanTar scans the members of a tar archive as Python's tarfile lists them (torch's
// legacy loader reads "storages", "tensors" and "pickle" through it). Every member that
// has data is scanned, whatever its name.
func (s *scanner) scanTar(prefix string, r io.ReaderAt, size int64, members []*tararchive.Member, listErr error, depth int) {
	if listErr != nil {
		s.errorf(prefix, "%v", listErr)
	}
	for _, m := range members {
		if !m.HasData || !s.charge(prefix, 0) {
			continue
		}
		p := join(prefix, m.Name)
		n := min(m.Size, max(size-m.DataOffset, 0))
		if n < m.Size {
			s.errorf(p, "tar: member truncated (%d of %d bytes)", n, m.Size)
		}
		sec := io.NewSectionReader(r, m.DataOffset, n)
		switch m.Name {
		case "storages":
			s.scanPickles(p, sec, layoutTarStorages, strict)
		case "tensors":
			s.scanPickles(p, sec, layoutTarTensors, strict)
		default:
			s.member(p, sec, sec, n, depth, isPickleName(m.Name))
		}
	}
}

// findDescriptor finds the data descriptor that ends a stored member of unknown size: a
// "PK\x07\x08" signature whose compressed-size field equals the bytes before it.
func findDescriptor(r io.ReaderAt, size, dataOff int64) (int64, bool) {
	sig := []byte("PK\x07\x08")
	for pos := dataOff; ; {
		q := indexFrom(r, size, pos, sig)
		if q < 0 {
			return 0, false
		}
		var d [24]byte
		n, _ := r.ReadAt(d[:], q)
		if n >= 16 && int64(binary.LittleEndian.Uint32(d[8:])) == q-dataOff {
			return q - dataOff, true
		}
		if n >= 24 && int64(binary.LittleEndian.Uint64(d[8:])) == q-dataOff {
			return q - dataOff, true
		}
		pos = q + 1
	}
}
