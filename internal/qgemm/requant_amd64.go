//go:build amd64 && !purego

package qgemm

// requantAVX2 is Requantize over rows rows of chunks chunks of 8 sums (row r at
// src + 4*r*stride, written at dst + r*dstStride).
//
//go:noescape
func requantAVX2(dst *byte, src *int32, rows, chunks, dstStride, stride int, p *requantParams)

func requantVec(dst []byte, src []int32, rows, chunks, dstStride, stride int, p *requantParams) bool {
	if !scaleUseAVX2 {
		return false
	}
	requantAVX2(&dst[0], &src[0], rows, chunks, dstStride, stride, p)
	return true
}
