//go:build !amd64 || purego

package blas

func fmaRowVec(dst, src []float32, v float32) int { return 0 }
