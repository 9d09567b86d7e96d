//go:build !amd64 || purego

package blas

func packA16Vec(strip, a []float32, lda, row, pc, kc int) int { return 0 }
