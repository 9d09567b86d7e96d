//go:build amd64 && !purego

package blas

import "testing"

// TestFMARowKernels runs each assembly path this CPU has, whatever the dispatch picks.
func TestFMARowKernels(t *testing.T) {
	saved512, saved2 := hasFMARowAVX512, hasFMARowAVX2
	defer func() { hasFMARowAVX512, hasFMARowAVX2 = saved512, saved2 }()
	if saved512 {
		hasFMARowAVX512, hasFMARowAVX2 = true, false
		t.Run("avx512", func(t *testing.T) { testFMARow(t, FMARow) })
	}
	if saved2 {
		hasFMARowAVX512, hasFMARowAVX2 = false, true
		t.Run("avx2", func(t *testing.T) { testFMARow(t, FMARow) })
	}
}
