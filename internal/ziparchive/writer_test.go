package ziparchive

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestWriterZip64 writes a member of 4 GiB + 3 bytes as a hole in a sparse file
// (so the test needs little disk), then a small member beyond 4 GiB, and checks that
// archive/zip reads sizes, offsets, CRCs and alignment back: the zip64 extra fields
// of the local header and the central directory, and the zip64 end records.
// dataAlignment is torch's, as format/pytorch writes.
const dataAlignment = 64

func TestWriterZip64(t *testing.T) {
	if testing.Short() {
		t.Skip("hashes 4 GiB")
	}
	p := filepath.Join(t.TempDir(), "big.zip")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const big = 1<<32 + 3
	z := NewWriter(f)
	z.Align, z.PaddingID = dataAlignment, 0x4246
	if err := z.Bytes("archive/data.pkl", []byte("pickle")); err != nil {
		t.Fatal(err)
	}
	zeros := make([]byte, 1<<20)
	crcOf := func(w io.Writer) error {
		for left := int64(big); left > 0; left -= int64(len(zeros)) {
			if _, err := w.Write(zeros[:min(left, int64(len(zeros)))]); err != nil {
				return err
			}
		}
		return nil
	}
	hole := func(w io.Writer) (int64, error) {
		_, err := w.(*os.File).Seek(big, io.SeekCurrent)
		return big, err
	}
	h := crc32.NewIEEE()
	if err := crcOf(h); err != nil {
		t.Fatal(err)
	}
	if err := z.Reread("archive/data/0", big, h.Sum32(), hole); err != nil {
		t.Fatal(err)
	}
	if err := z.Stream("archive/data/1", func(w io.Writer) (int64, error) {
		n, err := w.Write([]byte("after 4 GiB"))
		return int64(n), err
	}); err != nil {
		t.Fatal(err)
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(f, st.Size())
	if err != nil {
		t.Fatalf("zip.NewReader: %v", err)
	}
	want := []struct {
		name string
		size uint64
		crc  uint32
	}{
		{"archive/data.pkl", 6, crc32.ChecksumIEEE([]byte("pickle"))},
		{"archive/data/0", big, h.Sum32()},
		{"archive/data/1", 11, crc32.ChecksumIEEE([]byte("after 4 GiB"))},
	}
	if len(zr.File) != len(want) {
		t.Fatalf("%d members, want %d", len(zr.File), len(want))
	}
	for i, w := range want {
		zf := zr.File[i]
		if zf.Name != w.name || zf.UncompressedSize64 != w.size || zf.CRC32 != w.crc || zf.Method != zip.Store {
			t.Errorf("member %d = %s size %d crc %#x method %d, want %s size %d crc %#x stored",
				i, zf.Name, zf.UncompressedSize64, zf.CRC32, zf.Method, w.name, w.size, w.crc)
		}
		off, err := zf.DataOffset()
		if err != nil || off%dataAlignment != 0 {
			t.Errorf("member %s data at %d (%v), want a multiple of %d", zf.Name, off, err, dataAlignment)
		}
	}
	// Refit's own reader (the one Decode uses) agrees.
	rz, err := NewReader(f, st.Size())
	if err != nil {
		t.Fatalf("ziparchive.NewReader: %v", err)
	}
	m, err := rz.Lookup("archive/data/0")
	if err != nil {
		t.Fatalf("ziparchive Lookup: %v", err)
	}
	if sr, err := rz.OpenRaw(m); err != nil || sr.Size() != big {
		t.Errorf("ziparchive: member of 4 GiB opens as %v, %v", sr, err)
	}
	rc, err := zr.File[2].Open()
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(rc) // checks the CRC of the member past 4 GiB
	if err != nil || string(b) != "after 4 GiB" {
		t.Errorf("member past 4 GiB reads %q, %v", b, err)
	}
}

// TestRereadAtPhase checks that RereadAt places member data at the asked offset
// modulo PageSize (within Align), and that archive/zip reads the padded members.
func TestRereadAtPhase(t *testing.T) {
	for _, c := range []struct {
		align, phase, want int64 // want: data offset mod PageSize, or -1 for Align's
	}{
		{0, 1000, 1000},
		{0, 0, 0},
		{64, 128, 128},
		{64, 100, -1},
		{64, -1, -1},
	} {
		var buf bytes.Buffer
		z := NewWriter(&buf)
		z.Align, z.PaddingID = c.align, 0x4246
		data := bytes.Repeat([]byte("some member data"), phaseMinSize/16)
		if err := z.Bytes("first", []byte("x")); err != nil {
			t.Fatal(err)
		}
		writeTo := func(w io.Writer) (int64, error) { n, err := w.Write(data); return int64(n), err }
		if err := z.RereadAt("second", int64(len(data)), c.phase, crc32.ChecksumIEEE(data), writeTo); err != nil {
			t.Fatal(err)
		}
		small := []byte("a short member")
		if err := z.RereadAt("third", int64(len(small)), c.phase, crc32.ChecksumIEEE(small),
			func(w io.Writer) (int64, error) { n, err := w.Write(small); return int64(n), err }); err != nil {
			t.Fatal(err)
		}
		if err := z.Close(); err != nil {
			t.Fatal(err)
		}
		zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
		if err != nil {
			t.Fatalf("align %d phase %d: zip.NewReader: %v", c.align, c.phase, err)
		}
		// A short member is not padded to a phase: its local header follows the
		// second member's data with at most Align's padding.
		second, _ := zr.File[1].DataOffset()
		third, err := zr.File[2].DataOffset()
		if gap := third - (second + int64(len(data))); err != nil || gap > 30+int64(len("third"))+4+max(c.align, 1) {
			t.Errorf("align %d phase %d: short member's data %d bytes after the previous member (%v), want no phase padding", c.align, c.phase, gap, err)
		}
		f := zr.File[1]
		off, err := f.DataOffset()
		if err != nil {
			t.Fatal(err)
		}
		if c.want >= 0 && off%PageSize != c.want {
			t.Errorf("align %d phase %d: data at %d (%d mod %d), want %d", c.align, c.phase, off, off%PageSize, PageSize, c.want)
		}
		if c.align > 1 && off%c.align != 0 {
			t.Errorf("align %d phase %d: data at %d, not aligned", c.align, c.phase, off)
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc) // checks the CRC
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("align %d phase %d: member reads %q, %v", c.align, c.phase, got, err)
		}
	}
}

