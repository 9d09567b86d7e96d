package blas

import "math"

// fmaRowGo is FMARow in Go: the product of two float32 values is exact in float64,
// and math.FMA rounds the sum once; the conversion back to float32 rounds again,
// which differs from a float32 fused multiply-add only when the float64 sum lands
// exactly halfway between two float32 values (rare, and then by one ulp).
func fmaRowGo(dst, src []float32, v float32) {
	src = src[:len(dst)]
	for i, s := range src {
		dst[i] = float32(math.FMA(float64(v), float64(s), float64(dst[i])))
	}
}
