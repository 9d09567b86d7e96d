package qgemm

import (
	"math"
	"math/rand/v2"
	"testing"
)

// naiveRange is DynamicQuantizeLinear's range by definition: min and max of 0 and
// the values that are not NaN.
func naiveRange(xs []float32) (lo, hi float32) {
	for _, v := range xs {
		if v != v {
			continue
		}
		lo, hi = min(lo, v), max(hi, v)
	}
	return lo, hi
}

// TestRange compares Range (vector and scalar paths) with the definition on random
// values, NaNs and infinities at every lane, all-positive and all-negative inputs
// and lengths around the vector width; -0 and +0 compare equal there.
func TestRange(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	for _, n := range []int{0, 1, 7, 31, 32, 33, 64, 100, 1000} {
		for variant := 0; variant < 4; variant++ {
			xs := make([]float32, n)
			for i := range xs {
				xs[i] = float32(r.NormFloat64() * 10)
				switch variant {
				case 1:
					xs[i] = float32(math.Abs(float64(xs[i]))) + 1
				case 2:
					xs[i] = -float32(math.Abs(float64(xs[i]))) - 1
				case 3:
					switch i % 11 {
					case 3:
						xs[i] = nan
					case 5:
						xs[i] = -inf
					case 9:
						xs[i] = float32(math.Copysign(0, -1))
					}
				}
			}
			lo, hi := Range(xs)
			wlo, whi := naiveRange(xs)
			if lo != wlo || hi != whi {
				t.Fatalf("n=%d variant %d: Range = %v, %v, want %v, %v", n, variant, lo, hi, wlo, whi)
			}
		}
	}
}

// TestFix compares the vectorized zero-point correction with the scalar one.
func TestFix(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, n := range []int{1, 8, 13, 32} {
		for _, zbZero := range []bool{false, true} {
			c, colAdj, zb := make([]int32, n), make([]int32, n), make([]int32, n)
			for j := range c {
				c[j], colAdj[j] = r.Int32()>>4, r.Int32()>>12
				if !zbZero {
					zb[j] = int32(r.IntN(256)) - 128
				}
			}
			za, rowSum := int32(r.IntN(256)), int32(r.IntN(1<<16))-1<<15
			want := make([]int32, n)
			for j := range want {
				want[j] = c[j] + za*colAdj[j] - rowSum*zb[j]
			}
			fix(c, rowSum, za, zb, colAdj, zbZero)
			for j := range c {
				if c[j] != want[j] {
					t.Fatalf("n=%d zbZero %v: c[%d] = %d, want %d", n, zbZero, j, c[j], want[j])
				}
			}
		}
	}
}

// TestMaxPairs compares MaxPairs (vector and scalar paths) with the definition for
// uint8 keys and int8 ones (flip 0x80), at lengths around the vector width.
func TestMaxPairs(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	for _, n := range []int{1, 31, 32, 33, 64, 100} {
		for _, flip := range []byte{0, 0x80} {
			src := randBytes(r, 2*n)
			dst := make([]byte, n)
			MaxPairs(dst, src, flip)
			for i := range dst {
				want := max(src[2*i]^flip, src[2*i+1]^flip)
				if dst[i] != want {
					t.Fatalf("n=%d flip %#x: dst[%d] = %d, want %d", n, flip, i, dst[i], want)
				}
			}
		}
	}
}

// TestMaxBytes compares MaxBytes (vector and scalar paths) with the definition,
// including the in-place, shifted use of the max pool (b = a shifted forward).
func TestMaxBytes(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 18))
	for _, n := range []int{1, 31, 32, 33, 100} {
		for _, shift := range []int{0, 7, 14} {
			buf := randBytes(r, n+shift)
			orig := append([]byte(nil), buf...)
			MaxBytes(buf[:n], buf, buf[shift:])
			for i := 0; i < n; i++ {
				if want := max(orig[i], orig[i+shift]); buf[i] != want {
					t.Fatalf("n=%d shift %d: dst[%d] = %d, want %d", n, shift, i, buf[i], want)
				}
			}
		}
	}
}
