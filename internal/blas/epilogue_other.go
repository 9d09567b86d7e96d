//go:build !amd64 || purego

package blas

func biasReluVec(s []float32, b float32, relu bool) int { return 0 }

func maxPool2x2Vec(out, r0, r1 []float32) int { return 0 }

func maxPool2x2RowsVec(out, src []float32, w, rows, ow int) bool { return false }

func maxPool3s2Vec(out, src []float32, w, rows, avail int) int { return 0 }

func expShiftedVec(dst, src []float32, shift float32) (int, float32) { return 0, 0 }

func quantize8Vec(dst []byte, src []float32, s, lo, hi, z float32, signed bool) int { return 0 }

func setVectorEpilogues(on bool) bool { return false }

func arithVec(dst, a, b []float32, op int) int { return 0 }

func biasRows16Vec(c []float32, ldc, rows int, bias []float32, relu bool) bool { return false }

func biasKernelFor(k *microKernel) biasKernelFunc { return nil }
