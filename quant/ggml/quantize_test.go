package ggml

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/refit-ml/refit/tensor"
)

func randomRows(seed uint64, n int) []float32 {
	r := rand.New(rand.NewPCG(seed, 7))
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	return x
}

func TestQuantizeRowsErrors(t *testing.T) {
	x := randomRows(1, 512)
	tests := []struct {
		name          string
		d             tensor.DType
		dst           int
		src           []float32
		nrows, rowLen int
		imatrix       []float32
		unsupported   bool
	}{
		{"missing imatrix", tensor.IQ2_XXS, 66, x[:256], 1, 256, nil, false},
		{"non-finite for a grid type", tensor.IQ2_XS, 74, append([]float32{float32(math.Inf(1))}, x[1:256]...), 1, 256, make([]float32, 256), true},
		{"non-finite imatrix", tensor.IQ2_XS, 74, x[:256], 1, 256, append([]float32{float32(math.NaN())}, make([]float32, 255)...), true},
		{"not quantized", tensor.I8, 256, x[:256], 1, 256, nil, true},
		{"partial block", tensor.Q4_K, 144, x[:300], 1, 300, nil, false},
		{"zero row length", tensor.Q8_0, 0, nil, 1, 0, nil, false},
		{"short source", tensor.Q8_0, 34 * 8, x[:255], 1, 256, nil, false},
		{"long destination", tensor.Q8_0, 34*8 + 1, x[:256], 1, 256, nil, false},
		{"negative rows", tensor.Q8_0, 0, nil, -1, 256, nil, false},
		{"overflowing rows", tensor.Q8_0, 0, nil, math.MaxInt / 2, 256, nil, false},
		{"imatrix length", tensor.Q4_K, 144 * 2, x, 2, 256, make([]float32, 255), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := QuantizeRows(tt.d, make([]byte, tt.dst), tt.src, tt.nrows, tt.rowLen, tt.imatrix, 0)
			if err == nil {
				t.Fatalf("QuantizeRows(%v) = nil, want an error", tt.d)
			}
			if got := errors.Is(err, tensor.ErrUnsupported); got != tt.unsupported {
				t.Errorf("QuantizeRows(%v) = %v; errors.Is(ErrUnsupported) = %v, want %v", tt.d, err, got, tt.unsupported)
			}
		})
	}
}

func TestRequiresImatrix(t *testing.T) {
	for _, d := range tensor.DTypes() {
		want := d == tensor.IQ2_XXS || d == tensor.IQ2_XS || d == tensor.IQ1_S
		if got := RequiresImatrix(d); got != want {
			t.Errorf("RequiresImatrix(%v) = %v, want %v", d, got, want)
		}
	}
}

// TestRoundTrip checks each type's reconstruction error against a bound for its bit
// width, which catches packing mistakes the byte-identity tests would only report as
// "differs".
func TestRoundTrip(t *testing.T) {
	bound := map[tensor.DType]float64{ // RMS error / RMS value, normal input
		tensor.F32: 0, tensor.F16: 1e-3, tensor.BF16: 4e-3, tensor.Q8_0: 0.01,
		tensor.Q6_K: 0.02, tensor.Q5_0: 0.05, tensor.Q5_1: 0.05, tensor.Q5_K: 0.05,
		tensor.Q4_0: 0.12, tensor.Q4_1: 0.12, tensor.Q4_K: 0.1, tensor.IQ4_NL: 0.1, tensor.IQ4_XS: 0.1,
		tensor.MXFP4: 0.2, tensor.Q3_K: 0.2, tensor.Q2_K: 0.4, tensor.IQ3_S: 0.25, tensor.IQ3_XXS: 0.3,
		tensor.IQ2_S: 0.4, tensor.IQ2_XS: 0.45, tensor.IQ2_XXS: 0.5, tensor.IQ1_M: 0.65, tensor.IQ1_S: 0.7, tensor.TQ2_0: 0.85, tensor.TQ1_0: 0.85, // ternary: amax scale
	}
	const nrows, rowLen = 4, 1024
	x := randomRows(2, nrows*rowLen)
	for _, d := range Types() {
		t.Run(d.String(), func(t *testing.T) {
			rs, _ := RowSize(d, rowLen)
			q := make([]byte, nrows*rs)
			var im []float32
			if RequiresImatrix(d) {
				im = onesImatrix(rowLen)
			}
			if err := QuantizeRows(d, q, x, nrows, rowLen, im, 0); err != nil {
				t.Fatal(err)
			}
			y := make([]float32, len(x))
			if err := tensor.ToFloat32(y, q, d); err != nil {
				t.Fatal(err)
			}
			var se, sx float64
			for i := range x {
				e := float64(y[i] - x[i])
				se += e * e
				sx += float64(x[i]) * float64(x[i])
			}
			if rel := math.Sqrt(se / sx); rel > bound[d] {
				t.Errorf("%v: relative RMS error %.4f, want <= %.4f", d, rel, bound[d])
			}
		})
	}
}

