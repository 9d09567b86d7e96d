package tensor

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/refit-ml/refit/internal/testtool"
)

// blockTypes lists every GGML block type in the DType table.
func blockTypes() []DType {
	var out []DType
	for _, d := range DTypes() {
		if d.Quantized() {
			out = append(out, d)
		}
	}
	return out
}

// compareF32 fails on the first value whose bits differ from want.
func compareF32(t *testing.T, d DType, got []float32, want []byte) {
	t.Helper()
	if len(want) != 4*len(got) {
		t.Fatalf("%v: reference holds %d bytes for %d values", d, len(want), len(got))
	}
	bad := 0
	for i, g := range got {
		w := binary.LittleEndian.Uint32(want[4*i:])
		if math.Float32bits(g) != w {
			if bad < 5 {
				t.Errorf("%v: value %d (block %d) = %v (%#08x), want %v (%#08x)",
					d, i, i/d.BlockSize(), g, math.Float32bits(g), math.Float32frombits(w), w)
			}
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%v: %d of %d values differ", d, bad, len(got))
	}
}

// checkAgainst dequantizes dir/NAME.q and compares with dir/NAME.f32.
func checkAgainst(t *testing.T, dir string, d DType) {
	t.Helper()
	q, err := os.ReadFile(filepath.Join(dir, d.String()+".q"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join(dir, d.String()+".f32"))
	if err != nil {
		t.Fatal(err)
	}
	got := make([]float32, len(q)/d.TypeSize()*d.BlockSize())
	if err := Dequantize(got, q, d, 0); err != nil {
		t.Fatalf("Dequantize(%v) = %v", d, err)
	}
	compareF32(t, d, got, want)
}

// TestDequantizeGolden checks committed fixtures made by ggml (testdata/gen/tensor_dequant.py).
func TestDequantizeGolden(t *testing.T) {
	for _, d := range blockTypes() {
		t.Run(d.String(), func(t *testing.T) { checkAgainst(t, "testdata/dequant", d) })
	}
}

// TestDequantizeGGML compares with ggml's own to_float on freshly quantized and random blocks.
func TestDequantizeGGML(t *testing.T) {
	nm := testtool.NodeModules(t, "@node-llama-cpp/linux-x64")
	testtool.RequirePython(t, "ctypes")
	lib := filepath.Join(nm, "@node-llama-cpp", "linux-x64", "bins", "linux-x64", "libggml-base.so")
	script, err := os.ReadFile("testdata/ggml_ref.py")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	testtool.RunPython(t, string(script), lib, dir, "48", "20260101")
	for _, d := range blockTypes() {
		t.Run(d.String(), func(t *testing.T) { checkAgainst(t, dir, d) })
	}
}

func TestDequantizeErrors(t *testing.T) {
	tests := []struct {
		name string
		d    DType
		dst  int
		src  int
	}{
		{"plain type", F16, 32, 64},
		{"invalid", Invalid, 32, 18},
		{"partial block dst", Q4_0, 31, 18},
		{"short src", Q4_0, 32, 17},
		{"long src", Q4_0, 32, 19},
		{"src for two blocks", Q4_K, 256, 288},
		{"out of range type", DType(200), 32, 18},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := Dequantize(make([]float32, tc.dst), make([]byte, tc.src), tc.d, 0); err == nil {
				t.Errorf("Dequantize(%d values, %d bytes, %v) = nil, want error", tc.dst, tc.src, tc.d)
			}
		})
	}
	for _, d := range blockTypes() {
		if dequantizers[d] == nil {
			t.Errorf("%v has no dequantizer", d)
		}
		if err := Dequantize(nil, nil, d, 0); err != nil {
			t.Errorf("Dequantize(empty, %v) = %v, want nil", d, err)
		}
	}
}

// randomBlocks returns n blocks of random bytes whose f16 fields are finite: it reuses the
// golden input's blocks when present and pads with copies.
func randomBlocks(t testing.TB, d DType, n int) []byte {
	q, err := os.ReadFile(filepath.Join("testdata/dequant", d.String()+".q"))
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, 0, n*d.TypeSize())
	for len(out) < n*d.TypeSize() {
		out = append(out, q...)
	}
	return out[:n*d.TypeSize()]
}

