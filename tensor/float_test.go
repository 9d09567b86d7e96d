package tensor

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/refit-ml/refit/internal/testtool"
)

// castInputsF32 is the narrowing test set: random bit patterns (all classes: NaNs,
// infinities, subnormals), every binary16 value with its rounding midpoints and their
// neighbours, every bfloat16 pattern with its midpoint and neighbours, dense overflow
// and subnormal ranges. Over 1M values, deterministic.
func castInputsF32() []float32 {
	r := rand.New(rand.NewPCG(7, 11))
	var v []float32
	add := func(b uint32) { v = append(v, math.Float32frombits(b), math.Float32frombits(b^0x80000000)) }
	for range 200000 {
		add(r.Uint32())
	}
	for h := uint16(0); h < 0x7c00; h++ {
		lo, hi := math.Float32bits(F16ToF32(h)), math.Float32bits(F16ToF32(h+1))
		mid := math.Float32bits(float32((float64(math.Float32frombits(lo)) + float64(math.Float32frombits(hi))) / 2))
		for _, b := range []uint32{lo, lo + 1, mid - 1, mid, mid + 1, hi - 1} {
			add(b)
		}
	}
	for h := range uint32(1 << 16) {
		for _, low := range []uint32{0x8000, 0x7fff, 0x8001, 0, 0xffff, r.Uint32() & 0xffff} {
			v = append(v, math.Float32frombits(h<<16|low))
		}
	}
	for range 20000 {
		add(r.Uint32N(0x00800000))                         // float32 subnormals
		add(0x477f0000 + r.Uint32N(0x00020000))            // around 65504..65536
		add(0x7f800001 + r.Uint32N(0x007fffff))            // NaN payloads
		add(0x33000000 + r.Uint32N(0x38800000-0x33000000)) // binary16 subnormal range
	}
	return v
}

// castInputsF64 holds binary16 midpoints nudged by far less than a float32 ulp (where
// rounding through float32 would round twice) plus random values of every class.
func castInputsF64() []float64 {
	r := rand.New(rand.NewPCG(3, 5))
	var v []float64
	for h := uint16(0); h < 0x7c00; h++ {
		lo, hi := float64(F16ToF32(h)), float64(F16ToF32(h+1))
		mid := (lo + hi) / 2
		up, down := math.Nextafter(mid, math.Inf(1)), math.Nextafter(mid, 0)
		v = append(v, mid, up, down, -up, -mid, lo)
	}
	for range 100000 {
		v = append(v, math.Float64frombits(r.Uint64()), math.Ldexp(r.NormFloat64(), r.IntN(60)-40))
	}
	v = append(v, math.NaN(), math.Inf(1), math.Inf(-1), 65520, 65519.999, 0x1p-25, 0x1p-25+0x1p-60, 1+0x1p-11+0x1p-40)
	return v
}

func writeFile(t *testing.T, name string, b []byte) {
	t.Helper()
	if err := os.WriteFile(name, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, name string, want int) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != want {
		t.Fatalf("%s: %d bytes, want %d", name, len(b), want)
	}
	return b
}

func isNaN16(h uint16) bool { return h&0x7c00 == 0x7c00 && h&0x3ff != 0 }
func isNaNBF(h uint16) bool { return h&0x7f80 == 0x7f80 && h&0x7f != 0 }
func isNaN32(b uint32) bool { return b&0x7fffffff > 0x7f800000 }