// TestParallelMatchesSerial checks that splitting rows across goroutines changes
// nothing, whatever the thread count.
func TestParallelMatchesSerial(t *testing.T) {
	const nrows, rowLen = 256, 2048
	x := randomRows(3, nrows*rowLen)
	im := randomRows(4, rowLen)
	for i := range im {
		im[i] *= im[i]
	}
	for _, d := range []tensor.DType{tensor.Q4_K, tensor.Q8_0, tensor.IQ4_XS} {
		rs, _ := RowSize(d, rowLen)
		ser := make([]byte, nrows*rs)
		for r := range nrows {
			if err := QuantizeRows(d, ser[r*rs:(r+1)*rs], x[r*rowLen:(r+1)*rowLen], 1, rowLen, im, 1); err != nil {
				t.Fatal(err)
			}
		}
		for _, threads := range []int{0, 1, 2, 3, 4} {
			par := make([]byte, nrows*rs)
			if err := QuantizeRows(d, par, x, nrows, rowLen, im, threads); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(par, ser) {
				t.Errorf("%v: %d threads and row-by-row results differ", d, threads)
			}
		}
	}
}

func TestQuantizeLazy(t *testing.T) {
	const rows, cols = 3, 512
	x := randomRows(5, rows*cols)
	src, err := tensor.NewF32("w", tensor.Shape{rows, cols}, x)
	if err != nil {
		t.Fatal(err)
	}
	q, err := Quantize(src, tensor.Q4_K, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if q.DType != tensor.Q4_K || q.Name != "w" || q.Size() != rows*cols/256*144 {
		t.Fatalf("Quantize = %v %v %d bytes, want Q4_K [3 512] %d bytes", q.DType, q.Shape, q.Size(), rows*cols/256*144)
	}
	got, err := q.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	want := make([]byte, len(got))
	if err := QuantizeRows(tensor.Q4_K, want, x, rows, cols, nil, 0); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("Quantize bytes differ from QuantizeRows")
	}

	for _, tt := range []struct {
		name  string
		shape tensor.Shape
		d     tensor.DType
		im    []float32
	}{
		{"row not a block multiple", tensor.Shape{4, 96}, tensor.Q4_K, nil},
		{"unsupported", tensor.Shape{2, 256}, tensor.Q8_K, nil},
		{"missing imatrix", tensor.Shape{2, 256}, tensor.IQ1_S, nil},
		{"imatrix length", tensor.Shape{2, 256}, tensor.Q4_K, make([]float32, 3)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			n := int(tt.shape.Elements())
			s, err := tensor.NewF32("s", tt.shape, make([]float32, n))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Quantize(s, tt.d, tt.im, 0); err == nil {
				t.Errorf("Quantize(%v, %v) = nil error", tt.shape, tt.d)
			}
		})
	}
}

// TestNonFinite checks that NaN and infinities neither panic nor leak into other rows.
func TestNonFinite(t *testing.T) {
	const rowLen = 256
	specials := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), math.MaxFloat32}
	for _, d := range Types() {
		for _, s := range specials {
			x := randomRows(6, 2*rowLen)
			x[17] = s
			rs, _ := RowSize(d, rowLen)
			q := make([]byte, 2*rs)
			for _, im := range [][]float32{nil, randomRows(7, rowLen)} {
				if im == nil && RequiresImatrix(d) {
					continue
				}
				err := QuantizeRows(d, q, x, 2, rowLen, im, 0)
				if searchesGrid(d) {
					// ggml aborts the process here; refusing is the closest safe answer.
					if !errors.Is(err, tensor.ErrUnsupported) {
						t.Errorf("%v with %v = %v, want ErrUnsupported", d, s, err)
					}
					continue
				}
				if err != nil {
					t.Fatalf("%v with %v: %v", d, s, err)
				}
				clean := make([]byte, rs)
				if err := QuantizeRows(d, clean, x[rowLen:], 1, rowLen, im, 0); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(q[rs:], clean) {
					t.Errorf("%v: a %v in row 0 changed row 1", d, s)
				}
			}
		}
	}
}

