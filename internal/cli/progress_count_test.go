package cli

import (
	"bytes"
	"io"
	"testing"

	"github.com/vbauerster/mpb/v8"

	"github.com/refit-ml/refit/tensor"
)

// scannerAt is a ReaderAt over bytes that also hands out ranges in place, as a
// mapped file does.
type scannerAt struct {
	*bytes.Reader
	scans *int
}

func (s scannerAt) Scan(off, n int64, fn func([]byte) error) error {
	*s.scans++
	b := make([]byte, n)
	if _, err := s.ReadAt(b, off); err != nil {
		return err
	}
	return fn(b)
}

// TestWatchReads: tensors re-pointed by watchReads read the same bytes, and the bar
// counts every byte once, for data in a mapped file (scanned in place), under nested
// section readers, and plain.
func TestWatchReads(t *testing.T) {
	file := []byte("0123456789abcdefghijklmnopqrstuv")
	var scans int
	mapped := scannerAt{bytes.NewReader(file), &scans}
	nested := io.NewSectionReader(io.NewSectionReader(mapped, 4, 20), 2, 8) // file[6:14]
	ts := []*tensor.Tensor{
		{Name: "mapped", DType: tensor.U8, Shape: tensor.Shape{8}, Data: io.NewSectionReader(mapped, 0, 8)},
		{Name: "nested", DType: tensor.U8, Shape: tensor.Shape{8}, Data: nested},
		{Name: "plain", DType: tensor.U8, Shape: tensor.Shape{4}, Data: bytes.NewReader([]byte("wxyz"))},
	}
	want := [][]byte{file[:8], file[6:14], []byte("wxyz")}
	p := mpb.New(mpb.WithOutput(io.Discard))
	bar := &progress{p: p, bar: p.AddBar(20)}
	watchReads(ts, bar)
	for i, tt := range ts {
		var got []byte
		if err := tt.Scan(func(b []byte) error { got = append(got, b...); return nil }); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want[i]) {
			t.Errorf("%s: read %q, want %q", tt.Name, got, want[i])
		}
	}
	if scans != 2 {
		t.Errorf("the mapped file was scanned in place %d times, want 2 (its tensors lost the fast path)", scans)
	}
	if n := bar.bar.Current(); n != 20 {
		t.Errorf("bar counted %d bytes, want 20", n)
	}
	bar.done()
}
