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

// MaxPairs sets dst[i] to the larger key (byte ^ flip) of src[2i] and src[2i+1]: the
// horizontal half of a 2x2, stride-2 max pool, over a whole plane of even width at
// once (flip 0x80 orders int8 bytes as their values). src holds at least 2*len(dst)
// bytes.
func MaxPairs(dst, src []byte, flip byte) {
	src = src[:2*len(dst)]
	n := maxPairsVec(dst, src, flip)
	f := int32(flip)
	for i := n; i < len(dst); i++ {
		dst[i] = uint8(Max8(int32(src[2*i])^f, int32(src[2*i+1])^f))
	}
}

// Max8 is max(a, b) for 0 <= a, b < 256 without a branch (the compiler's max
// branches, and random data mispredicts): d>>31 is all ones exactly when a < b.
func Max8(a, b int32) int32 {
	d := a - b
	return a - d&(d>>31)
}

// MaxBytes sets dst[i] = max(a[i], b[i]) (as uint8). dst may be a or b, or overlap
// them at a lower address (each vector is read before it is written). a and b hold
// at least len(dst) bytes.
func MaxBytes(dst, a, b []byte) {
	a, b = a[:len(dst)], b[:len(dst)]
	n := maxBytesVec(dst, a, b)
	for i := n; i < len(dst); i++ {
		dst[i] = uint8(Max8(int32(a[i]), int32(b[i])))
	}
}
