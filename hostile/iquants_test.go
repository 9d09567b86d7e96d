package hostile

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/refit-ml/refit/tensor"
)

// Attack class iquants: values ggml's codebook quantizers cannot place (NaN, infinities,
// squares that overflow float32) and very low-bit file types without an importance
// matrix. ggml aborts the whole process on the first; llama-quantize refuses the second.
// refit quantize must refuse both with an error and write no output. The files are a few
// KB, built at test time.

func TestIQuantsRefused(t *testing.T) {
	cases := []struct {
		name, ftype string
		bad         float32
		ok          bool // the control: the same file with finite values quantizes
	}{
		{"control IQ3_S", "IQ3_S", 0.5, true},
		{"NaN to IQ3_S", "IQ3_S", float32(math.NaN()), false},
		{"Inf to IQ3_M", "IQ3_M", float32(math.Inf(-1)), false},
		{"overflowing square to IQ3_S", "IQ3_S", 3e38, false},
		{"IQ2_XXS without imatrix", "IQ2_XXS", 0.5, false},
		{"IQ1_M without imatrix", "IQ1_M", 0.5, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			in := filepath.Join(dir, "m.gguf")
			var ts []*tensor.Tensor
			for _, name := range []string{"blk.0.attn_q.weight", "blk.0.ffn_up.weight", "blk.0.ffn_down.weight"} {
				w := hostileTensor(t, name, tensor.F32, 256, 256)
				b, err := w.Bytes()
				if err != nil {
					t.Fatal(err)
				}
				for i := 0; i < len(b); i += 4 {
					binary.LittleEndian.PutUint32(b[i:], math.Float32bits(float32(i%13)*0.01))
				}
				binary.LittleEndian.PutUint32(b[4*300:], math.Float32bits(tc.bad))
				if w, err = tensor.FromBytes(name, tensor.F32, tensor.Shape{256, 256}, b); err != nil {
					t.Fatal(err)
				}
				ts = append(ts, w)
			}
			writeGGUFModel(t, in, "llama", nil, ts...)
			out := filepath.Join(dir, "q.gguf")
			r := runRefit(t, limits{}, "quantize", in, out, "--type", tc.ftype)
			if tc.ok {
				if r.code != 0 {
					t.Fatalf("refit quantize --type %s of a clean file failed\n%v", tc.ftype, r)
				}
				return
			}
			if r.code == 0 {
				t.Fatalf("refit quantize --type %s succeeded\n%v", tc.ftype, r)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("a refused quantization left %s", out)
			}
		})
	}
}
