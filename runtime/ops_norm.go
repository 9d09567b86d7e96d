package runtime

import (
	"fmt"
	"math"
	"slices"

	"github.com/refit-ml/refit/internal/blas"
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
			means[g], invStd[g] = normalizeGroup(ys[g*size:(g+1)*size], xs[g*size:(g+1)*size], eps, scale, bias)
		}
	})
	return means, invStd
}

// normalizeGroup is normalizeAffine of one group: src standardized into dst (which
// may be src), then times scale and plus bias where they are not nil. It returns
// the group's mean and 1/sqrt(variance + eps). The statistics are float64 sums in
// blas.Sum64's order.
func normalizeGroup(dst, src []float32, eps float64, scale, bias []float32) (mean, inv float64) {
	mean = blas.Sum64(src) / float64(len(src))
	inv = 1 / math.Sqrt(blas.SqDev64(src, mean)/float64(len(src))+eps)
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
		// Rounded after each operation, no FMA: float32(float32(x*inv)*sc) + b.
		blas.NormAffine(dst, src, scale, bias, mean, inv)
	}
	return mean, inv
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
	return layerNorm(c, x, in[0], 1, nil)
}

// addLayerNormKernel is LayerNormalization of the sum of its first two inputs (same
// shape, float32): inputs X, Y, scale, bias; attributes and outputs those of
// LayerNormalization. fuseFloat puts it in place of Add -> LayerNormalization (a
// residual connection and its norm); each row is added and normalized while it is in
// cache, and the sum takes no tensor of its own.
func addLayerNormKernel(c *Call) ([]*Value, error) {
	x, y := c.Input(0), c.Input(1)
	if x == nil || y == nil || x.DType != tensor.F32 || y.DType != tensor.F32 || !slices.Equal(x.Shape, y.Shape) {
		return nil, fmt.Errorf("needs float32 inputs X and Y of one shape, have %v and %v", x, y)
	}
	if _, err := floatInputs(c, 3); err != nil {
		return nil, err
	}
	return layerNorm(c, x, x.Data.([]float32), 2, y.Data.([]float32))
}

// layerNorm is LayerNormalization of x (data xs, plus addend when not nil) with its
// scale and bias at inputs first and first+1.
func layerNorm(c *Call, x *Value, xs []float32, first int, addend []float32) ([]*Value, error) {
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
	scale := c.Input(first)
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
	if b := c.Input(first + 1); b != nil {
		if _, ok := b.Data.([]float32); !ok {
			return nil, fmt.Errorf("bias must be float32")
		}
		if !broadcastsTo(b.Shape, normShape) {
			return nil, fmt.Errorf("bias %v does not broadcast to %v", b, normShape)
		}
		bias = full(b)
	}
	out, err := c.allocRaw(tensor.F32, x.Shape) // every row is written
	if err != nil {
		return nil, err
	}
	ys := out.Data.([]float32)
	var means, inv []float64
	if addend == nil {
		means, inv = normalizeAffine(c.Threads(), ys, xs, outer, float64(eps), sc, bias)
	} else {
		means, inv = make([]float64, outer), make([]float64, outer)
		parallel.For(c.Threads(), outer, 1, func(lo, hi int) {
			for g := lo; g < hi; g++ {
				row := ys[g*inner : (g+1)*inner]
				blas.Arith(row, xs[g*inner:(g+1)*inner], addend[g*inner:(g+1)*inner], blas.OpAdd)
				means[g], inv[g] = normalizeGroup(row, row, float64(eps), sc, bias)
			}
		})
	}
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
