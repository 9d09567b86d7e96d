package ggml

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/refit-ml/refit/internal/testtool"
	"github.com/refit-ml/refit/tensor"
)

// ggmlTypeID maps a tensor.DType to its ggml_type value (ggml.h).
var ggmlTypeID = map[tensor.DType]int{
	tensor.F32: 0, tensor.F16: 1, tensor.Q4_0: 2, tensor.Q4_1: 3, tensor.Q5_0: 6, tensor.Q5_1: 7,
	tensor.Q8_0: 8, tensor.Q2_K: 10, tensor.Q3_K: 11, tensor.Q4_K: 12, tensor.Q5_K: 13, tensor.Q6_K: 14,
	tensor.IQ2_XXS: 16, tensor.IQ2_XS: 17, tensor.IQ3_XXS: 18, tensor.IQ1_S: 19, tensor.IQ3_S: 21, tensor.IQ2_S: 22,
	tensor.IQ1_M: 29, tensor.IQ4_NL: 20, tensor.IQ4_XS: 23, tensor.BF16: 30, tensor.TQ1_0: 34, tensor.TQ2_0: 35, tensor.MXFP4: 39,
}

type interopInput struct {
	name          string
	nrows, rowLen int
	x             []float32
}

// interopInputs are the value distributions the byte-identity test covers.
func interopInputs(seed uint64) []interopInput {
	r := rand.New(rand.NewPCG(seed, 2))
	gen := func(name string, nrows, rowLen int, f func(row, i int) float64) interopInput {
		x := make([]float32, nrows*rowLen)
		for row := range nrows {
			for i := range rowLen {
				x[row*rowLen+i] = float32(f(row, i))
			}
		}
		return interopInput{name, nrows, rowLen, x}
	}
	return []interopInput{
		gen("normal", 4, 256, func(int, int) float64 { return r.NormFloat64() }),
		gen("short-rows", 5, 96, func(int, int) float64 { return r.NormFloat64() }),
		gen("nonfinite", 4, 256, func(row, i int) float64 {
			if i == 37 {
				return []float64{math.NaN(), math.Inf(1), math.Inf(-1), 3e38}[row]
			}
			return r.NormFloat64()
		}),
		gen("uniform", 3, 1024, func(int, int) float64 { return 2*r.Float64() - 1 }),
		gen("positive", 2, 512, func(int, int) float64 { return r.Float64() + 0.1 }),
		gen("negative", 2, 512, func(int, int) float64 { return -r.Float64() * 3 }),
		gen("outliers", 2, 4096, func(int, int) float64 {
			if r.IntN(200) == 0 {
				return (r.Float64()*20 - 10) * 10
			}
			return r.NormFloat64() * 0.02
		}),
		gen("zero-rows", 3, 512, func(row, _ int) float64 {
			if row == 1 {
				return 0
			}
			return r.NormFloat64()
		}),
		gen("zero-blocks", 2, 768, func(_, i int) float64 {
			if (i/32)%3 == 1 || (i >= 256 && i < 512) {
				return 0
			}
			return r.NormFloat64() * 0.1
		}),
		gen("constant", 2, 256, func(row, _ int) float64 { return 0.37 * float64(row+1) }),
		gen("tiny", 2, 768, func(row, _ int) float64 { return r.NormFloat64() * []float64{1e-7, 1e-20}[row] }),
		gen("subnormal", 2, 256, func(row, _ int) float64 { return r.NormFloat64() * []float64{1e-39, 1e-44}[row] }),
		gen("mixed-scale", 2, 512, func(_, i int) float64 { return r.NormFloat64() * math.Pow(10, float64(i%64/8-4)) }),
		gen("large", 2, 256, func(int, int) float64 { return r.NormFloat64() * 3e4 }),
		gen("heavy-tail", 2, 2048, func(int, int) float64 {
			return r.ExpFloat64() * float64(1-2*r.IntN(2)) * math.Exp(r.NormFloat64())
		}),
		gen("few-levels", 2, 512, func(int, int) float64 { return float64(r.IntN(5)-2) * 0.25 }),
		gen("powers-of-two", 2, 256, func(_, i int) float64 {
			e := math.Ldexp(1, r.IntN(10)-5)
			switch i % 3 {
			case 0:
				return e
			case 1:
				return -float64(math.Nextafter32(float32(e), 0))
			}
			return r.NormFloat64() * e
		}),
	}
}

