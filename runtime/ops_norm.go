package runtime

import (
	"fmt"
	"math"

	"github.com/refit-ml/refit/internal/parallel"
	"github.com/refit-ml/refit/tensor"
)

// Normalization: BatchNormalization (inference), InstanceNormalization,
// LayerNormalization, GroupNormalization, LRN.

func init() {
	Register(Op{Type: "BatchNormalization", Since: 1, Kernel: batchNormKernel, ViaFloat32: true})
	Register(Op{Type: "InstanceNormalization", Since: 1, Kernel: instanceNormKernel, ViaFloat32: true})
	Register(Op{Type: "LayerNormalization", Since: 17, Kernel: layerNormKernel, ViaFloat32: true})
	Register(Op{Type: "GroupNormalization", Since: 18, Kernel: groupNormKernel, ViaFloat32: true})
	Register(Op{Type: "LRN", Since: 1, Kernel: lrnKernel, ViaFloat32: true})
	Register(Op{Type: "MeanVarianceNormalization", Since: 9, Kernel: mvnKernel, ViaFloat32: true})
}

func floatInputs(c *Call, n int) ([][]float32, error) {
	out := make([][]float32, n)
	for i := 0; i < n; i++ {
		v := c.Input(i)
		if v == nil {
			return nil, fmt.Errorf("input %d is required", i)
		}
		s, ok := v.Data.([]float32)
		if !ok {
			return nil, fmt.Errorf("input %d must be float32, have %v", i, v.DType)
		}
		out[i] = s
	}
	return out, nil
}

// channelParams checks per-channel parameter vectors of length C.
func channelParams(c *Call, from, to, channels int) error {
	for i := from; i < to; i++ {
		if v := c.Input(i); v.Len() != channels {
			return fmt.Errorf("input %d %v must hold %d values", i, v, channels)
		}
	}
	return nil
}

func batchNormKernel(c *Call) ([]*Value, error) {
	x := c.Input(0)
	in, err := floatInputs(c, 5)
	if err != nil {
		return nil, err
	}
	var a attrs
	eps := float64(a.float(c.Node, "epsilon", 1e-5))
	training := a.int(c.Node, "training_mode", 0)
	if c.Opset < 7 && a.int(c.Node, "is_test", 0) == 0 && len(c.Node.Outputs) > 1 {
		training = 1
	}
	if a.err != nil {
		return nil, a.err
	}
	if training != 0 && c.Opset >= 14 {
		return batchNormTraining(c, in, eps)
	}
	if training != 0 {
		return nil, fmt.Errorf("training-mode BatchNormalization before opset 14: %w", errUnsupported)
	}
	if len(x.Shape) < 2 {
		return nil, fmt.Errorf("input X %v must be [N, C, ...]", x)
	}
	N, C := int(x.Shape[0]), int(x.Shape[1])
	if err := channelParams(c, 1, 5, C); err != nil {
		return nil, err
	}
	size := x.Len() / max(N*C, 1)
	scale, bias, mean, variance := in[1], in[2], in[3], in[4]
	out, err := c.Alloc(tensor.F32, x.Shape)
	if err != nil {
		return nil, err
	}
	xs, ys := in[0], out.Data.([]float32)
	parallel.For(c.Threads(), N*C, 1, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			ch := p % C
			k := float32(float64(scale[ch]) / math.Sqrt(float64(variance[ch])+eps))
			b := bias[ch] - mean[ch]*k
			src, dst := xs[p*size:(p+1)*size], ys[p*size:(p+1)*size]
			for i, v := range src {
				dst[i] = v*k + b
			}
		}
	})
	return []*Value{out}, nil
}

// normalize standardizes each of groups consecutive blocks of xs into ys.
func normalize(threads int, ys, xs []float32, groups int, eps float64) (means, invStd []float64) {
	return normalizeAffine(threads, ys, xs, groups, eps, nil, nil)
}

// normalizeAffine is normalize followed by y = y*scale + bias (bias may be nil) in the
// same pass, with scale and bias as long as a group; nil scale means none.
func normalizeAffine(threads int, ys, xs []float32, groups int, eps float64, scale, bias []float32) (means, invStd []float64) {
	size := len(xs) / max(groups, 1)
	means, invStd = make([]float64, groups), make([]float64, groups)
	parallel.For(threads, groups, 1, func(lo, hi int) {
		for g := lo; g < hi; g++ {
			src, dst := xs[g*size:(g+1)*size], ys[g*size:(g+1)*size]
			mean := sum64(src) / float64(size)
			inv := 1 / math.Sqrt(sqDev64(src, mean)/float64(size)+eps)
			switch {
			case scale == nil:
				for i, v := range src {
					dst[i] = float32((float64(v) - mean) * inv)
				}
			case bias == nil:
				sc := scale[:len(src)]
				for i, v := range src {
					dst[i] = float32((float64(v)-mean)*inv) * sc[i]
				}
			default:
				sc, b := scale[:len(src)], bias[:len(src)]
				for i, v := range src {
					// The conversion keeps the product rounded before the sum (no FMA).
					dst[i] = float32(float32((float64(v)-mean)*inv)*sc[i]) + b[i]
				}
			}
			means[g], invStd[g] = mean, inv
		}
	})
	return means, invStd
}

