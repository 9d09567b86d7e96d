package scan

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
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

type cdEntry struct {
	name        string
	csize       int64
	localOffset int64 // absolute
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

// centralDirectory reads the central directory, if there is a readable one, keyed by the
// absolute offset of each member's local header. Prepended data is accounted for as
// archive/zip does: base = directory end - directory size - directory offset.
func centralDirectory(r io.ReaderAt, size int64) (map[int64]cdEntry, error) {
	eocd, ok := findEOCD(r, size)
	if !ok {
		return nil, errors.New("no end of central directory (truncated or not a zip)")
	}
	var e [22]byte
	if _, err := r.ReadAt(e[:], eocd); err != nil {
		return nil, err
	}
	cdSize := int64(binary.LittleEndian.Uint32(e[12:]))
	cdOff := int64(binary.LittleEndian.Uint32(e[16:]))
	end := eocd
	// A zip64 end record and locator may sit before the end record even when its own
	// fields are not saturated (torch writes them always); the directory ends before them.
	var loc [20]byte
	if eocd >= 20+56 {
		if _, err := r.ReadAt(loc[:], eocd-20); err == nil && bytes.Equal(loc[:4], []byte("PK\x06\x07")) {
			var z [56]byte
			rec := eocd - 20 - 56
			if _, err := r.ReadAt(z[:], rec); err == nil && bytes.Equal(z[:4], []byte("PK\x06\x06")) {
				end = rec
				if cdSize == 0xffffffff || cdOff == 0xffffffff {
					cdSize = int64(binary.LittleEndian.Uint64(z[40:]))
					cdOff = int64(binary.LittleEndian.Uint64(z[48:]))
				}
			}
		}
	}
	if cdSize > maxDirectory {
		return nil, fmt.Errorf("central directory of %d bytes exceeds %d", cdSize, maxDirectory)
	}
	base := end - cdSize - cdOff
	if base > 0 {
		// The directory may simply not end where the end record is; archive/zip then
		// assumes no prefix.
		var sig [4]byte
		if _, err := r.ReadAt(sig[:], base+cdOff); err != nil || !bytes.Equal(sig[:], []byte("PK\x01\x02")) {
			base = 0
		}
	}
	cd := make([]byte, cdSize) // cdSize <= file size, checked above
	if _, err := r.ReadAt(cd, base+cdOff); err != nil {
		return nil, fmt.Errorf("central directory: %w", err)
	}
	out := map[int64]cdEntry{}
	for p := 0; p+46 <= len(cd); {
		if !bytes.Equal(cd[p:p+4], []byte("PK\x01\x02")) {
			return out, errors.New("central directory entry has a bad signature")
		}
		nl := int(binary.LittleEndian.Uint16(cd[p+28:]))
		xl := int(binary.LittleEndian.Uint16(cd[p+30:]))
		cl := int(binary.LittleEndian.Uint16(cd[p+32:]))
		if p+46+nl+xl+cl > len(cd) {
			return out, errors.New("central directory entry truncated")
		}
		csize := int64(binary.LittleEndian.Uint32(cd[p+20:]))
		usize := int64(binary.LittleEndian.Uint32(cd[p+24:]))
		loff := int64(binary.LittleEndian.Uint32(cd[p+42:]))
		extra := cd[p+46+nl : p+46+nl+xl]
		for len(extra) >= 4 {
			id := binary.LittleEndian.Uint16(extra)
			n := int(binary.LittleEndian.Uint16(extra[2:]))
			if 4+n > len(extra) {
				break
			}
			if id == 1 {
				f := extra[4 : 4+n]
				take := func(v *int64) {
					if *v == 0xffffffff && len(f) >= 8 {
						*v = int64(binary.LittleEndian.Uint64(f))
						f = f[8:]
					}
				}
				take(&usize)
				take(&csize)
				take(&loff)
			}
			extra = extra[4+n:]
		}
		name := string(cd[p+46 : p+46+nl])
		if csize >= 0 && loff >= 0 && loff <= size-base {
			out[base+loff] = cdEntry{name: name, csize: csize, localOffset: base + loff}
		}
		p += 46 + nl + xl + cl
	}
	return out, nil
}

// localHeader parses the local file header at off.
func localHeader(r io.ReaderAt, size, off int64, cd map[int64]cdEntry) (zipEntry, error) {
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
	if c, ok := cd[off]; ok {
		e.name = c.name // what loaders that read the central directory use
	}
	if c, ok := cd[off]; ok && (flags&8 != 0 || csize == 0xffffffff) {
		e.csize = c.csize
	} else if flags&8 != 0 && csize == 0 {
		e.csize = -1
	}
	if e.csize < -1 || e.csize == 0xffffffff {
		return zipEntry{}, errors.New("bad compressed size")
	}
	return e, nil
}

// scanZip finds members by scanning for local file headers, so junk before the archive, a
// broken tail and members missing from the central directory do not hide anything; members
// the central directory points at that the scan skipped (inside other data) are added.
func (s *scanner) scanZip(prefix string, r io.ReaderAt, size int64, depth int) {
	cd, cdErr := centralDirectory(r, size)
	if cdErr != nil {
		s.errorf(prefix, "zip: %v", cdErr)
	}
	visited := map[int64]bool{}
	for pos := int64(0); pos < size && s.charge(prefix, 0); {
		off := indexFrom(r, size, pos, zipLocal)
		if off < 0 {
			s.charge(prefix, size-pos)
			break
		}
		s.charge(prefix, off-pos)
		e, err := localHeader(r, size, off, cd)
		if err != nil {
			pos = off + 1
			continue
		}
		visited[off] = true
		consumed := s.zipMember(prefix, r, size, e, depth)
		pos = e.dataOff + max(consumed, 0)
		if pos <= off {
			pos = off + 1
		}
	}
	var rest []int64
	for off := range cd {
		if !visited[off] {
			rest = append(rest, off)
		}
	}
	sort.Slice(rest, func(i, j int) bool { return rest[i] < rest[j] })
	for _, off := range rest {
		if !s.charge(prefix, 0) {
			break
		}
		e, err := localHeader(r, size, off, cd)
		if err != nil {
			s.errorf(join(prefix, cd[off].name), "zip: %v", err)
			continue
		}
		s.zipMember(prefix, r, size, e, depth)
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
	pickleName := strings.HasSuffix(e.name, ".pkl") || strings.HasSuffix(e.localName, ".pkl")
	if e.localName != e.name {
		s.errorf(p, "zip: local header names the member %q", e.localName)
	}
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
	case bytes.HasPrefix(h, zipLocal) || bytes.HasPrefix(h, zipEnd) || isTar(h):
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
		s.scanPickles(p, br, layoutPlain, false)
	case len(h) >= 2 && h[0] == 0x80 && h[1] <= 5:
		s.scanPickles(p, br, layoutPlain, true)
	}
}

// scanTar scans a tar archive (the legacy torch format holds "pickle", "storages" and
// "tensors" members).
func (s *scanner) scanTar(prefix string, r io.ReaderAt, size int64, depth int) {
	tr := tar.NewReader(io.NewSectionReader(r, 0, size))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			s.errorf(prefix, "tar: %v", err)
			return
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		p := join(prefix, hdr.Name)
		switch hdr.Name {
		case "storages":
			s.scanPickles(p, tr, layoutTarStorages, false)
		case "tensors":
			s.scanPickles(p, tr, layoutTarTensors, false)
		default:
			s.member(p, tr, nil, -1, depth, hdr.Name == "pickle" || strings.HasSuffix(hdr.Name, ".pkl"))
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
