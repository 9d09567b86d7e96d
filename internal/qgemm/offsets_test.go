package qgemm

import (
	"math/rand/v2"
	"testing"
)

// TestGemmOffsets checks products with B read in place at per-group offsets (the
// layout of a direct convolution, overlapping windows included) against the
// definition, with every kernel, extreme bytes, partial tiles and strips, and 1 and 3
// threads.
func TestGemmOffsets(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, k := range kernels() {
		for _, sz := range [][3]int{{8, 32, 4}, {16, 196, 144}, {5, 33, 36}, {32, 224, 36}, {9, 1, 8}, {70, 65, 260}} {
			m, n, kk := sz[0], sz[1], sz[2]
			kg := kk / 4
			for variant := 0; variant < 3; variant++ {
				aSigned := variant != 2 // variant 2: uint8 A flipped, zero point 128
				a := randBytes(r, m*kk)
				za := []int32{0}
				if !aSigned {
					za = []int32{128}
				}
				tiles := (n + 31) / 32
				// Each group reads from its own offset, some of them overlapping,
				// as a convolution's taps do.
				offs := make([]int, kg)
				for g := range offs {
					offs[g] = 4 * r.IntN(3*n+1)
				}
				maxOff := 0
				for _, o := range offs {
					maxOff = max(maxOff, o)
				}
				src := randBytes(r, maxOff+tiles*128)
				if variant == 0 {
					for i := range a {
						a[i] = 0x80 // -128 x 255: the largest products
					}
					for i := range src {
						src[i] = 255
					}
				}
				b := make([]byte, kk*n)
				for p := 0; p < kk; p++ {
					for j := 0; j < n; j++ {
						b[p*n+j] = src[offs[p/4]+4*j+p%4]
					}
				}
				zb := int32(r.IntN(256))
				want := naive(m, n, kk, a, aSigned, za, b, true, []int32{zb})
				pa := PackA(m, kk, a, kk, aSigned, false)
				if !pa.OffsetsOK(za) {
					t.Fatalf("OffsetsOK(%v) = false for A signed %v", za, aSigned)
				}
				for _, threads := range []int{1, 3} {
					ldc := n + 5
					c := make([]int32, m*ldc)
					withKernel(t, k, func() { GemmOffsets(threads, pa, src, offs, zb, n, c, ldc) })
					for i := 0; i < m; i++ {
						for j := 0; j < ldc; j++ {
							w := int32(0)
							if j < n {
								w = want[i*n+j]
							}
							if c[i*ldc+j] != w {
								t.Fatalf("%s %v variant %d threads %d: c[%d,%d] = %d, want %d", k.name, sz, variant, threads, i, j, c[i*ldc+j], w)
							}
						}
					}
				}
			}
		}
	}
	// A with a nonzero zero point (after the flip) would need B's column sums.
	if PackA(8, 4, make([]byte, 32), 4, true, false).OffsetsOK([]int32{1}) {
		t.Error("OffsetsOK accepts a nonzero zero point of A")
	}
	if PackA(8, 4, make([]byte, 32), 4, false, true).OffsetsOK([]int32{128}) {
		t.Error("OffsetsOK accepts A packed as uint8")
	}
}