// FuzzQuantizeRows feeds arbitrary float32 bit patterns to every quantizer: no panics,
// and the same input always gives the same bytes.
func FuzzQuantizeRows(f *testing.F) {
	f.Add(make([]byte, 1024), uint8(0))
	f.Add(bytes.Repeat([]byte{0x00, 0x00, 0xc0, 0x7f}, 256), uint8(3))
	f.Add(bytes.Repeat([]byte{0x01, 0x00, 0x00, 0x00, 0xff, 0xff, 0x7f, 0x7f}, 128), uint8(9))
	types := Types()
	f.Fuzz(func(t *testing.T, b []byte, pick uint8) {
		const rowLen = 256
		x := make([]float32, rowLen)
		for i := range x {
			if 4*i+4 <= len(b) {
				x[i] = math.Float32frombits(uint32(b[4*i]) | uint32(b[4*i+1])<<8 | uint32(b[4*i+2])<<16 | uint32(b[4*i+3])<<24)
			}
		}
		d := types[int(pick)%len(types)]
		var im []float32
		if pick&0x80 != 0 {
			im = make([]float32, rowLen)
			for i := range im {
				im[i] = fabsf(x[(i*7+3)%rowLen])
			}
		}
		rs, _ := RowSize(d, rowLen)
		a, c := make([]byte, rs), make([]byte, rs)
		if err := QuantizeRows(d, a, x, 1, rowLen, im, 0); err != nil {
			t.Fatal(err)
		}
		if err := QuantizeRows(d, c, x, 1, rowLen, im, 0); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, c) {
			t.Fatalf("%v: two runs on the same input differ", d)
		}
		y := make([]float32, rowLen)
		if err := tensor.ToFloat32(y, a, d); err != nil {
			t.Fatal(err)
		}
	})
}

// BenchmarkQuantize measures QuantizeRows per type, with and without an importance
// matrix, in MB of float32 input per CPU-second. On the 2-core AMD EPYC (Zen 4; avx2,
// avx512f; the kernels use AVX2 and F16C only) dev VM at load ~27, go test -cpu 1 -bench
// Quantize -benchtime 5x ./quant/ggml: Q8_0 7940, Q4_0 4550 (404 with an importance
// matrix), Q4_K 129 (84), Q6_K 457 (472); the codebook types' figures, next to ggml's,
// are in their quantizers' doc comments (quantizeIQ2XXS ...).
func BenchmarkQuantize(b *testing.B) {
	const nrows, rowLen = 16, 4096
	x := randomRows(8, nrows*rowLen)
	im := randomRows(9, rowLen)
	for i := range im {
		im[i] *= im[i]
	}
	for _, d := range Types() {
		for _, withIm := range []bool{false, true} {
			if withIm && !UsesImatrix(d) || !withIm && RequiresImatrix(d) {
				continue
			}
			name := d.String()
			var w []float32
			if withIm {
				name, w = name+"/imatrix", im
			}
			b.Run(name, func(b *testing.B) {
				rs, _ := RowSize(d, rowLen)
				dst := make([]byte, nrows*rs)
				b.SetBytes(int64(4 * len(x)))
				b.ReportMetric(float64(runtime.GOMAXPROCS(0)), "threads")
				// The codebook types derive their lookup tables on first use
				// (BenchmarkIQGridInit); that one-time cost stays out of the figure.
				if err := QuantizeRows(d, dst, x, nrows, rowLen, w, 0); err != nil {
					b.Fatal(err)
				}
				cpu0 := processCPUTime()
				for b.Loop() {
					if err := QuantizeRows(d, dst, x, nrows, rowLen, w, 0); err != nil {
						b.Fatal(err)
					}
				}
				// CPU time, unlike wall time, is not inflated by other load on the machine.
				if cpu := processCPUTime() - cpu0; cpu > 0 {
					b.ReportMetric(float64(4*len(x))*float64(b.N)/cpu.Seconds()/1e6, "cpu-MB/s")
				}
			})
		}
	}
}

// onesImatrix is a neutral importance matrix for the types that require one.
func onesImatrix(n int) []float32 {
	im := make([]float32, n)
	for i := range im {
		im[i] = 1
	}
	return im
}

// BenchmarkIQGridInit measures deriving a codebook's map and neighbour lists, paid once
// per process on first use of the type (ggml pays it in ggml_quantize_init).
func BenchmarkIQGridInit(b *testing.B) {
	for _, d := range []tensor.DType{tensor.IQ2_XXS, tensor.IQ2_XS, tensor.IQ2_S, tensor.IQ1_S, tensor.IQ3_XXS, tensor.IQ3_S} {
		b.Run(d.String(), func(b *testing.B) {
			codes := tensor.IQGridCodes(d)
			dim, bits, nwant, kmax := 8, uint(2), 2, 2
			switch d {
			case tensor.IQ2_S:
				nwant = 1
			case tensor.IQ1_S:
				nwant = 3
			case tensor.IQ3_XXS, tensor.IQ3_S:
				dim, bits, kmax = 4, 3, 7
				nwant = 2 + b2i(d == tensor.IQ3_S)
			}
			for b.Loop() {
				newIQGrid(codes, dim, bits, nwant, kmax)
			}
		})
	}
}
