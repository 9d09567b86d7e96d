package qgemm

import (
	"math/rand/v2"
	"testing"

	"github.com/refit-ml/refit/internal/blas"
)

// TestRequantize compares Requantize with Scale followed by blas.Quantize8 (the
// unfused epilogue) row by row: uint8 and int8 outputs, with and without a float
// bias, an int32 offset, sums that saturate both ways, and row lengths and strides
// around the vector width (including rows shorter than a chunk).
func TestRequantize(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	for _, shape := range [][3]int{{1, 1, 1}, {1, 7, 7}, {3, 14, 16}, {28, 28, 30}, {5, 3, 4}, {4, 9, 9}, {2, 40, 41}, {6, 5, 5}} {
		rows, rowLen, stride := shape[0], shape[1], shape[2]
		for variant := 0; variant < 4; variant++ {
			signed, bias := variant&1 != 0, variant&2 != 0
			src := make([]int32, (rows-1)*stride+rowLen+8)
			for i := range src {
				src[i] = int32(r.IntN(40000)) - 20000
			}
			off := int32(r.IntN(200)) - 100
			k := float32(0.001 + r.Float64()*0.01)
			var b float32
			if bias {
				b = float32(r.NormFloat64())
			}
			s := float32(0.02 + r.Float64()*0.1)
			if shape[0]%2 == 0 {
				s = 1 // QLinearConv's scale: the division is skipped
			}
			if shape[0] == 3 || shape[0] == 5 {
				// Exact ties: y = acc*s/2 (exact), y/s = acc/2 is k+0.5 for every
				// odd acc, where a multiplication by 1/s would miss some (2.5 ->
				// 2.5000002 for acc 5).
				s = 0.0146484375 // 15/1024
				k, b, off = s/2, 0, 0
				for i := range src {
					src[i] = int32(r.IntN(1000)) - 500
				}
			}
			lo, hi, z := int32(0), int32(255), int32(r.IntN(256))
			if signed {
				lo, hi, z = -128, 127, int32(r.IntN(256))-128
			}
			want := make([]byte, rows*rowLen)
			tmp := make([]float32, rowLen)
			for i := 0; i < rows; i++ {
				Scale(tmp, src[i*stride:i*stride+rowLen], off, k, b, bias)
				blas.Quantize8(want[i*rowLen:(i+1)*rowLen], tmp, s, lo, hi, z, signed)
			}
			got := make([]byte, rows*rowLen+8)
			Requantize(got, src, rows, rowLen, stride, off, k, b, s, lo, hi, z, signed)
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("%v variant %d: byte %d = %d, want %d", shape, variant, i, got[i], want[i])
				}
			}
			for i := len(want); i < len(got); i++ {
				if got[i] != 0 {
					t.Fatalf("%v variant %d: wrote byte %d past the output", shape, variant, i)
				}
			}
		}
	}
}
