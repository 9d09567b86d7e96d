package refit

import "sync"

// knownCRCs holds the CRC-32 (IEEE) of byte ranges of a file: declared by the file
// itself (a stored zip member's checksum, noted by its decoder) or computed by a pass
// over the bytes (a zip writer's first read). A verification that knows the checksum
// of the bytes a copy was meant to hold then reads only the copy, not the source too.
type knownCRCs struct {
	mu sync.Mutex
	m  map[[2]int64]knownCRC
}

type knownCRC struct {
	crc      uint32
	declared bool // stated by the file, not computed from its bytes
}

// NoteCRC records crc as the CRC-32 of the n bytes at off: declared by the file
// (not checked) or computed from them. A computed checksum replaces a declared one;
// a declared one never replaces a computed one. It implements tensor.CRCKeeper.
func (f *MappedFile) NoteCRC(off, n int64, crc uint32, declared bool) {
	c := &f.crcs
	c.mu.Lock()
	defer c.mu.Unlock()
	k := [2]int64{off, n}
	if old, ok := c.m[k]; ok && declared && !old.declared {
		return
	}
	if c.m == nil {
		c.m = map[[2]int64]knownCRC{}
	}
	c.m[k] = knownCRC{crc, declared}
}

// KnownCRC returns what NoteCRC recorded for exactly the n bytes at off.
func (f *MappedFile) KnownCRC(off, n int64) (crc uint32, declared, ok bool) {
	c := &f.crcs
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[[2]int64{off, n}]
	return v.crc, v.declared, ok
}
