package hostile

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/gguf"
	"github.com/refit-ml/refit/tensor"
)

// nonFiniteGGUF writes a llama-shaped GGUF whose weights mix NaN (with payloads),
// infinities, values near the float32 limit, subnormals and whole blocks of each, in
// the given source type: the values that reach the row kernels' fallbacks and the
// verification's value-by-value path.
func nonFiniteGGUF(t *testing.T, path string, dtype tensor.DType) {
	t.Helper()
	const embd = 512
	specials := []float32{float32(math.NaN()), math.Float32frombits(0x7f800001), math.Float32frombits(0xffc12345),
		float32(math.Inf(1)), float32(math.Inf(-1)), 3.4e38, -3.4e38, 1e-45, -1e-40, 0, float32(math.Copysign(0, -1))}
	var ts []*tensor.Tensor
	add := func(name string, shape ...int64) {
		n := int64(1)
		for _, d := range shape {
			n *= d
		}
		v := make([]float32, n)
		for i := range v {
			switch {
			case i/256%7 == 3: // a whole super-block of one special value
				v[i] = specials[i/256%len(specials)]
			case i%13 == 0:
				v[i] = specials[i%len(specials)]
			default:
				v[i] = float32(math.Sin(float64(i))) * 0.02
			}
		}
		x, err := tensor.NewF32(name, tensor.Shape(shape), v)
		if err != nil {
			t.Fatal(err)
		}
		if len(shape) > 1 && dtype != tensor.F32 {
			if x, err = tensor.Cast(x, dtype); err != nil {
				t.Fatal(err)
			}
		}
		ts = append(ts, x)
	}
	add("token_embd.weight", 64, embd)
	add("blk.0.attn_norm.weight", embd)
	add("blk.0.attn_q.weight", embd, embd)
	add("blk.0.ffn_down.weight", embd, embd)
	add("output.weight", 64, embd)
	m := &refit.Model{Tensors: ts}
	m.Metadata.Set("general.architecture", "llama")
	m.Metadata.Set("llama.block_count", uint32(1))
	var buf bytes.Buffer
	if err := gguf.Encode(&buf, m, nil); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestGGUFPerfNonFinite quantizes weights full of non-finite and extreme values with
// verification on, from F32, F16 and BF16 sources, to types with row kernels (Q8_0,
// Q4_0), super-block kernels (Q4_K_M, Q6_K) and fused verification kernels: refit must
// finish, verified, and report an infinite error in its JSON (as "+Inf": encoding/json
// refuses the number, which once failed the run after the output was in place).
func TestGGUFPerfNonFinite(t *testing.T) {
	dir := t.TempDir()
	for _, src := range []tensor.DType{tensor.F32, tensor.F16, tensor.BF16} {
		in := filepath.Join(dir, fmt.Sprintf("in-%v.gguf", src))
		nonFiniteGGUF(t, in, src)
		for _, ft := range []string{"Q8_0", "Q4_0", "Q4_K_M", "Q6_K"} {
			out := filepath.Join(dir, fmt.Sprintf("out-%v-%s.gguf", src, ft))
			r := runRefit(t, limits{}, "quantize", in, out, "--type", ft, "--json")
			if r.code != 0 || !strings.Contains(r.stdout, `"verified": true`) {
				t.Errorf("%v -> %s: %v", src, ft, r)
			}
			if _, err := os.Stat(out); err != nil {
				t.Errorf("%v -> %s: %v", src, ft, err)
			}
		}
	}
}

// TestGGUFPerfProfilePath checks that --cpuprofile into a folder that does not exist is
// a usage error before any work.
func TestGGUFPerfProfilePath(t *testing.T) {
	r := runRefit(t, limits{}, "--cpuprofile", filepath.Join(t.TempDir(), "no", "such", "dir", "p.prof"), "version")
	if r.code != 64 {
		t.Errorf("--cpuprofile into a missing folder: %v, want exit 64", r)
	}
}
