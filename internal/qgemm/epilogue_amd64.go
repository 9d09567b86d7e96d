//go:build amd64 && !purego

package qgemm

// rangeAVX2 computes per-lane minima and maxima (from +0, NaNs skipped) of n
// floats, n a multiple of 32.
//
//go:noescape
func rangeAVX2(xs *float32, n int, lo, hi *[8]float32)

// fixAVX2 is fix over n columns, n a multiple of 8 (zb nil when every zb is 0).
//
//go:noescape
func fixAVX2(c *int32, n int, za, rowSum int32, colAdj, zb *int32)

// rangeVec folds the longest multiple of 32 leading floats into lo and hi and
// returns how many it read.
func rangeVec(xs []float32, lo, hi *[8]float32) int {
	n := len(xs) &^ 31
	if !scaleUseAVX2 || n == 0 {
		return 0
	}
	rangeAVX2(&xs[0], n, lo, hi)
	return n
}

// fixVec applies fix to the longest multiple of 8 leading columns and returns how
// many.
func fixVec(c []int32, rowSum, za int32, zb, colAdj []int32, zbZero bool) int {
	n := len(c) &^ 7
	if !scaleUseAVX2 || n == 0 {
		return 0
	}
	var pzb *int32
	if !zbZero {
		pzb = &zb[0]
	}
	fixAVX2(&c[0], n, za, rowSum, &colAdj[0], pzb)
	return n
}

// maxPairsAVX2 is MaxPairs over n outputs, n a multiple of 32.
//
//go:noescape
func maxPairsAVX2(dst, src *byte, n int, flip byte)

func maxPairsVec(dst, src []byte, flip byte) int {
	n := len(dst) &^ 31
	if !scaleUseAVX2 || n == 0 {
		return 0
	}
	maxPairsAVX2(&dst[0], &src[0], n, flip)
	return n
}

// maxBytesAVX2 is MaxBytes over n bytes, n a multiple of 32.
//
//go:noescape
func maxBytesAVX2(dst, a, b *byte, n int)

func maxBytesVec(dst, a, b []byte) int {
	n := len(dst) &^ 31
	if !scaleUseAVX2 || n == 0 {
		return 0
	}
	maxBytesAVX2(&dst[0], &a[0], &b[0], n)
	return n
}