// TestInteropGGML quantizes every input with ggml_quantize_chunk (libggml-base.so from
// node-llama-cpp, through ctypes) and checks that QuantizeRows writes the same bytes,
// with and without an importance matrix.
func TestInteropGGML(t *testing.T) {
	nm := testtool.NodeModules(t, "@node-llama-cpp/linux-x64")
	testtool.RequirePython(t, "numpy")
	lib := filepath.Join(nm, "@node-llama-cpp/linux-x64/bins/linux-x64/libggml-base.so")
	script, err := os.ReadFile(filepath.Join(testtool.RepoRoot(), "testdata", "gen", "quant_ggml.py"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeF32 := func(name string, v []float32) string {
		b := make([]byte, 4*len(v))
		for i, f := range v {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}

	type job struct {
		d       tensor.DType
		in      interopInput
		imatrix []float32
		out     string
	}
	var jobs []job
	var manifest strings.Builder
	// REFIT_GGML_SEED varies the inputs for longer soak runs.
	seed, _ := strconv.ParseUint(os.Getenv("REFIT_GGML_SEED"), 10, 64)
	r := rand.New(rand.NewPCG(seed, 4))
	for k, in := range interopInputs(seed + 1) {
		inPath := writeF32(fmt.Sprintf("in%d.f32", k), in.x)
		im := make([]float32, in.rowLen)
		for i := range im {
			v := float32(r.Float64())
			im[i] = v*v*4 + 1e-3
		}
		imPath := writeF32(fmt.Sprintf("im%d.f32", k), im)
		for _, d := range Types() {
			if in.rowLen%d.BlockSize() != 0 {
				continue
			}
			// ggml aborts the process on these (QuantizeRows refuses them, tested apart).
			if searchesGrid(d) && checkGridInput(d, in.x, nil) != nil {
				continue
			}
			for _, withIm := range []bool{false, true} {
				if !withIm && RequiresImatrix(d) {
					continue
				}
				j := job{d: d, in: in, out: filepath.Join(dir, fmt.Sprintf("out%d", len(jobs)))}
				imArg := "-"
				if withIm {
					j.imatrix, imArg = im, imPath
				}
				jobs = append(jobs, j)
				fmt.Fprintf(&manifest, "%d %d %d %s %s %s\n", ggmlTypeID[d], in.nrows, in.rowLen, inPath, imArg, j.out)
			}
		}
	}
	mf := filepath.Join(dir, "manifest")
	if err := os.WriteFile(mf, []byte(manifest.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	testtool.RunPython(t, string(script), "batch", lib, mf)

	for _, j := range jobs {
		name := j.d.String() + "/" + j.in.name
		if j.imatrix != nil {
			name += "/imatrix"
		}
		t.Run(name, func(t *testing.T) {
			want, err := os.ReadFile(j.out)
			if err != nil {
				t.Fatal(err)
			}
			rs, _ := RowSize(j.d, j.in.rowLen)
			got := make([]byte, j.in.nrows*rs)
			if err := QuantizeRows(j.d, got, j.in.x, j.in.nrows, j.in.rowLen, j.imatrix, 0); err != nil {
				t.Fatalf("QuantizeRows = %v", err)
			}
			if msg := firstDiff(j.d, got, want); msg != "" {
				t.Errorf("QuantizeRows(%v, %s) differs from ggml: %s", j.d, name, msg)
			}
		})
	}
}