// sum64 adds s in float64 with four running sums, so the additions do not wait on
// each other.
func sum64(s []float32) float64 {
	var a, b, c, d float64
	for len(s) >= 4 {
		a += float64(s[0])
		b += float64(s[1])
		c += float64(s[2])
		d += float64(s[3])
		s = s[4:]
	}
	for _, v := range s {
		a += float64(v)
	}
	return (a + b) + (c + d)
}

// sqDev64 is the sum of (v - mean)^2 over s, in float64 with four running sums.
func sqDev64(s []float32, mean float64) float64 {
	var a, b, c, d float64
	for len(s) >= 4 {
		x0, x1, x2, x3 := float64(s[0])-mean, float64(s[1])-mean, float64(s[2])-mean, float64(s[3])-mean
		a += x0 * x0
		b += x1 * x1
		c += x2 * x2
		d += x3 * x3
		s = s[4:]
	}
	for _, v := range s {
		x := float64(v) - mean
		a += x * x
	}
	return (a + b) + (c + d)
}

func instanceNormKernel(c *Call) ([]*Value, error) {
	x := c.Input(0)
	in, err := floatInputs(c, 3)
	if err != nil {
		return nil, err
	}
	eps, err := c.Node.Float("epsilon", 1e-5)
	if err != nil {
		return nil, err
	}
	if len(x.Shape) < 2 {
		return nil, fmt.Errorf("input X %v must be [N, C, ...]", x)
	}
	N, C := int(x.Shape[0]), int(x.Shape[1])
	if err := channelParams(c, 1, 3, C); err != nil {
		return nil, err
	}
	out, err := c.Alloc(tensor.F32, x.Shape)
	if err != nil {
		return nil, err
	}
	ys := out.Data.([]float32)
	normalize(c.Threads(), ys, in[0], N*C, float64(eps))
	size := x.Len() / max(N*C, 1)
	for p := 0; p < N*C; p++ {
		s, b := in[1][p%C], in[2][p%C]
		seg := ys[p*size : (p+1)*size]
		for i := range seg {
			seg[i] = seg[i]*s + b
		}
	}
	return []*Value{out}, nil
}

func layerNormKernel(c *Call) ([]*Value, error) {
	x := c.Input(0)
	in, err := floatInputs(c, 2)
	if err != nil {
		return nil, err
	}
	var a attrs
	axis64 := a.int(c.Node, "axis", -1)
	eps := a.float(c.Node, "epsilon", 1e-5)
	if a.err != nil {
		return nil, a.err
	}
	axis, err := normAxis(axis64, len(x.Shape))
	if err != nil {
		return nil, err
	}
	outer := 1
	for _, d := range x.Shape[:axis] {
		outer *= int(d)
	}
	inner := x.Len() / max(outer, 1)
	normShape := x.Shape[axis:]
	scale := c.Input(1)
	if !broadcastsTo(scale.Shape, normShape) {
		return nil, fmt.Errorf("scale %v does not broadcast to %v", scale, normShape)
	}
	full := func(v *Value) []float32 {
		if v.Len() == inner {
			return v.Data.([]float32)
		}
		t := NewValue(tensor.F32, normShape)
		broadcastValue(c.Threads(), t, v)
		return t.Data.([]float32)
	}
	sc := full(scale)
	var bias []float32
	if b := c.Input(2); b != nil {
		if _, ok := b.Data.([]float32); !ok {
			return nil, fmt.Errorf("bias must be float32")
		}
		if !broadcastsTo(b.Shape, normShape) {
			return nil, fmt.Errorf("bias %v does not broadcast to %v", b, normShape)
		}
		bias = full(b)
	}
	out, err := c.Alloc(tensor.F32, x.Shape)
	if err != nil {
		return nil, err
	}
	ys := out.Data.([]float32)
	means, inv := normalizeAffine(c.Threads(), ys, in[0], outer, float64(eps), sc, bias)
	outs := []*Value{out}
	statShape := make([]int64, len(x.Shape))
	for i := range statShape {
		statShape[i] = 1
		if i < axis {
			statShape[i] = x.Shape[i]
		}
	}
	if len(c.Node.Outputs) > 1 {
		m, err := c.Alloc(tensor.F32, statShape)
		if err != nil {
			return nil, err
		}
		r, err := c.Alloc(tensor.F32, statShape)
		if err != nil {
			return nil, err
		}
		for i := range means {
			m.Data.([]float32)[i] = float32(means[i])
			r.Data.([]float32)[i] = float32(inv[i])
		}
		outs = append(outs, m, r)
	}
	return outs, nil
}

