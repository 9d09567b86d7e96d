package ggml

import (
	"bytes"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/refit-ml/refit/tensor"
)

// rowKernelTypes are the types with a whole-row (Q8_0, Q4_0) or whole-super-block
// (the final levels of Q4_K, Q5_K, Q6_K) kernel.
var rowKernelTypes = []tensor.DType{tensor.Q8_0, tensor.Q4_0, tensor.Q4_K, tensor.Q5_K, tensor.Q6_K}

// quantizeWith quantizes x as one row of type d on one path: "scalar" (the Go code,
// the reference every CPU runs), "blocks" (the per-block vector kernels) or "rows"
// (the whole-row kernels).
func quantizeWith(t *testing.T, path string, d tensor.DType, x, im []float32) []byte {
	t.Helper()
	saveSIMD, saveRows := useSIMD, useRows
	defer func() { useSIMD, useRows = saveSIMD, saveRows }()
	switch path {
	case "scalar":
		useSIMD = false
	case "blocks":
		useRows = false
	}
	rs, err := RowSize(d, len(x))
	if err != nil {
		t.Fatal(err)
	}
	y := make([]byte, rs)
	if err := QuantizeRows(d, y, x, 1, len(x), im, 1); err != nil {
		t.Fatal(err)
	}
	return y
}

// TestRowKernelsMatchScalar checks the whole-row kernels, on CPUs that have them,
// against the scalar code and the per-block kernels: blocks that are zero, -0, equal
// magnitudes of both signs (the first one sets Q4_0's sign), NaN anywhere in a row
// (Q8_0 hands that block to the scalar code and resumes), infinities, subnormals and
// values near the float32 limit, in rows of 1 to 40 blocks.
func TestRowKernelsMatchScalar(t *testing.T) {
	if !useRows {
		t.Skip("no row kernels on this CPU (needs AVX2 and F16C)")
	}
	r := rand.New(rand.NewPCG(5, 9))
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	gens := map[string]func(i int) float32{
		"normal": func(int) float32 { return float32(r.NormFloat64()) },
		"zero-and-negzero": func(i int) float32 {
			if i/32%2 == 0 {
				return float32(math.Copysign(0, -1))
			}
			return 0
		},
		"ties": func(i int) float32 { return float32(r.IntN(3)-1) * 0.75 },
		"nan": func(i int) float32 {
			if r.IntN(40) == 0 {
				return nan
			}
			return float32(r.NormFloat64())
		},
		"nan-only-block": func(i int) float32 {
			if i/32 == 1 {
				return nan
			}
			return float32(r.NormFloat64())
		},
		"inf": func(i int) float32 {
			if r.IntN(50) == 0 {
				return -inf
			}
			return float32(r.NormFloat64())
		},
		"subnormal": func(int) float32 { return float32(r.NormFloat64()) * 1e-41 },
		// Groups of 16 (Q6_K) and 32 (Q4_K, Q5_K) whose scale rounds to 0 against the
		// block's: the levels of their own search stay there.
		"tiny-groups": func(i int) float32 {
			if i/16%3 == 1 || i/32%5 == 3 {
				return float32(r.NormFloat64()) * 1e-5
			}
			return float32(r.NormFloat64())
		},
		"huge":      func(int) float32 { return float32(r.NormFloat64()) * 3e38 },
		"bits":      func(int) float32 { return math.Float32frombits(r.Uint32()) },
		"fp16-edge": func(int) float32 { return float32(r.IntN(255)-127) * 65504 / 127 * float32(1+r.IntN(2)) },
	}
	for name, gen := range gens {
		for _, blocks := range []int{1, 2, 3, 7, 8, 16, 40} {
			x := make([]float32, 32*blocks)
			for i := range x {
				x[i] = gen(i)
			}
			for _, d := range rowKernelTypes {
				if len(x)%d.BlockSize() != 0 {
					continue
				}
				im := make([]float32, len(x)) // an importance matrix, for the types that use one
				for i := range im {
					im[i] = float32(1 + i%7)
				}
				for _, w := range [][]float32{nil, im} {
					if w != nil && !UsesImatrix(d) {
						continue
					}
					want := quantizeWith(t, "scalar", d, x, w)
					if got := quantizeWith(t, "rows", d, x, w); !bytes.Equal(got, want) {
						t.Errorf("%s, %d blocks, %v, imatrix %v: rows vs scalar: %s", name, blocks, d, w != nil, firstDiff(d, got, want))
					}
					if got := quantizeWith(t, "blocks", d, x, w); !bytes.Equal(got, want) {
						t.Errorf("%s, %d blocks, %v, imatrix %v: blocks vs scalar: %s", name, blocks, d, w != nil, firstDiff(d, got, want))
					}
				}
			}
		}
	}
}

// BenchmarkKernels times each type's quantizer on one goroutine over 16 rows of 4096
// normal values, on every path the CPU has: "simd" (what QuantizeRows runs: the row
// kernels for Q8_0 and Q4_0, the per-block vector kernels elsewhere), "blocks" (Q8_0
// and Q4_0 one block per kernel call, as before the row kernels) and "scalar" (the Go
// reference). cpu-MB/s is float32 input per CPU second, which other load on the
// machine does not inflate.
//
// This machine: AMD EPYC with avx2, avx512f (the kernels use AVX2 and F16C only), 2
// cores under load average ~20 from other jobs, go test -bench Kernels -benchtime 20x,
// cpu-MB/s ("blocks" only where a row kernel replaced per-block calls; F32 is a copy on
// every path):
//
//	type    simd  blocks  scalar
//	F32      7416       -   12725
//	F16     11108       -     592
//	BF16    26214       -    1199
//	Q4_0     7133    3139     674
//	Q4_1     2848       -     865
//	Q5_0     1946       -     780
//	Q5_1     2405       -     659
//	Q8_0     8166    5070     633
//	Q2_K      104       -      40
//	Q3_K      291       -     237
//	Q4_K       99      88      26
//	Q5_K       94      88      30
//	Q6_K      365     275      65
//	IQ4_NL     90       -      17
//	IQ4_XS     93       -      18
//	TQ1_0    1073       -    1079
//	TQ2_0    1123       -    1179
//	MXFP4    1224       -     304
func BenchmarkKernels(b *testing.B) {
	const nrows, rowLen = 16, 4096
	x := randomRows(8, nrows*rowLen)
	for _, d := range Types() {
		paths := []string{"simd", "scalar"}
		if slices.Contains(rowKernelTypes, d) {
			paths = []string{"simd", "blocks", "scalar"}
		}
		for _, path := range paths {
			if path != "scalar" && !haveSIMD {
				continue
			}
			b.Run(d.String()+"/"+path, func(b *testing.B) {
				saveSIMD, saveRows := useSIMD, useRows
				defer func() { useSIMD, useRows = saveSIMD, saveRows }()
				switch path {
				case "scalar":
					useSIMD = false
				case "blocks":
					useRows = false
				}
				rs, _ := RowSize(d, rowLen)
				dst := make([]byte, nrows*rs)
				b.SetBytes(int64(4 * len(x)))
				cpu0 := processCPUTime()
				for b.Loop() {
					if err := QuantizeRows(d, dst, x, nrows, rowLen, nil, 1); err != nil {
						b.Fatal(err)
					}
				}
				if cpu := processCPUTime() - cpu0; cpu > 0 {
					b.ReportMetric(float64(4*len(x))*float64(b.N)/cpu.Seconds()/1e6, "cpu-MB/s")
				}
			})
		}
	}
}
