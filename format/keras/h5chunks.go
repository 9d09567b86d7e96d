package keras

import (
	"compress/gzip"
	"compress/zlib"
	"io"

	"github.com/refit-ml/refit"
)

// The HDF5 library inflates each gzip chunk whole (io.ReadAll) before copying the part
// its chunk dimensions cover, so one chunk of a few megabytes could inflate to gigabytes
// whatever the dataset's shape. checkChunks finds the chunks of a dataset in its chunk
// index (a version 1 B-tree, what h5py and Keras write) and inflates each into io.Discard
// first, refusing any that inflates past its chunk's size. Memory stays constant; the
// cost is inflating the data twice.
//
// Layout (HDF5 file format specification, version 2): an object header (version 1, or
// version 2 with the "OHDR" signature) holds messages; message 0x0008 (data layout,
// versions 1 to 3) gives the chunk index address and chunk dimensions, 0x000B (filter
// pipeline) says the chunks are filtered, 0x0010 continues the header elsewhere. B-tree
// nodes ("TREE", type 1) hold keys (chunk size, filter mask, one 8-byte offset per chunk
// dimension) between child addresses; level 0 children are chunks.

const (
	maxHeaderBlocks = 64   // continuation blocks of one object header
	maxBTreeNodes   = 1e6  // nodes of one chunk index
	maxBTreeDepth   = 64   // levels of one chunk index
	chunkSlack      = 4096 // bytes a chunk may inflate beyond its dimensions (checksums)
)

// h5Reader reads little-endian fields of the sizes the superblock sets.
type h5Reader struct {
	r                      io.ReaderAt
	size                   int64
	offsetSize, lengthSize int
	chunksChecked          int // for tests
}

func (h *h5Reader) read(addr uint64, n int) ([]byte, error) {
	if n < 0 || addr > uint64(h.size) || uint64(n) > uint64(h.size)-addr {
		return nil, refit.Errorf("keras", int64(min(addr, uint64(h.size))), "HDF5 structure of %d bytes past the end of the file", n)
	}
	b := make([]byte, n)
	if _, err := h.r.ReadAt(b, int64(addr)); err != nil && err != io.EOF {
		return nil, err
	}
	return b, nil
}

// uintAt reads a little-endian unsigned field of k bytes from b at p.
func uintAt(b []byte, p, k int) uint64 {
	var v uint64
	for i := k - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[p+i])
	}
	return v
}

// undefined is the "undefined address" (all bits set) of a size.
func undefined(v uint64, k int) bool { return k == 8 && v == ^uint64(0) || k < 8 && v == 1<<(8*k)-1 }

// chunkLayout is what checkChunks needs from a dataset's object header.
type chunkLayout struct {
	btree    uint64
	dims     []uint64 // chunk dimensions; the last is the element size
	filtered bool
}

// messages calls fn with each message of the object header at addr.
func (h *h5Reader) messages(addr uint64, fn func(typ int, data []byte) error) error {
	head, err := h.read(addr, 16)
	if err != nil {
		return err
	}
	type block struct {
		addr, size uint64
		v2         bool
	}
	var blocks []block
	v2, trackOrder := false, false
	switch {
	case head[0] == 1:
		blocks = append(blocks, block{addr + 16, uint64(uintAt(head, 8, 4)), false})
	case string(head[:4]) == "OHDR" && head[4] == 2:
		v2 = true
		flags := head[5]
		trackOrder = flags&0x04 != 0
		p := uint64(6)
		if flags&0x20 != 0 {
			p += 16
		}
		if flags&0x10 != 0 {
			p += 4
		}
		k := 1 << (flags & 3)
		b, err := h.read(addr+p, k)
		if err != nil {
			return err
		}
		blocks = append(blocks, block{addr + p + uint64(k), uintAt(b, 0, k), true})
	default:
		return refit.Errorf("keras", int64(addr), "HDF5 object header of unknown version")
	}
	for i := 0; i < len(blocks); i++ {
		if i >= maxHeaderBlocks {
			return refit.Errorf("keras", int64(addr), "HDF5 object header continued more than %d times", maxHeaderBlocks)
		}
		bl := blocks[i]
		if bl.size > 1<<20 {
			return refit.Errorf("keras", int64(bl.addr), "HDF5 object header block of %d bytes", bl.size)
		}
		b, err := h.read(bl.addr, int(bl.size))
		if err != nil {
			return err
		}
		p := 0
		if bl.v2 && i > 0 {
			if len(b) < 8 || string(b[:4]) != "OCHK" {
				return refit.Errorf("keras", int64(bl.addr), "HDF5 object header continuation without OCHK")
			}
			p, b = 4, b[:len(b)-4] // signature; checksum at the end
		}
		for {
			var typ, size int
			if v2 {
				hs := 4
				if trackOrder {
					hs = 6
				}
				if p+hs > len(b) {
					break
				}
				typ, size = int(b[p]), int(uintAt(b, p+1, 2))
				p += hs
			} else {
				if p+8 > len(b) {
					break
				}
				typ, size = int(uintAt(b, p, 2)), int(uintAt(b, p+2, 2))
				p += 8
			}
			if p+size > len(b) {
				return refit.Errorf("keras", int64(bl.addr)+int64(p), "HDF5 header message of %d bytes past its block", size)
			}
			data := b[p : p+size]
			p += size
			if typ == 0x10 { // continuation
				if size < h.offsetSize+h.lengthSize {
					return refit.Errorf("keras", int64(bl.addr)+int64(p), "short HDF5 continuation message")
				}
				blocks = append(blocks, block{uintAt(data, 0, h.offsetSize), uintAt(data, h.offsetSize, h.lengthSize), v2})
				continue
			}
			if err := fn(typ, data); err != nil {
				return err
			}
		}
	}
	return nil
}

