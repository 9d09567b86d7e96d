package prune

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// magnitudeBySort is the definition MagnitudeKernel must match: a stable sort by |x|.
func magnitudeBySort(dst, src []float32, k int) {
	copy(dst, src)
	idx := make([]int, len(src))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		x, y := abs32(src[a]), abs32(src[b])
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	})
	for _, i := range idx[:k] {
		dst[i] = 0
	}
}

func TestMagnitudeKernelMatchesStableSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	for trial := range 200 {
		n := 1 + rng.IntN(300)
		src := make([]float32, n)
		levels := 1 + rng.IntN(8) // few distinct magnitudes: many ties
		for i := range src {
			src[i] = float32(rng.IntN(levels)) * []float32{-1, 1}[rng.IntN(2)]
			if trial%2 == 0 {
				src[i] = float32(rng.NormFloat64())
			}
		}
		k := rng.IntN(n + 1)
		got, want := make([]float32, n), make([]float32, n)
		MagnitudeKernel(got, src, k)
		magnitudeBySort(want, src, k)
		if !slices.Equal(got, want) {
			t.Fatalf("trial %d (n %d, k %d): MagnitudeKernel = %v, want %v (src %v)", trial, n, k, got, want, src)
		}
	}
}