// TestCastsAgainstNumpyTorch compares every cast with numpy 1.24 and torch 1.13, bit for bit.
// NaN: numpy's binary16 casts are matched exactly (payload kept, signaling NaNs not quieted).
// torch differs only in NaN payloads (it quiets NaNs on widening and writes 0x7e00 / 0xffff
// for every NaN it narrows), so against torch a NaN must only stay a NaN (and, on widening,
// keep its sign).
func TestCastsAgainstNumpyTorch(t *testing.T) {
	testtool.RequirePython(t, "torch", "numpy")
	script, err := os.ReadFile("testdata/cast_ref.py")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	f32 := castInputsF32()
	f64 := castInputsF64()
	writeFile(t, filepath.Join(dir, "f32.bin"), EncodeFloat32(nil, f32))
	var b64 []byte
	for _, x := range f64 {
		b64 = binary.LittleEndian.AppendUint64(b64, math.Float64bits(x))
	}
	writeFile(t, filepath.Join(dir, "f64.bin"), b64)
	testtool.RunPython(t, string(script), dir)
	le := binary.LittleEndian
	ref := func(name string, n int) []byte { return readFile(t, filepath.Join(dir, name), n) }

	t.Run("F16ToF32", func(t *testing.T) {
		np, th := ref("f16_to_f32.numpy", 4<<16), ref("f16_to_f32.torch", 4<<16)
		for h := range 1 << 16 {
			got := math.Float32bits(F16ToF32(uint16(h)))
			if w := le.Uint32(np[4*h:]); got != w {
				t.Fatalf("F16ToF32(%#04x) = %#08x, numpy %#08x", h, got, w)
			}
			w := le.Uint32(th[4*h:])
			if got != w && !(isNaN32(got) && isNaN32(w) && got>>31 == w>>31) {
				t.Fatalf("F16ToF32(%#04x) = %#08x, torch %#08x", h, got, w)
			}
		}
	})
	t.Run("BF16ToF32", func(t *testing.T) {
		th := ref("bf16_to_f32.torch", 4<<16)
		for h := range 1 << 16 {
			if got, w := math.Float32bits(BF16ToF32(uint16(h))), le.Uint32(th[4*h:]); got != w {
				t.Fatalf("BF16ToF32(%#04x) = %#08x, torch %#08x", h, got, w)
			}
		}
	})
	t.Run("F32ToF16", func(t *testing.T) {
		np, th := ref("f32_to_f16.numpy", 2*len(f32)), ref("f32_to_f16.torch", 2*len(f32))
		bulk := make([]byte, 2*len(f32))
		ConvertF32ToF16(bulk, f32)
		if !bytes.Equal(bulk, np) {
			t.Error("ConvertF32ToF16 differs from numpy")
		}
		for i, x := range f32 {
			got := F32ToF16(x)
			if w := le.Uint16(np[2*i:]); got != w {
				t.Fatalf("F32ToF16(%#08x) = %#04x, numpy %#04x", math.Float32bits(x), got, w)
			}
			if w := le.Uint16(th[2*i:]); got != w && !(isNaN16(got) && isNaN16(w)) {
				t.Fatalf("F32ToF16(%#08x) = %#04x, torch %#04x", math.Float32bits(x), got, w)
			}
		}
	})
	t.Run("F32ToBF16", func(t *testing.T) {
		th := ref("f32_to_bf16.torch", 2*len(f32))
		bulk := make([]byte, 2*len(f32))
		ConvertF32ToBF16(bulk, f32)
		for i, x := range f32 {
			got, w := F32ToBF16(x), le.Uint16(th[2*i:])
			if got != le.Uint16(bulk[2*i:]) {
				t.Fatalf("ConvertF32ToBF16 differs from F32ToBF16 at %#08x", math.Float32bits(x))
			}
			if got != w && !(isNaNBF(got) && isNaNBF(w)) {
				t.Fatalf("F32ToBF16(%#08x) = %#04x, torch %#04x", math.Float32bits(x), got, w)
			}
		}
	})
	t.Run("F64ToF16", func(t *testing.T) {
		np := ref("f64_to_f16.numpy", 2*len(f64))
		for i, x := range f64 {
			if got, w := F64ToF16(x), le.Uint16(np[2*i:]); got != w {
				t.Fatalf("F64ToF16(%v [%#016x]) = %#04x, numpy %#04x", x, math.Float64bits(x), got, w)
			}
		}
	})
}

// TestF16RoundTrip: widening is exact, so narrowing it back is the identity, NaNs included.
func TestF16RoundTrip(t *testing.T) {
	for h := range 1 << 16 {
		if got := F32ToF16(F16ToF32(uint16(h))); got != uint16(h) {
			t.Errorf("F32ToF16(F16ToF32(%#04x)) = %#04x", h, got)
		}
		want := uint16(h)
		if isNaNBF(want) {
			want |= 0x40 // quieted
		}
		if got := F32ToBF16(BF16ToF32(uint16(h))); got != want {
			t.Errorf("F32ToBF16(BF16ToF32(%#04x)) = %#04x, want %#04x", h, got, want)
		}
	}
}

// TestF16Generic checks the bit-trick binary16/bfloat16 rounding against the independent
// float64 rounding (roundF64 via F64ToF16/F64ToBF16) on the whole float32 test set: a
// float32 converts to float64 exactly, so both must agree.
func TestF16Generic(t *testing.T) {
	for _, x := range castInputsF32() {
		if math.IsNaN(float64(x)) {
			continue
		}
		if got, want := F32ToF16(x), F64ToF16(float64(x)); got != want {
			t.Fatalf("F32ToF16(%#08x) = %#04x, F64ToF16 %#04x", math.Float32bits(x), got, want)
		}
		if got, want := F32ToBF16(x), F64ToBF16(float64(x)); got != want {
			t.Fatalf("F32ToBF16(%#08x) = %#04x, F64ToBF16 %#04x", math.Float32bits(x), got, want)
		}
	}
}