func groupNormKernel(c *Call) ([]*Value, error) {
	x := c.Input(0)
	in, err := floatInputs(c, 3)
	if err != nil {
		return nil, err
	}
	var a attrs
	groups := int(a.int(c.Node, "num_groups", 0))
	eps := a.float(c.Node, "epsilon", 1e-5)
	if a.err != nil {
		return nil, a.err
	}
	if len(x.Shape) < 2 || groups <= 0 || int(x.Shape[1])%groups != 0 {
		return nil, fmt.Errorf("input X %v cannot be split into %d groups", x, groups)
	}
	N, C := int(x.Shape[0]), int(x.Shape[1])
	out, err := c.Alloc(tensor.F32, x.Shape)
	if err != nil {
		return nil, err
	}
	ys := out.Data.([]float32)
	normalize(c.Threads(), ys, in[0], N*groups, float64(eps))
	size := x.Len() / max(N*C, 1)
	// Opset 18 has per-group scale and bias; 21 per-channel.
	perGroup := c.Input(1).Len() == groups && groups != C
	for p := 0; p < N*C; p++ {
		ch := p % C
		k := ch
		if perGroup {
			k = ch / (C / groups)
		}
		if k >= len(in[1]) || k >= len(in[2]) {
			return nil, fmt.Errorf("scale and bias must hold %d or %d values", groups, C)
		}
		seg := ys[p*size : (p+1)*size]
		for i := range seg {
			seg[i] = seg[i]*in[1][k] + in[2][k]
		}
	}
	return []*Value{out}, nil
}

func lrnKernel(c *Call) ([]*Value, error) {
	x := c.Input(0)
	in, err := floatInputs(c, 1)
	if err != nil {
		return nil, err
	}
	var a attrs
	alpha := float64(a.float(c.Node, "alpha", 1e-4))
	beta := float64(a.float(c.Node, "beta", 0.75))
	bias := float64(a.float(c.Node, "bias", 1))
	size := int(a.int(c.Node, "size", 0))
	if a.err != nil {
		return nil, a.err
	}
	if size <= 0 || len(x.Shape) < 2 {
		return nil, fmt.Errorf("size %d must be positive and X %v [N, C, ...]", size, x)
	}
	N, C := int(x.Shape[0]), int(x.Shape[1])
	inner := x.Len() / max(N*C, 1)
	out, err := c.Alloc(tensor.F32, x.Shape)
	if err != nil {
		return nil, err
	}
	xs, ys := in[0], out.Data.([]float32)
	lo, hi := (size-1)/2, size-1-(size-1)/2
	for n := 0; n < N; n++ {
		for ch := 0; ch < C; ch++ {
			for i := 0; i < inner; i++ {
				var sq float64
				for k := max(0, ch-lo); k <= min(C-1, ch+hi); k++ {
					v := float64(xs[(n*C+k)*inner+i])
					sq += v * v
				}
				idx := (n*C+ch)*inner + i
				ys[idx] = float32(float64(xs[idx]) / math.Pow(bias+alpha/float64(size)*sq, beta))
			}
		}
	}
	return []*Value{out}, nil
}

// mvnKernel follows ONNX's function body: (x - E[x]) / (sqrt(E[x^2] - E[x]^2) + 1e-9).
func mvnKernel(c *Call) ([]*Value, error) {
	x := c.Input(0)
	if x == nil || x.DType != tensor.F32 && x.DType != tensor.F64 {
		return nil, fmt.Errorf("needs a float input")
	}
	axes, err := c.Node.Ints("axes", []int64{0, 2, 3})
	if err != nil {
		return nil, err
	}
	reduced := make([]bool, len(x.Shape))
	for _, a := range axes {
		ax, err := normAxis(a, len(x.Shape))
		if err != nil {
			return nil, err
		}
		reduced[ax] = true
	}
	// Group elements by their coordinates on the kept axes.
	st := stridesOf(x.Shape)
	n := x.Len()
	group, err := scratchSlice[int](c, n)
	if err != nil {
		return nil, err
	}
	ng := 1
	for d := range x.Shape {
		if !reduced[d] {
			ng *= int(x.Shape[d])
		}
	}
	for i := 0; i < n; i++ {
		g := 0
		for d := range x.Shape {
			if !reduced[d] {
				g = g*int(x.Shape[d]) + i/st[d]%int(x.Shape[d])
			}
		}
		group[i] = g
	}
	xs, err := c.float64s(x)
	if err != nil {
		return nil, err
	}
	sum, sq, cnt := make([]float64, ng), make([]float64, ng), make([]float64, ng)
	for i, v := range xs {
		sum[group[i]] += v
		sq[group[i]] += v * v
		cnt[group[i]]++
	}
	out, err := c.Alloc(x.DType, x.Shape)
	if err != nil {
		return nil, err
	}
	for i, v := range xs {
		g := group[i]
		mean := sum[g] / cnt[g]
		std := math.Sqrt(max(0, sq[g]/cnt[g]-mean*mean))
		setFloat64(out, i, (v-mean)/(std+1e-9))
	}
	return []*Value{out}, nil
}
