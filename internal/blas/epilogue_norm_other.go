//go:build !amd64 || purego

package blas

func sum64Vec(s []float32) (float64, bool) { return 0, false }

func sqDev64Vec(s []float32, mean float64) (float64, bool) { return 0, false }

func normAffineVec(dst, src, scale, bias []float32, mean, inv float64) int { return 0 }