func TestF64Direct(t *testing.T) {
	tests := []struct {
		name string
		x    float64
		f16  uint16
		bf16 uint16
	}{
		// Rounding through float32 first would land on the tie and round to even (down).
		{"just above f16 tie", 1 + 0x1p-11 + 0x1p-40, 0x3c01, 0x3f80},
		{"just above bf16 tie", 1 + 0x1p-8 + 0x1p-40, 0x3c04, 0x3f81},
		{"bf16 overflow tie", 0x1.ffp127, 0x7c00, 0x7f80},
		{"below bf16 overflow tie", 0x1.feffffffffp127, 0x7c00, 0x7f7f},
		{"negative zero", math.Copysign(0, -1), 0x8000, 0x8000},
		{"f16 min subnormal tie", 0x1p-25, 0x0000, 0x3300},
		{"above f16 min subnormal tie", 0x1p-25 + 0x1p-60, 0x0001, 0x3300},
		{"-Inf", math.Inf(-1), 0xfc00, 0xff80},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := F64ToF16(tc.x); got != tc.f16 {
				t.Errorf("F64ToF16(%v) = %#04x, want %#04x", tc.x, got, tc.f16)
			}
			if got := F64ToBF16(tc.x); got != tc.bf16 {
				t.Errorf("F64ToBF16(%v) = %#04x, want %#04x", tc.x, got, tc.bf16)
			}
		})
	}
	if got := F64ToBF16(math.NaN()); !isNaNBF(got) {
		t.Errorf("F64ToBF16(NaN) = %#04x, want NaN", got)
	}
	if got := F64ToF32(1 + 0x1p-24 + 0x1p-50); got != 1+0x1p-23 {
		t.Errorf("F64ToF32 = %v, want 1+2^-23", got)
	}
}

// fp8 describes a float8 format for the independent reference below.
type fp8 struct {
	name     string
	ebits    int
	mbits    int
	bias     int
	maxCode  uint8 // largest finite magnitude code
	overflow uint8 // what overflow becomes: NaN (e4m3fn) or Inf (e5m2)
	widen    func(uint8) float32
	narrow   func(float32) uint8
	narrow64 func(float64) uint8
}

var fp8Formats = []fp8{
	{"E4M3", 4, 3, 7, 0x7e, 0x7f, F8E4M3ToF32, F32ToF8E4M3, f64ToF8E4M3},
	{"E5M2", 5, 2, 15, 0x7b, 0x7c, F8E5M2ToF32, F32ToF8E5M2, f64ToF8E5M2},
}

// value decodes a magnitude code by the OCP definition: subnormal m*2^(1-bias-mbits),
// normal (1+m/2^mbits)*2^(e-bias). Codes up to maxCode+1 are allowed: maxCode+1 is the
// value the next binade step would have, where rounding overflows.
func (f fp8) value(code uint8) float64 {
	e := int(code) >> f.mbits
	m := float64(int(code) & (1<<f.mbits - 1))
	if e == 0 {
		return math.Ldexp(m, 1-f.bias-f.mbits)
	}
	return math.Ldexp(1+m/float64(int(1)<<f.mbits), e-f.bias)
}

// round is the reference narrowing: the nearest code by brute force, ties to the even code,
// with the exponent range treated as unbounded at the top (IEEE rule for overflow).
func (f fp8) round(x float64) uint8 {
	var sign uint8
	if math.Signbit(x) {
		sign = 0x80
	}
	a := math.Abs(x)
	switch {
	case math.IsNaN(x):
		return sign | 0x7f
	case math.IsInf(x, 0):
		return sign | f.overflow
	}
	if a >= f.value(f.maxCode+1) {
		return sign | f.overflow
	}
	best, bestDist := uint8(0), math.Inf(1)
	for c := 0; c <= int(f.maxCode)+1; c++ {
		d := math.Abs(a - f.value(uint8(c)))
		if d < bestDist || d == bestDist && c%2 == 0 {
			best, bestDist = uint8(c), d
		}
	}
	if best > f.maxCode {
		return sign | f.overflow
	}
	return sign | best
}

