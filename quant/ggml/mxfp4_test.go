package ggml

import (
	"math"
	"math/rand/v2"
	"testing"
)

// bestIndexMXFP4Scan is ggml's best_index_mxfp4 as written: all 16 levels in order.
func bestIndexMXFP4Scan(x, e float32) uint8 {
	best := 0
	bestErr := fabsf(float32(float32(kvaluesMXFP4[0])*e) - x)
	for i := 1; i < 16; i++ {
		if err := fabsf(float32(float32(kvaluesMXFP4[i])*e) - x); err < bestErr {
			best, bestErr = i, err
		}
	}
	return uint8(best)
}

// TestBestIndexMXFP4 checks the shortcut search against the full scan, including
// midpoints, values far outside the block's range, infinities, NaN and every scale.
func TestBestIndexMXFP4(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	specials := []float32{0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)),
		float32(math.NaN()), math.MaxFloat32, -math.MaxFloat32, math.SmallestNonzeroFloat32}
	for e := range 256 {
		d := e8m0Half(uint8(e))
		var l mxfp4Levels
		newMXFP4Levels(&l, d)
		xs := append([]float32(nil), specials...)
		for _, m := range l.mid {
			mid := float32(m)
			xs = append(xs, mid, -mid, math.Nextafter32(mid, 0), math.Nextafter32(mid, 100*mid+1), -math.Nextafter32(mid, 0))
		}
		for range 400 {
			v := float32(r.NormFloat64()*8) * d
			if r.IntN(10) == 0 {
				v = float32(r.NormFloat64() * math.Pow(2, float64(r.IntN(300)-150)))
			}
			xs = append(xs, v)
		}
		for _, x := range xs {
			if got, want := bestIndexMXFP4(&l, x), bestIndexMXFP4Scan(x, d); got != want {
				t.Fatalf("bestIndexMXFP4(x=%g, e=%d) = %d, want %d", x, e, got, want)
			}
		}
	}
}
