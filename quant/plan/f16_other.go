//go:build !amd64 || purego

package plan

import "github.com/refit-ml/refit/tensor"

func convertF16(dst []float32, src []byte) { tensor.ConvertF16ToF32(dst, src) }

var haveDiffAVX2 = false

func diffAVX2(a, b *float32, n int, out *[4]float64) { panic("unreachable") }

var haveFusedDiff = false

func q80DiffAVX2(a *float32, y *byte, nb int, out *[4]float64) { panic("unreachable") }

func q40DiffAVX2(a *float32, y *byte, nb int, out *[4]float64) { panic("unreachable") }

func convertBF16(dst []float32, src []byte) { convertBF16Go(dst, src) }

func q6kDiffAVX2(a *float32, y *byte, nb int, out *[4]float64) { panic("unreachable") }