func TestFP8(t *testing.T) {
	for _, f := range fp8Formats {
		t.Run(f.name+"/widen", func(t *testing.T) {
			for c := range 256 {
				code := uint8(c)
				got := f.widen(code)
				neg := code&0x80 != 0
				switch mag := code & 0x7f; {
				case f.name == "E4M3" && mag == 0x7f, f.name == "E5M2" && mag > 0x7c:
					if !math.IsNaN(float64(got)) || math.Signbit(float64(got)) != neg {
						t.Errorf("%s widen(%#02x) = %v, want NaN with sign %v", f.name, c, got, neg)
					}
				case f.name == "E5M2" && mag == 0x7c:
					if !math.IsInf(float64(got), 0) || math.Signbit(float64(got)) != neg {
						t.Errorf("%s widen(%#02x) = %v, want Inf", f.name, c, got)
					}
				default:
					want := f.value(mag)
					if neg {
						want = -want
					}
					if float64(got) != want || math.Signbit(float64(got)) != neg {
						t.Errorf("%s widen(%#02x) = %v, want %v", f.name, c, got, want)
					}
					if back := f.narrow(got); back != code {
						t.Errorf("%s narrow(widen(%#02x)) = %#02x", f.name, c, back)
					}
				}
			}
		})
		t.Run(f.name+"/narrow", func(t *testing.T) {
			// every code value, every midpoint between neighbours (to the overflow step),
			// their float32 neighbours, and random values of every class
			var xs []float64
			for c := 0; c <= int(f.maxCode)+1; c++ {
				v := f.value(uint8(c))
				xs = append(xs, v)
				if c <= int(f.maxCode) {
					mid := (v + f.value(uint8(c+1))) / 2
					m32 := float32(mid)
					xs = append(xs, mid, float64(math.Nextafter32(m32, 0)), float64(math.Nextafter32(m32, 1e9)))
				}
			}
			r := rand.New(rand.NewPCG(1, uint64(f.ebits)))
			for range 30000 {
				xs = append(xs, float64(math.Float32frombits(r.Uint32())),
					math.Ldexp(r.Float64(), r.IntN(40)-25))
			}
			xs = append(xs, math.Inf(1), math.NaN(), 1e30, 0x1p-200)
			for _, x := range xs {
				for _, s := range []float64{1, -1} {
					x32 := float32(s * x)
					want := f.round(float64(x32))
					if got := f.narrow(x32); got != want {
						t.Fatalf("%s narrow(%v [%#08x]) = %#02x, want %#02x", f.name, x32, math.Float32bits(x32), got, want)
					}
					if got, want := f.narrow64(s*x), f.round(s*x); got != want {
						t.Fatalf("%s narrow64(%v) = %#02x, want %#02x", f.name, s*x, got, want)
					}
				}
			}
		})
	}
}

// TestCastF64Source checks that Cast rounds an F64 tensor once, directly.
func TestCastF64Source(t *testing.T) {
	x := []float64{1 + 0x1p-11 + 0x1p-40, -2.5, 70000}
	var b []byte
	for _, v := range x {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
	}
	src, err := FromBytes("x", F64, Shape{3}, b)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		d    DType
		want []byte
	}{
		{F16, []byte{0x01, 0x3c, 0x00, 0xc1, 0x00, 0x7c}},
		{BF16, []byte{0x80, 0x3f, 0x20, 0xc0, 0x89, 0x47}},
		{F8E4M3, []byte{0x38, 0xc2, 0x7f}},
	} {
		c, err := Cast(src, tc.d)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, tc.want) {
			t.Errorf("Cast(F64 -> %v) = % x, want % x", tc.d, got, tc.want)
		}
	}
}

func TestConvertPanicsOnMismatch(t *testing.T) {
	for name, fn := range map[string]func(){
		"F32ToF16":  func() { ConvertF32ToF16(make([]byte, 3), make([]float32, 2)) },
		"F16ToF32":  func() { ConvertF16ToF32(make([]float32, 2), make([]byte, 3)) },
		"F32ToBF16": func() { ConvertF32ToBF16(make([]byte, 5), make([]float32, 2)) },
		"BF16ToF32": func() { ConvertBF16ToF32(make([]float32, 1), make([]byte, 4)) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("Convert%s with mismatched lengths did not panic", name)
				}
			}()
			fn()
		})
	}
}

