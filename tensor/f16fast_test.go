package tensor

import (
	"bytes"
	"math"
	"math/rand/v2"
	"testing"
)

// TestConvertF32ToHalfFast checks the vector conversions against the scalar ones, bit
// for bit, on every rounding region: ties, subnormals, overflow to Inf, NaN payloads.
func TestConvertF32ToHalfFast(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	special := []uint32{0, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0x7f800001, 0xffc00123,
		0x477fefff, 0x477ff000, 0x477ff001, 0x47800000, 0x38800000, 0x387fffff, 0x33000000, 0x33000001,
		0x32ffffff, 0x33800000, 0x3f801000, 0x3f803000, 0x3f800fff, 0x00000001, 0x80000001}
	src := make([]float32, 1<<16+5)
	for i := range src {
		switch {
		case i < len(special):
			src[i] = math.Float32frombits(special[i])
		case i%3 == 0:
			src[i] = math.Float32frombits(rng.Uint32())
		case i%3 == 1:
			src[i] = float32(rng.NormFloat64() * math.Pow(2, float64(rng.IntN(40)-30)))
		case i%6 == 2: // exact ties of the binary16 grid
			src[i] = math.Float32frombits(0x38800000 + uint32(rng.IntN(0x47800000-0x38800000))&^0xfff | 0x1000)
		default: // exact ties of the bfloat16 grid, both parities
			src[i] = math.Float32frombits(rng.Uint32()&^0xffff | 0x8000)
		}
	}
	for _, c := range []struct {
		name       string
		fast, slow func([]byte, []float32)
	}{
		{"F16", convertF32ToF16, ConvertF32ToF16},
		{"BF16", convertF32ToBF16, ConvertF32ToBF16},
	} {
		want := make([]byte, 2*len(src))
		got := make([]byte, 2*len(src))
		c.slow(want, src)
		c.fast(got, src)
		if !bytes.Equal(got, want) {
			for i := range src {
				if got[2*i] != want[2*i] || got[2*i+1] != want[2*i+1] {
					t.Fatalf("%s(%#08x) = %02x%02x, want %02x%02x", c.name, math.Float32bits(src[i]), got[2*i+1], got[2*i], want[2*i+1], want[2*i])
				}
			}
		}
	}
}

type recordingWatcher struct {
	begins, ends int
	src          []float32
	dst          []byte
}

func (w *recordingWatcher) Begin() { w.begins++; w.src, w.dst = nil, nil }
func (w *recordingWatcher) Chunk(src []float32, dst []byte) {
	w.src = append(w.src, src...)
	w.dst = append(w.dst, dst...)
}
func (w *recordingWatcher) End() { w.ends++ }

// TestCastWatched checks that the watcher sees the source values and exactly the
// bytes WriteTo writes, once per WriteTo.
func TestCastWatched(t *testing.T) {
	v := make([]float32, 3*castChunk+7)
	for i := range v {
		v[i] = float32(i)*0.37 - 5
	}
	a, err := NewF32("w", Shape{int64(len(v))}, v)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []DType{F16, BF16, F64} {
		w := &recordingWatcher{}
		c, err := CastWatched(a, d, w)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if _, err := c.WriteTo(&out); err != nil {
			t.Fatal(err)
		}
		if w.begins != 1 || w.ends != 1 {
			t.Errorf("%v: Begin %d, End %d times, want 1", d, w.begins, w.ends)
		}
		if !bytes.Equal(w.dst, out.Bytes()) {
			t.Errorf("%v: watcher saw %d bytes that differ from the %d written", d, len(w.dst), out.Len())
		}
		if len(w.src) != len(v) || w.src[len(v)-1] != v[len(v)-1] {
			t.Errorf("%v: watcher saw %d source values, want %d", d, len(w.src), len(v))
		}
	}
}
