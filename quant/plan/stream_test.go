package plan

import (
	"bytes"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/gguf"

	"github.com/refit-ml/refit/quant/ggml"
	"github.com/refit-ml/refit/tensor"
)

// TestQuantDataSlabs checks that slab-by-slab quantization (small slabs, per-expert
// importance vectors, sequential and random reads) gives ggml.Quantize's bytes.
func TestQuantDataSlabs(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	v := make([]float32, 4*3*256)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	src, err := tensor.NewF32("blk.0.ffn_up_exps.weight", tensor.Shape{4, 3, 256}, v)
	if err != nil {
		t.Fatal(err)
	}
	f16, err := tensor.Cast(src, tensor.F16)
	if err != nil {
		t.Fatal(err)
	}
	im := make([]float32, 4*256)
	for i := range im {
		im[i] = float32(rng.ExpFloat64())
	}
	for _, tc := range []struct {
		name string
		src  *tensor.Tensor
		to   tensor.DType
		im   []float32
	}{
		{"Q4_K", src, tensor.Q4_K, nil}, {"Q4_K+imatrix", src, tensor.Q4_K, im},
		{"IQ4_XS+imatrix from F16", f16, tensor.IQ4_XS, im}, {"Q8_0", f16, tensor.Q8_0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref, err := ggml.Quantize(tc.src, tc.to, tc.im, 0)
			if err != nil {
				t.Fatal(err)
			}
			want, err := ref.Bytes()
			if err != nil {
				t.Fatal(err)
			}
			q, err := newQuantData(tc.src, tc.to, tc.im, 0)
			if err != nil {
				t.Fatal(err)
			}
			q.slabRows = 2 // slabs that straddle nothing: expert boundaries cut them
			got, err := io.ReadAll(io.NewSectionReader(q, 0, q.Size()))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("sequential read differs from ggml.Quantize")
			}
			for range 20 {
				off := rng.Int64N(q.Size())
				n := rng.Int64N(q.Size()-off) + 1
				p := make([]byte, n)
				if _, err := q.ReadAt(p, off); err != nil && err != io.EOF {
					t.Fatal(err)
				}
				if !bytes.Equal(p, want[off:off+n]) {
					t.Fatalf("ReadAt(%d, %d) differs", n, off)
				}
			}
		})
	}
	if _, err := newQuantData(src, tensor.Q4_K, make([]float32, 100), 0); err == nil {
		t.Errorf("newQuantData accepted an importance matrix of 100 values for rows of 256")
	}
}

// TestFileBacked checks which sources are read by the groups in parallel: tensors of a
// GGUF file opened with refit.OpenMapped, and not lazy or in-memory tensors.
func TestFileBacked(t *testing.T) {
	m := tinyLlama(t, 1, 32, 64)
	path := filepath.Join(t.TempDir(), "m.gguf")
	var buf bytes.Buffer
	if err := gguf.Encode(&buf, m, nil); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := refit.OpenMapped(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := gguf.Decode(f, f.Size(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !fileBacked(got.Tensors[0].Data) {
		t.Errorf("a tensor of a mapped GGUF file is not file-backed")
	}
	if fileBacked(m.Tensors[0].Data) {
		t.Errorf("an in-memory tensor is file-backed")
	}
	lazy := tensor.NewLazy(4, func() ([]byte, error) { return make([]byte, 4), nil })
	if fileBacked(lazy) {
		t.Errorf("a lazy tensor is file-backed")
	}
}
