//go:build !amd64 || purego

package tensor

func convertF32ToF16(dst []byte, src []float32) { ConvertF32ToF16(dst, src) }

func convertF32ToBF16(dst []byte, src []float32) { ConvertF32ToBF16(dst, src) }
