package prune

import (
	"math"
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

// TestKthMagnitudeMatchesSort checks the counting selection over several pieces
// against sorting all magnitudes, as global pruning used to.
func TestKthMagnitudeMatchesSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 2))
	for trial := range 100 {
		pieces := make([][]float32, 1+rng.IntN(4))
		var all []float32
		for p := range pieces {
			pieces[p] = make([]float32, rng.IntN(200))
			for i := range pieces[p] {
				x := float32(rng.NormFloat64())
				if trial%2 == 1 {
					x = float32(rng.IntN(5)-2) * 0.5 // ties and zeros
				}
				pieces[p][i] = x
				all = append(all, abs32(x))
			}
		}
		if len(all) == 0 {
			continue
		}
		slices.Sort(all)
		k := 1 + rng.Int64N(int64(len(all)))
		want := all[k-1]
		var wantBelow int64
		for _, a := range all {
			if a < want {
				wantBelow++
			}
		}
		key, below, err := kthMagnitude(k, func(fn func([]float32)) error {
			for _, p := range pieces {
				fn(p)
			}
			return nil
		})
		if err != nil || math.Float32frombits(key) != want || below != wantBelow {
			t.Fatalf("trial %d, k %d: kthMagnitude = %g, %d below, %v; want %g, %d", trial, k, math.Float32frombits(key), below, err, want, wantBelow)
		}
	}
}
