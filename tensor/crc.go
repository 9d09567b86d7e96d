package tensor

import "io"

// CRCKeeper is implemented by files (refit.MappedFile) that keep the CRC-32 (IEEE) of
// byte ranges: declared by the file (a stored zip member's checksum) or computed by an
// earlier pass over the bytes. Verification then needs to read only the copy of such
// bytes, not the source again.
type CRCKeeper interface {
	NoteCRC(off, n int64, crc uint32, declared bool)
	KnownCRC(off, n int64) (crc uint32, declared, ok bool)
}

// outerRange finds the reader under t's (possibly nested) section readers and where
// t's bytes start in it.
func OuterRange(d Data) (outer io.ReaderAt, off int64, ok bool) {
	sr, ok := d.(*io.SectionReader)
	if !ok {
		return nil, 0, false
	}
	outer, off, _ = sr.Outer()
	for {
		inner, ok := outer.(*io.SectionReader)
		if !ok {
			break
		}
		o2, off2, _ := inner.Outer()
		outer, off = o2, off+off2
	}
	return outer, off, true
}

// KnownCRC returns the CRC-32 (IEEE) of t's bytes when the file holding them knows it
// (see CRCKeeper) without reading them; declared reports a checksum the file states
// rather than one computed from its bytes.
func (t *Tensor) KnownCRC() (crc uint32, declared, ok bool) {
	outer, off, ok := OuterRange(t.Data)
	if !ok {
		return 0, false, false
	}
	k, ok := outer.(CRCKeeper)
	if !ok {
		return 0, false, false
	}
	return k.KnownCRC(off, t.Size())
}

// NoteCRC tells the file holding t's bytes (a CRCKeeper) their CRC-32, computed by
// the caller from the bytes; other data ignores it.
func (t *Tensor) NoteCRC(crc uint32) {
	noteCRC(t.Data, t.Size(), crc, false)
}

// NoteDeclaredCRC is NoteCRC for data under d whose checksum a file states (a stored
// zip member's CRC-32 in its directory): decoders call it; it is not checked here.
func NoteDeclaredCRC(d Data, crc uint32) {
	noteCRC(d, d.Size(), crc, true)
}

func noteCRC(d Data, n int64, crc uint32, declared bool) {
	outer, off, ok := OuterRange(d)
	if !ok {
		return
	}
	if k, ok := outer.(CRCKeeper); ok {
		k.NoteCRC(off, n, crc, declared)
	}
}
