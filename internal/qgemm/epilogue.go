package qgemm

// Range returns min(0, xs...) and max(0, xs...), NaNs skipped: DynamicQuantizeLinear's
// range. Every lane keeps (x < lane) ? x : lane from +0 (and the same with >), so no
// lane ever holds -0 and the result does not depend on how the values are split
// into lanes.
func Range(xs []float32) (lo, hi float32) {
	var los, his [8]float32
	n := rangeVec(xs, &los, &his)
	for i, v := range xs[n:] {
		if v < los[i%8] {
			los[i%8] = v
		}
		if v > his[i%8] {
			his[i%8] = v
		}
	}
	for i := range los {
		if los[i] < lo {
			lo = los[i]
		}
		if his[i] > hi {
			hi = his[i]
		}
	}
	return lo, hi
}