func TestConvertBulkMatchesScalar(t *testing.T) {
	src := make([]byte, 2<<16)
	for h := range 1 << 16 {
		binary.LittleEndian.PutUint16(src[2*h:], uint16(h))
	}
	f16, bf16 := make([]float32, 1<<16), make([]float32, 1<<16)
	ConvertF16ToF32(f16, src)
	ConvertBF16ToF32(bf16, src)
	for h := range 1 << 16 {
		if math.Float32bits(f16[h]) != math.Float32bits(F16ToF32(uint16(h))) {
			t.Fatalf("ConvertF16ToF32 differs at %#04x", h)
		}
		if math.Float32bits(bf16[h]) != math.Float32bits(BF16ToF32(uint16(h))) {
			t.Fatalf("ConvertBF16ToF32 differs at %#04x", h)
		}
	}
}

const benchN = 1 << 16

func benchF32() []float32 {
	r := rand.New(rand.NewPCG(1, 1))
	v := make([]float32, benchN)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

// BenchmarkF32ToF16 measures ConvertF32ToF16, the cast of convert --dtype f16:
// 2.1 GB/s of float32 input (go test -bench . ./tensor on the 2-core AMD EPYC of the README's tables, shared with other jobs at load ~14, so a floor rather than the kernel's speed).
func BenchmarkF32ToF16(b *testing.B) {
	src, dst := benchF32(), make([]byte, 2*benchN)
	b.SetBytes(4 * benchN)
	for b.Loop() {
		ConvertF32ToF16(dst, src)
	}
}

// BenchmarkF16ToF32 measures ConvertF16ToF32 (reading float16 tensors, verifying
// casts): 1.2-2.3 GB/s of float32 output (go test -bench . ./tensor on the 2-core AMD EPYC of the README's tables, shared with other jobs at load ~14, so a floor rather than the kernel's speed).
func BenchmarkF16ToF32(b *testing.B) {
	src, dst := make([]byte, 2*benchN), make([]float32, benchN)
	ConvertF32ToF16(src, benchF32())
	b.SetBytes(4 * benchN)
	for b.Loop() {
		ConvertF16ToF32(dst, src)
	}
}

// BenchmarkF32ToBF16 measures ConvertF32ToBF16, the cast of convert --dtype bf16:
// 0.8-1.2 GB/s of float32 input (go test -bench . ./tensor on the 2-core AMD EPYC of the README's tables, shared with other jobs at load ~14, so a floor rather than the kernel's speed).
func BenchmarkF32ToBF16(b *testing.B) {
	src, dst := benchF32(), make([]byte, 2*benchN)
	b.SetBytes(4 * benchN)
	for b.Loop() {
		ConvertF32ToBF16(dst, src)
	}
}

// BenchmarkBF16ToF32 measures ConvertBF16ToF32 (a shift per value): 6.7-7.1 GB/s of
// float32 output (go test -bench . ./tensor on the 2-core AMD EPYC of the README's tables, shared with other jobs at load ~14, so a floor rather than the kernel's speed).
func BenchmarkBF16ToF32(b *testing.B) {
	src, dst := make([]byte, 2*benchN), make([]float32, benchN)
	ConvertF32ToBF16(src, benchF32())
	b.SetBytes(4 * benchN)
	for b.Loop() {
		ConvertBF16ToF32(dst, src)
	}
}

// BenchmarkF32ToF8 measures FromFloat32 to the float8 types (convert --dtype f8):
// E4M3 2590, E5M2 2010 MB of float32 input per CPU-second (go test -cpu 1 -bench F8
// ./tensor on the 2-core AMD EPYC (Zen 4) dev VM at load ~27).
func BenchmarkF32ToF8(b *testing.B) {
	src, dst := benchF32(), make([]byte, benchN)
	for _, d := range []DType{F8E4M3, F8E5M2} {
		b.Run(d.String(), func(b *testing.B) {
			b.SetBytes(4 * benchN)
			cpu0 := processCPUTime()
			for b.Loop() {
				if err := FromFloat32(dst, src, d); err != nil {
					b.Fatal(err)
				}
			}
			reportCPUThroughput(b, 4*benchN, cpu0)
		})
	}
}

// BenchmarkF8ToF32 measures ToFloat32 from the float8 types: E4M3 4160, E5M2 3270 MB
// of float32 output per CPU-second (as BenchmarkF32ToF8).
func BenchmarkF8ToF32(b *testing.B) {
	src, dst := make([]byte, benchN), make([]float32, benchN)
	for i := range src {
		src[i] = byte(i)
	}
	for _, d := range []DType{F8E4M3, F8E5M2} {
		b.Run(d.String(), func(b *testing.B) {
			b.SetBytes(4 * benchN)
			cpu0 := processCPUTime()
			for b.Loop() {
				if err := ToFloat32(dst, src, d); err != nil {
					b.Fatal(err)
				}
			}
			reportCPUThroughput(b, 4*benchN, cpu0)
		})
	}
}
