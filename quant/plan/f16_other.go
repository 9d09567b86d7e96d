//go:build !amd64

package plan

import "github.com/refit-ml/refit/tensor"

func convertF16(dst []float32, src []byte) { tensor.ConvertF16ToF32(dst, src) }