// TestDequantizeParallel checks that the multi-goroutine split equals one serial pass.
func TestDequantizeParallel(t *testing.T) {
	for _, d := range []DType{Q4_0, Q6_K, IQ2_XS} {
		t.Run(d.String(), func(t *testing.T) {
			n := 3*parallelMinBlocks + 7
			src := randomBlocks(t, d, n)
			want := make([]float32, n*d.BlockSize())
			dequantizers[d](want, src)
			for _, threads := range []int{0, 1, 2, 3, 4} {
				got := make([]float32, len(want))
				if err := Dequantize(got, src, d, threads); err != nil {
					t.Fatal(err)
				}
				for i := range got {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%d threads: value %d = %v, want %v", threads, i, got[i], want[i])
					}
				}
			}
		})
	}
}

func TestSignsIQ2(t *testing.T) {
	for i := range uint32(128) {
		s := signsIQ2(i)
		ones := 0
		for b := range 8 {
			ones += int(s >> b & 1)
		}
		if ones%2 != 0 || uint32(s&127) != i {
			t.Errorf("signsIQ2(%d) = %#x: want low bits %#x and even parity", i, s, i)
		}
	}
}

func TestDequantizeAllocs(t *testing.T) {
	src := randomBlocks(t, Q4_K, 4)
	dst := make([]float32, 4*256)
	if n := testing.AllocsPerRun(10, func() { _ = Dequantize(dst, src, Q4_K, 0) }); n != 0 {
		t.Errorf("Dequantize allocates %v times per run, want 0", n)
	}
}

// BenchmarkDequantize measures Dequantize per block type (reading GGUF tensors, verifying
// quantized outputs): MB of float32 output per CPU-second at one thread (go test -cpu 1
// -bench Dequantize ./tensor on the 2-core AMD EPYC (Zen 4; avx2, avx512f) dev VM at load
// ~27): Q4_0 5870, Q4_1 6150, Q5_0 4410, Q5_1 4110, Q8_0 5910, Q2_K 4560, Q3_K 2910,
// Q4_K 6010, Q5_K 4700, Q6_K 3240, IQ2_XXS 3080, IQ2_XS 2710, IQ2_S 3210, IQ3_XXS 2950,
// IQ3_S 3150, IQ1_S 4740, IQ1_M 4020, IQ4_NL 5850, IQ4_XS 5130, TQ1_0 3740, TQ2_0 5240,
// MXFP4 6440.
func BenchmarkDequantize(b *testing.B) {
	for _, d := range blockTypes() {
		b.Run(d.String(), func(b *testing.B) {
			const elems = 1 << 20
			n := elems / d.BlockSize()
			src := randomBlocks(b, d, n)
			dst := make([]float32, n*d.BlockSize())
			b.SetBytes(int64(4 * len(dst)))
			cpu0 := processCPUTime()
			for b.Loop() {
				if err := Dequantize(dst, src, d, 0); err != nil {
					b.Fatal(err)
				}
			}
			reportCPUThroughput(b, int64(4*len(dst)), cpu0)
		})
	}
}

// FuzzDequantize feeds arbitrary bytes to every kernel: no panics, errors exactly when the
// sizes disagree, and the parallel split equal to one serial pass.
func FuzzDequantize(f *testing.F) {
	for _, d := range blockTypes() {
		q, err := os.ReadFile(filepath.Join("testdata/dequant", d.String()+".q"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(d), q[:d.TypeSize()])
	}
	f.Fuzz(func(t *testing.T, typ uint8, src []byte) {
		d := DType(typ)
		if !d.Quantized() {
			if err := Dequantize(make([]float32, 32), src, d, 0); err == nil {
				t.Fatalf("Dequantize(%v) = nil, want error", d)
			}
			return
		}
		n := len(src) / d.TypeSize() * d.BlockSize()
		dst := make([]float32, n)
		err := Dequantize(dst, src, d, 0)
		if (err != nil) != (len(src)%d.TypeSize() != 0) {
			t.Fatalf("Dequantize(%d bytes of %v) = %v", len(src), d, err)
		}
		if err != nil {
			return
		}
		// Repeat the input past the parallel threshold; every copy must decode the same.
		reps := parallelMinBlocks*2/max(1, len(src)/d.TypeSize()) + 1
		big := bytes.Repeat(src, reps)
		out := make([]float32, reps*n)
		if err := Dequantize(out, big, d, 0); err != nil {
			t.Fatal(err)
		}
		for i, v := range out {
			if math.Float32bits(v) != math.Float32bits(dst[i%max(1, n)]) {
				t.Fatalf("%v: parallel value %d = %v, want %v", d, i, v, dst[i%n])
			}
		}
	})
}
