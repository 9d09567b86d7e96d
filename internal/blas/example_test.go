package blas_test

import (
	"fmt"

	"github.com/refit-ml/refit/internal/blas"
)

func ExampleSgemm() {
	a := []float32{ // 2 x 3
		1, 2, 3,
		4, 5, 6,
	}
	b := []float32{ // 3 x 2
		1, 0,
		0, 1,
		1, 1,
	}
	c := make([]float32, 2*2)
	blas.Sgemm(0, false, false, 2, 2, 3, 1, a, 3, b, 2, 0, c, 2)
	fmt.Println(c)
	// Output: [4 5 10 11]
}

// A convolution computed as W * im2col packs its constant weights W once.
func ExamplePackA() {
	w := []float32{ // 2 output channels x 3 (input channels x kernel taps)
		1, 1, 1,
		1, 0, -1,
	}
	packed := blas.PackA(false, 2, 3, w, 3)
	cols := []float32{ // 3 x 4 pixels
		1, 2, 3, 4,
		0, 0, 0, 0,
		1, 1, 1, 1,
	}
	out := make([]float32, 2*4)
	blas.SgemmPackedA(0, packed, false, 4, 1, cols, 4, 0, out, 4)
	fmt.Println(out)
	// Output: [2 3 4 5 0 1 2 3]
}
