package blas

import (
	"math/rand/v2"
	"testing"
)

// TestPackA16 checks the vector packing of sixteen rows against the definition for
// widths around the 8-column blocks and strides wider than the packed columns.
func TestPackA16(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, k := range []int{1, 7, 8, 9, 16, 31, 32, 33, 256} {
		for _, extra := range []int{0, 3} {
			lda := k + 5 + extra
			row, pc := 2, 5
			a := make([]float32, (row+16)*lda)
			for i := range a {
				a[i] = rng.Float32()
			}
			strip := make([]float32, 16*k)
			packA16(strip, a, lda, row, pc, k)
			for p := 0; p < k; p++ {
				for i := 0; i < 16; i++ {
					if got, want := strip[p*16+i], a[(row+i)*lda+pc+p]; got != want {
						t.Fatalf("kc %d: strip[%d*16+%d] = %v, want %v", k, p, i, got, want)
					}
				}
			}
		}
	}
}

// BenchmarkPackA16Strip packs a 16x256 strip of a 128x256 matrix (the transformer's
// activations). On the 2-core AMD EPYC (Zen 4) dev VM, load 12: 1.0-1.6 µs with the
// AVX2 transposes, 4.5 µs in Go (GODEBUG=cpu.avx2=off).
func BenchmarkPackA16Strip(b *testing.B) {
	const kc, lda = 256, 256
	a := make([]float32, 16*lda)
	strip := make([]float32, 16*kc)
	b.SetBytes(16 * kc * 4)
	for b.Loop() {
		packA16(strip, a, lda, 0, 0, kc)
	}
}
