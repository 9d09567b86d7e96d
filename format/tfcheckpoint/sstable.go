package tfcheckpoint

import (
	"encoding/binary"
	"hash/crc32"
	"io"

	"github.com/refit-ml/refit"
)

// The .index file is a LevelDB-format table (tensorflow/core/lib/io/table_format.txt):
// data blocks of prefix-compressed sorted keys, an index block mapping the last key of
// each data block to its handle, and a fixed 48-byte footer.
const (
	tableMagic    = 0xdb4775248b80fb57
	footerSize    = 48
	blockTrailer  = 5 // compression type byte + masked crc32c
	maxBlockSize  = 64 << 20
	maxIndexBytes = 256 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// MaskCRC is the masking TensorFlow and LevelDB apply to stored crc32c values.
func MaskCRC(crc uint32) uint32 { return ((crc >> 15) | (crc << 17)) + 0xa282ead8 }

type blockHandle struct{ offset, size uint64 }

func readHandle(b []byte) (blockHandle, []byte, bool) {
	off, n := binary.Uvarint(b)
	if n <= 0 {
		return blockHandle{}, nil, false
	}
	size, m := binary.Uvarint(b[n:])
	if m <= 0 {
		return blockHandle{}, nil, false
	}
	return blockHandle{off, size}, b[n+m:], true
}

// table reads the entries of an SSTable in key order.
type table struct {
	r    io.ReaderAt
	size int64
}

func (t *table) readBlock(h blockHandle) ([]byte, error) {
	if h.size > maxBlockSize || h.offset > uint64(t.size) || h.size+blockTrailer > uint64(t.size)-h.offset {
		return nil, refit.Errorf("tfcheckpoint", int64(min(h.offset, uint64(t.size))), "block of %d bytes at %d is beyond the %d-byte index file", h.size, h.offset, t.size)
	}
	b := make([]byte, h.size+blockTrailer)
	if n, err := t.r.ReadAt(b, int64(h.offset)); n != len(b) {
		return nil, &refit.FormatError{Format: "tfcheckpoint", Offset: int64(h.offset), Msg: "reading block", Err: err}
	}
	data, typ := b[:h.size], b[h.size]
	want := binary.LittleEndian.Uint32(b[h.size+1:])
	if got := MaskCRC(crc32.Checksum(b[:h.size+1], castagnoli)); got != want {
		return nil, refit.Errorf("tfcheckpoint", int64(h.offset), "block checksum %#x, want %#x", got, want)
	}
	switch typ {
	case 0:
		return data, nil
	case 1:
		return nil, refit.Unsupportedf("tfcheckpoint", "snappy-compressed table block at %d", h.offset)
	default:
		return nil, refit.Errorf("tfcheckpoint", int64(h.offset), "unknown block compression %d", typ)
	}
}

// blockEntries calls fn for each key/value of a block, undoing prefix compression.
func blockEntries(b []byte, off int64, fn func(key, value []byte) error) error {
	if len(b) < 4 {
		return refit.Errorf("tfcheckpoint", off, "block of %d bytes has no restart count", len(b))
	}
	nRestarts := uint64(binary.LittleEndian.Uint32(b[len(b)-4:]))
	if nRestarts > uint64(len(b)-4)/4 {
		return refit.Errorf("tfcheckpoint", off, "%d restart points do not fit the %d-byte block", nRestarts, len(b))
	}
	body := b[:len(b)-4-4*int(nRestarts)]
	var key []byte
	for p := 0; p < len(body); {
		shared, n1 := binary.Uvarint(body[p:])
		if n1 <= 0 {
			return refit.Errorf("tfcheckpoint", off+int64(p), "bad entry header")
		}
		nonShared, n2 := binary.Uvarint(body[p+n1:])
		if n2 <= 0 {
			return refit.Errorf("tfcheckpoint", off+int64(p), "bad entry header")
		}
		valueLen, n3 := binary.Uvarint(body[p+n1+n2:])
		if n3 <= 0 {
			return refit.Errorf("tfcheckpoint", off+int64(p), "bad entry header")
		}
		q := p + n1 + n2 + n3
		rest := uint64(len(body) - q)
		if shared > uint64(len(key)) || nonShared > rest || valueLen > rest-nonShared {
			return refit.Errorf("tfcheckpoint", off+int64(p), "entry lengths (shared %d, new %d, value %d) exceed the block", shared, nonShared, valueLen)
		}
		key = append(key[:shared], body[q:q+int(nonShared)]...)
		q += int(nonShared)
		if err := fn(key, body[q:q+int(valueLen)]); err != nil {
			return err
		}
		p = q + int(valueLen)
	}
	return nil
}

// entries calls fn for every key/value of the table in order. Keys and values are
// only valid during the call.
func (t *table) entries(fn func(key, value []byte) error) error {
	if t.size < footerSize {
		return refit.Errorf("tfcheckpoint", 0, "index file of %d bytes is shorter than a table footer", t.size)
	}
	footer := make([]byte, footerSize)
	if n, err := t.r.ReadAt(footer, t.size-footerSize); n != footerSize {
		return &refit.FormatError{Format: "tfcheckpoint", Offset: t.size - footerSize, Msg: "reading footer", Err: err}
	}
	if binary.LittleEndian.Uint64(footer[40:]) != tableMagic {
		return refit.Errorf("tfcheckpoint", t.size-8, "not a table: bad magic")
	}
	_, rest, ok := readHandle(footer)
	if !ok {
		return refit.Errorf("tfcheckpoint", t.size-footerSize, "bad metaindex handle")
	}
	index, _, ok := readHandle(rest)
	if !ok {
		return refit.Errorf("tfcheckpoint", t.size-footerSize, "bad index handle")
	}
	ib, err := t.readBlock(index)
	if err != nil {
		return err
	}
	var total uint64
	var prev []byte
	started := false
	return blockEntries(ib, int64(index.offset), func(_, v []byte) error {
		h, _, ok := readHandle(v)
		if !ok {
			return refit.Errorf("tfcheckpoint", int64(index.offset), "bad data block handle")
		}
		if total += h.size; total > maxIndexBytes {
			return refit.Errorf("tfcheckpoint", int64(h.offset), "data blocks exceed %d bytes", maxIndexBytes)
		}
		db, err := t.readBlock(h)
		if err != nil {
			return err
		}
		return blockEntries(db, int64(h.offset), func(k, v []byte) error {
			if started && string(k) <= string(prev) {
				return refit.Errorf("tfcheckpoint", int64(h.offset), "keys out of order: %q after %q", k, prev)
			}
			started, prev = true, append(prev[:0], k...)
			return fn(k, v)
		})
	})
}
