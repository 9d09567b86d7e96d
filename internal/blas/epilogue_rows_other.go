//go:build !amd64 || purego

package blas

func maxVec(s []float32) (float32, int) { return negInf, 0 }

func scalarOpVec(dst, src []float32, f float32, div bool) int { return 0 }
