package compare

import (
	"bytes"
	"context"
	"errors"
	"hash/crc32"
	"io"
	"testing"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/tensor"
)

func TestWritten(t *testing.T) {
	ctx := context.Background()
	a := f32(t, "a", 1, 2.0001, 3)
	b := f32(t, "b", 4, 5)
	base := &refit.Model{Tensors: []*tensor.Tensor{a, b}}
	half, err := tensor.Cast(a, tensor.F16)
	if err != nil {
		t.Fatal(err)
	}
	want := &refit.Model{Tensors: []*tensor.Tensor{half, b}}
	r, err := Written(ctx, base, want, want)
	if err != nil {
		t.Fatalf("Written = %v", err)
	}
	if r.Exact != 1 || r.MaxAbs == 0 || r.MinCos >= 1 || r.Tensors[0].Types != "F32->F16" {
		t.Errorf("Written = exact %d, max %g, min cos %g, %v; want the cast tensor measured against F32", r.Exact, r.MaxAbs, r.MinCos, r.Tensors)
	}
	var me *MismatchError
	other := &refit.Model{Tensors: []*tensor.Tensor{half, f32(t, "b", 4, 6)}}
	if _, err := Written(ctx, base, want, other); !errors.As(err, &me) {
		t.Errorf("changed values: %v, want a MismatchError", err)
	}
	if _, err := Written(ctx, base, want, &refit.Model{Tensors: []*tensor.Tensor{b}}); !errors.As(err, &me) {
		t.Errorf("missing tensor: %v, want a MismatchError", err)
	}
}

// keeper is file bytes that state a CRC-32 for every range (tensor.CRCKeeper), right
// or wrong.
type keeper struct {
	b   []byte
	crc uint32
}

func (k *keeper) ReadAt(p []byte, off int64) (int, error)         { return bytes.NewReader(k.b).ReadAt(p, off) }
func (k *keeper) NoteCRC(off, n int64, crc uint32, declared bool) {}
func (k *keeper) KnownCRC(off, n int64) (uint32, bool, bool)      { return k.crc, true, true }

// TestWrittenRecordedKnownCRC checks verification against the checksum the source file
// states: it passes an output equal to the source whether that checksum is right or
// wrong (a wrong one sends it back to the source bytes), and refuses an output that
// differs from the source even when its checksum is the one the source states.
func TestWrittenRecordedKnownCRC(t *testing.T) {
	ctx := context.Background()
	src := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	other := []byte{1, 2, 3, 4, 5, 6, 7, 9}
	fromKeeper := func(k *keeper) *refit.Model {
		tt, err := tensor.New("a", tensor.U8, tensor.Shape{8}, io.NewSectionReader(k, 0, 8))
		if err != nil {
			t.Fatal(err)
		}
		return &refit.Model{Tensors: []*tensor.Tensor{tt}}
	}
	plain := func(b []byte) *refit.Model {
		tt, err := tensor.FromBytes("a", tensor.U8, tensor.Shape{8}, b)
		if err != nil {
			t.Fatal(err)
		}
		return &refit.Model{Tensors: []*tensor.Tensor{tt}}
	}
	var me *MismatchError
	for _, c := range []struct {
		name    string
		stated  uint32
		got     []byte
		wantErr bool
	}{
		{"right checksum, same bytes", crc32.ChecksumIEEE(src), src, false},
		{"wrong checksum, same bytes", crc32.ChecksumIEEE(src) + 1, src, false},
		{"right checksum, other bytes", crc32.ChecksumIEEE(src), other, true},
	} {
		want := fromKeeper(&keeper{b: src, crc: c.stated})
		_, err := WrittenRecorded(ctx, want, want, plain(c.got), nil)
		if c.wantErr && !errors.As(err, &me) {
			t.Errorf("%s: %v, want a MismatchError", c.name, err)
		}
		if !c.wantErr && err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}
