package plan

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/refit-ml/refit/tensor"
)

// TestConvertF16 checks the fast conversion against tensor.ConvertF16ToF32 bit for bit
// over every binary16 value, and at lengths that leave a scalar tail.
func TestConvertF16(t *testing.T) {
	src := make([]byte, 2*65536)
	for h := range 65536 {
		binary.LittleEndian.PutUint16(src[2*h:], uint16(h))
	}
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{65536, 65535, 7, 1, 0, 1000 + r.IntN(100)} {
		off := 2 * r.IntN(65536-n+1)
		got, want := make([]float32, n), make([]float32, n)
		convertF16(got, src[off:off+2*n])
		tensor.ConvertF16ToF32(want, src[off:off+2*n])
		for i := range got {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("n %d: half %#04x: got %#08x, want %#08x", n, binary.LittleEndian.Uint16(src[off+2*i:]),
					math.Float32bits(got[i]), math.Float32bits(want[i]))
			}
		}
	}
}

// TestConvertBF16 checks the vector widening against tensor.ConvertBF16ToF32 bit for
// bit over every bfloat16 value, at lengths that leave a tail.
func TestConvertBF16(t *testing.T) {
	src := make([]byte, 2*65536)
	for h := range 65536 {
		binary.LittleEndian.PutUint16(src[2*h:], uint16(h))
	}
	for _, n := range []int{65536, 65533, 9, 1, 0} {
		got, want := make([]float32, n), make([]float32, n)
		convertBF16(got, src[:2*n])
		tensor.ConvertBF16ToF32(want, src[:2*n])
		for i := range got {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("n %d: bf16 %#04x: got %#08x, want %#08x", n, i, math.Float32bits(got[i]), math.Float32bits(want[i]))
			}
		}
	}
}
