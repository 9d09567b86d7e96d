package prune

import (
	"bytes"
	"errors"
	"math"
	"path/filepath"
	"testing"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/pytorch"
	"github.com/refit-ml/refit/format/safetensors"
	"github.com/refit-ml/refit/tensor"
)

// encodeST writes m as safetensors and decodes it back.
func encodeST(t testing.TB, m *refit.Model) ([]byte, *refit.Model) {
	t.Helper()
	var buf bytes.Buffer
	if err := safetensors.Encode(&buf, m, nil); err != nil {
		t.Fatal(err)
	}
	back, err := safetensors.Decode(bytes.NewReader(buf.Bytes()), int64(buf.Len()), nil)
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), back
}

func sameTensors(t *testing.T, got, want *refit.Model) {
	t.Helper()
	if len(got.Tensors) != len(want.Tensors) {
		t.Fatalf("%d tensors, want %d", len(got.Tensors), len(want.Tensors))
	}
	for _, w := range want.Tensors {
		g := got.Tensor(w.Name)
		if g == nil {
			t.Errorf("tensor %q missing", w.Name)
			continue
		}
		gb, err1 := g.Bytes()
		wb, err2 := w.Bytes()
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if g.DType != w.DType || !g.Shape.Equal(w.Shape) || !bytes.Equal(gb, wb) {
			t.Errorf("tensor %q: got %s%v (%d bytes), want %s%v (%d bytes), bytes equal %v",
				w.Name, g.DType, g.Shape, len(gb), w.DType, w.Shape, len(wb), bytes.Equal(gb, wb))
		}
	}
}

