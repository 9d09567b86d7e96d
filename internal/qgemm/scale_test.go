package qgemm

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestScale compares Scale (vector and scalar parts, every length mod 8) with the
// unfused float32 operations, bit for bit, including -0 products and large sums.
func TestScale(t *testing.T) {
	saved := scaleUseAVX2
	defer func() { scaleUseAVX2 = saved }()
	for _, vec := range []bool{saved, false} {
		scaleUseAVX2 = vec
		testScale(t)
	}
}

func testScale(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	for n := 0; n < 40; n++ {
		src := make([]int32, n)
		for i := range src {
			src[i] = int32(r.Uint32()) >> uint(r.IntN(31))
			if i%5 == 0 {
				src[i] = 0
			}
		}
		for _, k := range []float32{0.0123, -0.5, 3} {
			for _, bias := range []bool{false, true} {
				off, b := int32(r.IntN(200)-100), float32(0.25)
				if n%3 == 0 {
					off = 0
				}
				dst := make([]float32, n)
				Scale(dst, src, off, k, b, bias)
				for i, v := range src {
					want := float32(v+off) * k
					if bias {
						want = float32(want) + b
					}
					if math.Float32bits(dst[i]) != math.Float32bits(want) {
						t.Fatalf("n=%d k=%v bias=%v: dst[%d] = %v, want %v", n, k, bias, i, dst[i], want)
					}
				}
			}
		}
	}
}

// TestDequantize compares Dequantize (vector and scalar parts) with the scalar
// float32 operations bit for bit, for uint8 and int8.
func TestDequantize(t *testing.T) {
	saved := scaleUseAVX2
	defer func() { scaleUseAVX2 = saved }()
	r := rand.New(rand.NewPCG(3, 3))
	for _, vec := range []bool{saved, false} {
		scaleUseAVX2 = vec
		for n := 0; n < 40; n++ {
			src := make([]byte, n)
			for i := range src {
				src[i] = byte(r.Uint32())
			}
			for _, signed := range []bool{false, true} {
				for _, zs := range [][2]float32{{0, 0.1}, {128, 0.0123}, {-7, -3}} {
					dst := make([]float32, n)
					Dequantize(dst, src, signed, zs[0], zs[1])
					for i, v := range src {
						x := float32(v)
						if signed {
							x = float32(int8(v))
						}
						want := (x - zs[0]) * zs[1]
						if math.Float32bits(dst[i]) != math.Float32bits(want) {
							t.Fatalf("n=%d signed=%v %v: dst[%d] = %v, want %v", n, signed, zs, i, dst[i], want)
						}
					}
				}
			}
		}
	}
}
