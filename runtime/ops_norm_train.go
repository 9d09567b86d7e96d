package runtime

import (
	"fmt"
	"math"

	"github.com/refit-ml/refit/tensor"
)

// batchNormTraining is BatchNormalization with training_mode=1 (opset 14+): it
// normalizes with the batch statistics and returns the running mean and variance
// updated with momentum. It is deterministic; only the statistics source differs.
func batchNormTraining(c *Call, in [][]float32, eps float64) ([]*Value, error) {
	x := c.Input(0)
	if x.Rank() < 2 {
		return nil, fmt.Errorf("input X %v must be [N, C, ...]", x)
	}
	momentum, err := c.Node.Float("momentum", 0.9)
	if err != nil {
		return nil, err
	}
	N, C := int(x.Shape[0]), int(x.Shape[1])
	if err := channelParams(c, 1, 5, C); err != nil {
		return nil, err
	}
	size := x.Len() / max(N*C, 1)
	count := float64(N * size)
	xs := in[0]
	scale, bias, runMean, runVar := in[1], in[2], in[3], in[4]
	out, err := c.Alloc(tensor.F32, x.Shape)
	if err != nil {
		return nil, err
	}
	outMean, err := c.Alloc(tensor.F32, []int64{int64(C)})
	if err != nil {
		return nil, err
	}
	outVar, err := c.Alloc(tensor.F32, []int64{int64(C)})
	if err != nil {
		return nil, err
	}
	ys, om, ov := out.Data.([]float32), outMean.Data.([]float32), outVar.Data.([]float32)
	m := float64(momentum)
	for ch := 0; ch < C; ch++ {
		var sum float64
		for n := 0; n < N; n++ {
			for _, v := range xs[(n*C+ch)*size : (n*C+ch+1)*size] {
				sum += float64(v)
			}
		}
		mean := sum / count
		var sq float64
		for n := 0; n < N; n++ {
			for _, v := range xs[(n*C+ch)*size : (n*C+ch+1)*size] {
				d := float64(v) - mean
				sq += d * d
			}
		}
		variance := sq / count
		k := float64(scale[ch]) / math.Sqrt(variance+eps)
		for n := 0; n < N; n++ {
			base := (n*C + ch) * size
			for i, v := range xs[base : base+size] {
				ys[base+i] = float32((float64(v)-mean)*k + float64(bias[ch]))
			}
		}
		om[ch] = float32(float64(runMean[ch])*m + mean*(1-m))
		ov[ch] = float32(float64(runVar[ch])*m + variance*(1-m))
	}
	return []*Value{out, outMean, outVar}, nil
}