func mnistPT(t *testing.T) *refit.Model {
	t.Helper()
	m, err := refit.Open(filepath.Join("..", "testdata", "models", "mnist", "mnist_cnn.pt"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

var _ = pytorch.Decode // registers the PyTorch format for refit.Open

// TestSparseRoundTrip prunes the MNIST checkpoint at several sparsities, writes the
// bitmask+values layout as safetensors, and checks that decoding restores the pruned
// tensors bit for bit and that the layout shrinks the file as the arithmetic says.
func TestSparseRoundTrip(t *testing.T) {
	src := mnistPT(t)
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"magnitude30", Options{Method: Magnitude, Sparsity: 0.3}},
		{"global50", Options{Method: Global, Sparsity: 0.5}},
		{"magnitude90", Options{Method: Magnitude, Sparsity: 0.9}},
		{"nm24", Options{Method: NM, N: 2, M: 4, Exclude: mustRe(t, "conv1")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pruned, _, err := Weights(src, &tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			pruned.Format = "safetensors"
			denseFile, _ := encodeST(t, pruned)
			sp, rep, err := EncodeSparse(pruned)
			if err != nil {
				t.Fatal(err)
			}
			sparseFile, back := encodeST(t, sp)
			if !IsSparse(back) {
				t.Fatalf("decoded file lacks %s metadata", SparseKey)
			}
			dense, err := DecodeSparse(back)
			if err != nil {
				t.Fatal(err)
			}
			sameTensors(t, dense, pruned)
			if _, ok := dense.Metadata.Get(SparseKey); ok {
				t.Errorf("DecodeSparse kept %s", SparseKey)
			}
			// Expected data size: per encoded tensor ceil(n/8) + nonzeros*element size.
			var want int64
			for _, tn := range pruned.Tensors {
				f, _ := tn.Float32s()
				n := int64(len(f))
				s := (n+7)/8 + int64(tn.DType.TypeSize())*(n-countZeros(f))
				if s >= tn.Size() {
					s = tn.Size()
				}
				want += s
			}
			if rep.SparseBytes != want {
				t.Errorf("SparseBytes = %d, want %d", rep.SparseBytes, want)
			}
			if len(sparseFile) >= len(denseFile) {
				t.Errorf("sparse file %d bytes, dense %d: no saving", len(sparseFile), len(denseFile))
			}
			t.Logf("%s: tensor data %d -> %d bytes; safetensors file %d -> %d bytes (%.1f%%)", tc.name,
				rep.DenseBytes, rep.SparseBytes, len(denseFile), len(sparseFile), 100*float64(len(sparseFile))/float64(len(denseFile)))
		})
	}
}

// TestSparseKernels checks the bit order, padding, -0 and dtypes of other sizes.
func TestSparseKernels(t *testing.T) {
	negZero := math.Float32frombits(1 << 31)
	f := []float32{0, 1.5, 0, 0, negZero, 0, 0, 0, 2, 0}
	src := tensor.EncodeFloat32(nil, f)
	mask := make([]byte, 2)
	SparseMaskKernel(mask, src, 4)
	if mask[0] != 0b0001_0010 || mask[1] != 0b01 {
		t.Errorf("mask = %08b %08b, want 00010010 00000001", mask[0], mask[1])
	}
	vals := make([]byte, 12)
	if k := SparseValuesKernel(vals, src, 4); k != 3 {
		t.Fatalf("SparseValuesKernel stored %d, want 3", k)
	}
	back := make([]byte, len(src))
	if !ScatterKernel(back, mask, vals, 4) || !bytes.Equal(back, src) {
		t.Errorf("ScatterKernel = %v, want %v", back, src)
	}
	if ScatterKernel(back, mask, vals[:8], 4) {
		t.Error("ScatterKernel with too few values reported success")
	}
	if ScatterKernel(back, mask[:1], vals, 4) {
		t.Error("ScatterKernel with a short mask reported success")
	}
	for _, d := range []tensor.DType{tensor.F16, tensor.BF16, tensor.F64, tensor.I8, tensor.I64} {
		t.Run(d.String(), func(t *testing.T) {
			n := 37
			b := make([]byte, n*d.TypeSize())
			for i := 0; i < n; i += 3 {
				b[i*d.TypeSize()+d.TypeSize()-1] = byte(i + 1)
			}
			tn, err := tensor.FromBytes("w", d, tensor.Shape{int64(n)}, b)
			if err != nil {
				t.Fatal(err)
			}
			m := &refit.Model{Tensors: []*tensor.Tensor{tn}}
			sp, rep, err := EncodeSparse(m)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Tensors) != 1 || rep.Tensors[0].Stored != 13 {
				t.Fatalf("report %+v, want one tensor with 13 stored", rep.Tensors)
			}
			_, back := encodeST(t, sp)
			dense, err := DecodeSparse(back)
			if err != nil {
				t.Fatal(err)
			}
			sameTensors(t, dense, m)
		})
	}
}

// TestSparseKeepsDense: tensors the layout would not shrink stay as they are, and
// a model with nothing to encode carries no marker.
func TestSparseKeepsDense(t *testing.T) {
	full, _ := tensor.NewF32("full", tensor.Shape{4, 4}, []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	m := &refit.Model{Tensors: []*tensor.Tensor{full}}
	sp, rep, err := EncodeSparse(m)
	if err != nil {
		t.Fatal(err)
	}
	if IsSparse(sp) || len(rep.Tensors) != 0 || sp.Tensors[0] != full {
		t.Errorf("dense tensor was encoded: %+v", rep)
	}
	if _, err := DecodeSparse(sp); !errors.Is(err, refit.ErrFormat) {
		t.Errorf("DecodeSparse(unmarked) = %v, want ErrFormat", err)
	}
}

func TestEncodeSparseBadInput(t *testing.T) {
	zero, _ := tensor.NewF32("w", tensor.Shape{16}, make([]float32, 16))
	clash, _ := tensor.NewF32("w.mask", tensor.Shape{1}, []float32{1})
	m := &refit.Model{Tensors: []*tensor.Tensor{zero, clash}}
	if _, _, err := EncodeSparse(m); !errors.Is(err, ErrOptions) {
		t.Errorf("EncodeSparse(name clash) = %v, want ErrOptions", err)
	}
	again := &refit.Model{Tensors: []*tensor.Tensor{zero}}
	again.Metadata.Set(SparseKey, SparseBitmask)
	if _, _, err := EncodeSparse(again); !errors.Is(err, ErrOptions) {
		t.Errorf("EncodeSparse(already sparse) = %v, want ErrOptions", err)
	}
}

// TestDecodeSparseMalformed: every broken invariant is ErrFormat, never a panic.
func TestDecodeSparseMalformed(t *testing.T) {
	mk := func(shape string, mask []byte, maskShape tensor.Shape, values []float32, extra ...*tensor.Tensor) *refit.Model {
		mt, err := tensor.FromBytes("w.mask", tensor.U8, maskShape, mask)
		if err != nil {
			t.Fatal(err)
		}
		vt, err := tensor.NewF32("w.values", tensor.Shape{int64(len(values))}, values)
		if err != nil {
			t.Fatal(err)
		}
		m := &refit.Model{Tensors: append([]*tensor.Tensor{mt, vt}, extra...)}
		m.Metadata.Set(SparseKey, SparseBitmask)
		if shape != "" {
			m.Metadata.Set(SparseShapeKey+"w", shape)
		}
		return m
	}
	dense, _ := tensor.NewF32("w", tensor.Shape{1}, []float32{1})
	for _, tc := range []struct {
		name string
		m    *refit.Model
	}{
		{"no shape keys", mk("", []byte{3}, tensor.Shape{1}, []float32{1, 2})},
		{"shape not json", mk("[2,", []byte{3}, tensor.Shape{1}, []float32{1, 2})},
		{"negative dim", mk("[-8]", []byte{3}, tensor.Shape{1}, []float32{1, 2})},
		{"huge shape", mk("[4294967296,4294967296,4294967296]", []byte{3}, tensor.Shape{1}, []float32{1, 2})},
		{"mask too short", mk("[16]", []byte{3}, tensor.Shape{1}, []float32{1, 2})},
		{"too few values", mk("[8]", []byte{7}, tensor.Shape{1}, []float32{1, 2})},
		{"too many values", mk("[8]", []byte{1}, tensor.Shape{1}, []float32{1, 2})},
		{"padding bits", mk("[4]", []byte{0x13}, tensor.Shape{1}, []float32{1, 2, 3})},
		{"also dense", mk("[8]", []byte{3}, tensor.Shape{1}, []float32{1, 2}, dense)},
		{"missing values", func() *refit.Model {
			m := mk("[8]", []byte{3}, tensor.Shape{1}, []float32{1, 2})
			m.Tensors = m.Tensors[:1]
			return m
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := DecodeSparse(tc.m); !errors.Is(err, refit.ErrFormat) {
				t.Errorf("DecodeSparse = %v, want ErrFormat", err)
			}
		})
	}
}

// FuzzDecodeSparse decodes arbitrary safetensors files and, when they hold a valid
// layout, checks that encoding the dense result again gives back the same tensors.
func FuzzDecodeSparse(f *testing.F) {
	w, _ := tensor.NewF32("w", tensor.Shape{3, 5}, []float32{0, 1, 0, 0, 2, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0})
	sp, _, err := EncodeSparse(&refit.Model{Tensors: []*tensor.Tensor{w}})
	if err != nil {
		f.Fatal(err)
	}
	seed, _ := encodeST(f, sp)
	f.Add(seed)
	f.Add(seed[:len(seed)-3])
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := safetensors.Decode(bytes.NewReader(b), int64(len(b)), nil)
		if err != nil {
			return
		}
		d, err := DecodeSparse(m)
		if err != nil {
			return
		}
		for _, tn := range d.Tensors {
			if _, err := tn.Bytes(); err != nil {
				t.Fatalf("decoded tensor %q unreadable: %v", tn.Name, err)
			}
		}
		again, _, err := EncodeSparse(d)
		if err != nil {
			return // e.g. a dense tensor named like a mask
		}
		d2, err := DecodeSparse(again)
		if err != nil {
			if IsSparse(again) {
				t.Fatalf("re-encoded layout does not decode: %v", err)
			}
			return
		}
		for _, tn := range d2.Tensors {
			want := d.Tensor(tn.Name)
			gb, _ := tn.Bytes()
			wb, _ := want.Bytes()
			if want == nil || !bytes.Equal(gb, wb) {
				t.Fatalf("tensor %q changed in a round trip", tn.Name)
			}
		}
	})
}