// patchFile is a destination that can rewrite what it was given (a patcher), as a
// file does; bytes already in buf are a prefix written before the archive.
type patchFile struct {
	buf []byte
}

func (p *patchFile) Write(b []byte) (int, error) { p.buf = append(p.buf, b...); return len(b), nil }
func (p *patchFile) Offset() (int64, error)      { return int64(len(p.buf)), nil }
func (p *patchFile) WriteAt(b []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(b)) > int64(len(p.buf)) {
		return 0, io.ErrShortWrite
	}
	return copy(p.buf[off:], b), nil
}

// TestCopyPatchesCRC checks that Copy writes the same archive whether it fills in the
// CRC-32 after the data (a destination with WriteAt, also one that starts after a
// prefix) or asks for it first (a plain writer), that the patched writer asks for the
// CRC only once the data is written, and that the members read back with their CRCs.
func TestCopyPatchesCRC(t *testing.T) {
	data := bytes.Repeat([]byte("copied member "), phaseMinSize/7)
	small := []byte("short")
	build := func(w io.Writer) []string {
		var order []string
		z := NewWriter(w)
		z.Align, z.PaddingID = 64, 0x4246
		if err := z.Bytes("first", []byte("x")); err != nil {
			t.Fatal(err)
		}
		for _, m := range []struct {
			name  string
			b     []byte
			phase int64
		}{{"big", data, 192}, {"small", small, -1}} {
			crc := func() (uint32, error) { order = append(order, "crc "+m.name); return crc32.ChecksumIEEE(m.b), nil }
			writeTo := func(w io.Writer) (int64, error) {
				order = append(order, "data "+m.name)
				n, err := w.Write(m.b)
				return int64(n), err
			}
			if err := z.Copy(m.name, int64(len(m.b)), m.phase, crc, writeTo); err != nil {
				t.Fatal(err)
			}
		}
		if err := z.Close(); err != nil {
			t.Fatal(err)
		}
		return order
	}
	var plain bytes.Buffer
	plainOrder := build(&plain)
	patched := &patchFile{}
	patchedOrder := build(patched)
	prefix := []byte("0123456789")
	shifted := &patchFile{buf: append([]byte(nil), prefix...)}
	build(shifted)
	if !bytes.Equal(plain.Bytes(), patched.buf) {
		t.Errorf("Copy through WriteAt wrote %d bytes, unlike the %d it writes with the CRC first", len(patched.buf), plain.Len())
	}
	if !bytes.Equal(shifted.buf[len(prefix):], plain.Bytes()) || !bytes.Equal(shifted.buf[:len(prefix)], prefix) {
		t.Errorf("Copy after a %d-byte prefix patched the wrong bytes", len(prefix))
	}
	if want := "[crc big data big crc small data small]"; fmt.Sprint(plainOrder) != want {
		t.Errorf("plain writer: order %v, want %s", plainOrder, want)
	}
	if want := "[data big crc big data small crc small]"; fmt.Sprint(patchedOrder) != want {
		t.Errorf("patching writer: order %v, want %s", patchedOrder, want)
	}
	zr, err := zip.NewReader(bytes.NewReader(patched.buf), int64(len(patched.buf)))
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range [][]byte{[]byte("x"), data, small} {
		rc, err := zr.File[i].Open()
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc) // checks the CRC, which the local header carries too
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("member %s reads %d bytes, %v", zr.File[i].Name, len(got), err)
		}
		if crc := binary.LittleEndian.Uint32(patched.buf[mustLocal(t, zr.File[i])+14:]); crc != crc32.ChecksumIEEE(want) {
			t.Errorf("member %s: local header CRC %08x, want %08x", zr.File[i].Name, crc, crc32.ChecksumIEEE(want))
		}
	}
}

// mustLocal returns the offset of f's local header.
func mustLocal(t *testing.T, f *zip.File) int64 {
	t.Helper()
	off, err := f.DataOffset()
	if err != nil {
		t.Fatal(err)
	}
	return off - 30 - int64(len(f.Name)) - int64(len(f.Extra))
}
