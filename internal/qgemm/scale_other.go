//go:build !amd64 || purego

package qgemm

func scaleVec(dst []float32, src []int32, off int32, k, b float32, bias bool) int { return 0 }

var scaleUseAVX2 = false

func dequantizeVec(dst []float32, src []byte, signed bool, z, s float32) int { return 0 }

func rangeVec(xs []float32, lo, hi *[8]float32) int { return 0 }

func fixVec(c []int32, rowSum, za int32, zb, colAdj []int32, zbZero bool) int { return 0 }

func maxPairsVec(dst, src []byte, flip byte) int { return 0 }

func requantVec(dst []byte, src []int32, rows, chunks, dstStride, stride int, p *requantParams) bool {
	return false
}

func maxBytesVec(dst, a, b []byte) int { return 0 }
