//go:build !amd64

package tensor

func convertF32ToF16(dst []byte, src []float32) { ConvertF32ToF16(dst, src) }
