package ggml

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/refit-ml/refit/tensor"
)

func readF32File(t *testing.T, path string) []float32 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b)%4 != 0 {
		t.Fatalf("%s: %d bytes is not a whole number of float32", path, len(b))
	}
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

// firstDiff describes the first block where got and want differ, or returns "".
func firstDiff(d tensor.DType, got, want []byte) string {
	if len(got) != len(want) {
		return fmt.Sprintf("got %d bytes, want %d", len(got), len(want))
	}
	ts := d.TypeSize()
	for i := range got {
		if got[i] != want[i] {
			blk := i / ts
			lo, hi := blk*ts, min(len(got), (blk+1)*ts)
			return fmt.Sprintf("first difference at byte %d (block %d, byte %d of it):\n got  % x\n want % x",
				i, blk, i-lo, got[lo:hi], want[lo:hi])
		}
	}
	return ""
}

// TestGolden checks every type against bytes ggml_quantize_chunk produced for the
// committed input (testdata/gen/quant_ggml.py golden), with and without an importance matrix.
func TestGolden(t *testing.T) {
	dir := filepath.Join("testdata", "golden")
	x := readF32File(t, filepath.Join(dir, "input.f32"))
	im := readF32File(t, filepath.Join(dir, "imatrix.f32"))
	rowLen := len(im)
	nrows := len(x) / rowLen
	for _, d := range Types() {
		for _, variant := range []string{"", ".imatrix"} {
			t.Run(d.String()+variant, func(t *testing.T) {
				if variant == "" && RequiresImatrix(d) {
					t.Skipf("ggml refuses %v without an importance matrix", d)
				}
				want, err := os.ReadFile(filepath.Join(dir, d.String()+variant+".q"))
				if err != nil {
					t.Fatal(err)
				}
				var w []float32
				if variant != "" {
					w = im
				}
				rs, err := RowSize(d, rowLen)
				if err != nil {
					t.Fatal(err)
				}
				got := make([]byte, nrows*rs)
				if err := QuantizeRows(d, got, x, nrows, rowLen, w, 0); err != nil {
					t.Fatalf("QuantizeRows(%v) = %v", d, err)
				}
				if msg := firstDiff(d, got, want); msg != "" {
					t.Errorf("QuantizeRows(%v%s) differs from ggml: %s", d, variant, msg)
				}
			})
		}
	}
}
