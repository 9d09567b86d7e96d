package compare

import (
	"bytes"
	"context"
	"errors"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/tensor"
)

// TestWrittenRecorded checks that the one-pass verification accepts a faithful output,
// reports the cast's error as measured while writing (the figures of Tensors), and
// refuses changed bytes, a changed type and a missing tensor.
func TestWrittenRecorded(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(5, 6))
	v := make([]float32, 3*floatChunk+11)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	a, err := tensor.NewF32("a", tensor.Shape{int64(len(v))}, v)
	if err != nil {
		t.Fatal(err)
	}
	b := f32(t, "b", 4, 5)
	base := &refit.Model{Tensors: []*tensor.Tensor{a, b}}
	rec := NewRecord()
	want, err := refit.CastFloatsWatched(&refit.Model{Tensors: []*tensor.Tensor{a}}, tensor.F16, rec.Watcher)
	if err != nil {
		t.Fatal(err)
	}
	want.Tensors = append(want.Tensors, b)
	// "Write" the model: the cast tensor's WriteTo feeds the record.
	var written bytes.Buffer
	if _, err := want.Tensors[0].WriteTo(&written); err != nil {
		t.Fatal(err)
	}
	half := &tensor.Tensor{Name: "a", DType: tensor.F16, Shape: a.Shape, Data: bytes.NewReader(written.Bytes())}
	got := &refit.Model{Tensors: []*tensor.Tensor{half, b}}
	r, err := WrittenRecorded(ctx, base, want, got, rec)
	if err != nil {
		t.Fatalf("WrittenRecorded = %v", err)
	}
	full, err := Tensors(a, half)
	if err != nil {
		t.Fatal(err)
	}
	d := r.Tensors[0]
	if r.Exact != 1 || d.Exact || d.MaxAbs != full.MaxAbs || d.MaxRel != full.MaxRel || d.Types != "F32->F16" {
		t.Errorf("WrittenRecorded = exact %d, %+v; want the figures of Tensors: %+v", r.Exact, d, full)
	}
	if diff := d.Cosine - full.Cosine; diff > 1e-12 || diff < -1e-12 {
		t.Errorf("cosine %v, want %v", d.Cosine, full.Cosine)
	}
	var me *MismatchError
	flipped := bytes.Clone(written.Bytes())
	flipped[100] ^= 1
	bad := &tensor.Tensor{Name: "a", DType: tensor.F16, Shape: a.Shape, Data: bytes.NewReader(flipped)}
	for name, g := range map[string]*refit.Model{
		"flipped bit":   {Tensors: []*tensor.Tensor{bad, b}},
		"changed value": {Tensors: []*tensor.Tensor{half, f32(t, "b", 4, 6)}},
		"missing":       {Tensors: []*tensor.Tensor{half}},
		"changed shape": {Tensors: []*tensor.Tensor{half, f32(t, "b", 4, 5, 6)}},
	} {
		if _, err := WrittenRecorded(ctx, base, want, g, rec); !errors.As(err, &me) {
			t.Errorf("%s: WrittenRecorded = %v, want a MismatchError", name, err)
		}
	}
	// Without a record the cast is computed again and compared.
	if _, err := WrittenRecorded(ctx, base, want, got, nil); err != nil {
		t.Errorf("WrittenRecorded(no record) = %v", err)
	}
	if _, err := WrittenRecorded(ctx, base, want, &refit.Model{Tensors: []*tensor.Tensor{bad, b}}, nil); !errors.As(err, &me) {
		t.Errorf("WrittenRecorded(no record, flipped bit) = %v, want a MismatchError", err)
	}
}

// TestCRCMapped checks that the CRC of a tensor over a mapped file, read through the
// mapping, is the CRC of its bytes.
func TestCRCMapped(t *testing.T) {
	data := make([]byte, 20<<20+123)
	rng := rand.New(rand.NewPCG(7, 8))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	path := filepath.Join(t.TempDir(), "x.bin")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := refit.OpenMapped(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	off, n := int64(4097), int64(18<<20+5)
	tt := &tensor.Tensor{Name: "x", DType: tensor.U8, Shape: tensor.Shape{n},
		Data: io.NewSectionReader(io.NewSectionReader(f, 1, f.Size()-1), off-1, n)}
	got, err := CRC(context.Background(), tt)
	if err != nil {
		t.Fatal(err)
	}
	if want := crc32.ChecksumIEEE(data[off : off+n]); got != want {
		t.Errorf("CRC = %08x, want %08x", got, want)
	}
}