// layout reads the chunk layout of the dataset at addr; ok is false for datasets that are
// not chunked or use a layout version the library does not read through a v1 B-tree.
func (h *h5Reader) layout(addr uint64) (l chunkLayout, ok bool, err error) {
	err = h.messages(addr, func(typ int, d []byte) error {
		switch typ {
		case 0x0B:
			l.filtered = true
		case 0x08:
			if len(d) < 2 {
				return refit.Errorf("keras", int64(addr), "short HDF5 layout message")
			}
			var p, ndims int
			switch d[0] {
			case 1, 2:
				if len(d) < 8 || d[2] != 2 {
					return nil
				}
				ndims, p = int(d[1]), 8
			case 3:
				if len(d) < 3 || d[1] != 2 {
					return nil
				}
				ndims, p = int(d[2]), 3
			default:
				return nil
			}
			if ndims == 0 || ndims > 33 || p+h.offsetSize+4*ndims > len(d) {
				return refit.Errorf("keras", int64(addr), "HDF5 chunked layout with %d dimensions", ndims)
			}
			l.btree = uintAt(d, p, h.offsetSize)
			p += h.offsetSize
			for i := range ndims {
				l.dims = append(l.dims, uintAt(d, p+4*i, 4))
			}
			ok = true
		}
		return nil
	})
	return l, ok && !undefined(l.btree, h.offsetSize), err
}

// checkChunks refuses a chunk of the dataset at addr that inflates past its chunk size.
func (h *h5Reader) checkChunks(addr uint64) error {
	l, ok, err := h.layout(addr)
	if err != nil || !ok || !l.filtered {
		return err
	}
	want := uint64(1)
	for _, d := range l.dims {
		if d != 0 && want > (1<<40)/d {
			return refit.Errorf("keras", int64(addr), "HDF5 chunk dimensions %v overflow", l.dims)
		}
		want *= d
	}
	nodes := 0
	seen := map[uint64]bool{}
	var walk func(node uint64, depth int) error
	walk = func(node uint64, depth int) error {
		if seen[node] || depth > maxBTreeDepth || nodes >= maxBTreeNodes {
			return refit.Errorf("keras", int64(node), "HDF5 chunk index loops or is too large")
		}
		seen[node] = true
		nodes++
		hdr, err := h.read(node, 8+2*h.offsetSize)
		if err != nil {
			return err
		}
		if string(hdr[:4]) != "TREE" || hdr[4] != 1 {
			return refit.Errorf("keras", int64(node), "HDF5 chunk index node without TREE signature")
		}
		level, entries := hdr[5], int(uintAt(hdr, 6, 2))
		keySize := 8 + 8*len(l.dims)
		body, err := h.read(node+uint64(len(hdr)), entries*(keySize+h.offsetSize)+keySize)
		if err != nil {
			return err
		}
		for i := range entries {
			key := body[i*(keySize+h.offsetSize):]
			child := uintAt(key, keySize, h.offsetSize)
			if level > 0 {
				if err := walk(child, depth+1); err != nil {
					return err
				}
				continue
			}
			if err := h.checkChunk(child, uintAt(key, 0, 4), want); err != nil {
				return err
			}
		}
		return nil
	}
	return walk(l.btree, 0)
}

// checkChunk inflates the stored chunk at addr (stored bytes) into io.Discard when it is
// a gzip or zlib stream (what the library's deflate filter accepts) and refuses it when
// it inflates past want bytes.
func (h *h5Reader) checkChunk(addr, stored, want uint64) error {
	if addr > uint64(h.size) || stored > uint64(h.size)-addr {
		return nil // the library reports chunks outside the file
	}
	sec := io.NewSectionReader(h.r, int64(addr), int64(stored))
	var magic [2]byte
	if n, _ := sec.ReadAt(magic[:], 0); n < 2 {
		return nil
	}
	var zr io.Reader
	var err error
	switch {
	case magic[0] == 0x1f && magic[1] == 0x8b:
		zr, err = gzip.NewReader(sec)
	case magic[0]&0x0f == 8 && (uint16(magic[0])<<8|uint16(magic[1]))%31 == 0:
		zr, err = zlib.NewReader(sec)
	default:
		return nil
	}
	if err != nil {
		return nil // not a stream the library could inflate either
	}
	h.chunksChecked++
	n, _ := io.CopyN(io.Discard, zr, int64(want)+chunkSlack+1)
	if uint64(n) > want+chunkSlack {
		return refit.Errorf("keras", int64(addr), "HDF5 chunk of %d stored bytes inflates past its %d bytes", stored, want)
	}
	return nil
}
