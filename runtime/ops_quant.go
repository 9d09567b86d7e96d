package runtime

import (
	"fmt"
	"math"
	"slices"
	"unsafe"

	"github.com/refit-ml/refit/internal/blas"
	"github.com/refit-ml/refit/internal/parallel"
	"github.com/refit-ml/refit/internal/qgemm"
	"github.com/refit-ml/refit/tensor"
)

// Linear quantization: QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear, the
// integer products MatMulInteger, ConvInteger, QLinearMatMul, QLinearConv, and ONNX
// Runtime's com.microsoft MatMulNBits. Rounding is half to even and results saturate,
// as ONNX Runtime computes them: quantize is clamp(rint(x/scale) + zp), requantizing an
// int32 accumulator is clamp(rint(float32(acc) * (sa*sb/sy)) + zp).

func init() {
	Register(Op{Type: "QuantizeLinear", Since: 10, Kernel: quantizeLinearKernel})
	Register(Op{Type: "DequantizeLinear", Since: 10, Kernel: dequantizeLinearKernel})
	Register(Op{Type: "DynamicQuantizeLinear", Since: 11, Kernel: dynamicQuantizeLinearKernel})
	Register(Op{Type: "MatMulInteger", Since: 10, Kernel: matmulIntegerKernel})
	Register(Op{Type: "QLinearMatMul", Since: 10, Kernel: qlinearMatmulKernel})
	Register(Op{Type: "ConvInteger", Since: 10, Kernel: convIntegerKernel})
	Register(Op{Type: "QLinearConv", Since: 10, Kernel: qlinearConvKernel})
	Register(Op{Domain: "com.microsoft", Type: "MatMulNBits", Since: 1, Kernel: matmulNBitsKernel, ViaFloat32: true})
}

// quantRange is the saturation range of a quantized dtype.
func quantRange(dt tensor.DType) (lo, hi int32, ok bool) {
	switch dt {
	case tensor.U8:
		return 0, math.MaxUint8, true
	case tensor.I8:
		return math.MinInt8, math.MaxInt8, true
	case tensor.U16:
		return 0, math.MaxUint16, true
	case tensor.I16:
		return math.MinInt16, math.MaxInt16, true
	}
	return 0, 0, false
}

// quantDTypeFromONNX maps QuantizeLinear-21's output_dtype attribute.
func quantDTypeFromONNX(code int64) (tensor.DType, error) {
	switch code {
	case 0, 2:
		return tensor.U8, nil
	case 3:
		return tensor.I8, nil
	case 4:
		return tensor.U16, nil
	case 5:
		return tensor.I16, nil
	}
	return tensor.Invalid, fmt.Errorf("output_dtype %d (float8 and 4-bit types): %w", code, errUnsupported)
}

// floats32 returns a float value's elements as float32 (F32 shares its slice).
func floats32(v *Value) ([]float32, error) {
	switch v.DType {
	case tensor.F32:
		return v.Data.([]float32), nil
	case tensor.F16, tensor.BF16:
		r, err := toFloat32(nil, v)
		if err != nil {
			return nil, err
		}
		return r.Data.([]float32), nil
	case tensor.F64:
		return convertSlice[float64, float32](v.Data.([]float64)), nil
	}
	return nil, fmt.Errorf("want a float tensor, have %v", v)
}

// ints32 returns an integer value's elements as int32.
func ints32(v *Value) ([]int32, error) {
	switch d := v.Data.(type) {
	case []int32:
		return d, nil
	case []int8:
		return convertSlice[int8, int32](d), nil
	case []uint8:
		return convertSlice[uint8, int32](d), nil
	case []int16:
		return convertSlice[int16, int32](d), nil
	case []uint16:
		if v.DType == tensor.U16 {
			return convertSlice[uint16, int32](d), nil
		}
	}
	return nil, fmt.Errorf("want an 8, 16 or 32-bit integer tensor, have %v", v)
}

// saturate rounds half to even and clamps to [lo, hi]; NaN maps to 0.
func saturate(x float32, zp, lo, hi int32) int32 {
	r := math.RoundToEven(float64(x))
	if r != r {
		r = 0
	}
	r += float64(zp)
	return int32(max(float64(lo), min(float64(hi), r)))
}

// storeQuant writes int32 results (already in range) into a quantized value.
func storeQuant(v *Value, q []int32) {
	switch d := v.Data.(type) {
	case []uint8:
		for i, x := range q {
			d[i] = uint8(x)
		}
	case []int8:
		for i, x := range q {
			d[i] = int8(x)
		}
	case []uint16:
		for i, x := range q {
			d[i] = uint16(x)
		}
	case []int16:
		for i, x := range q {
			d[i] = int16(x)
		}
	case []int32:
		copy(d, q)
	}
}

// quantLayout maps an element of x to its scale / zero point: per tensor, per axis
// (scale is [D]) or blocked (scale is x's shape with D replaced by ceil(D/block)).
type quantLayout struct {
	mode              int // 0 per tensor, 1 per axis, 2 blocked
	dim, inner, block int
	blocks            int
}

func newQuantLayout(c *Call, x, scale *Value, opset int64) (quantLayout, error) {
	var a attrs
	axis := a.int(c.Node, "axis", 1)
	block := int64(0)
	if opset >= 21 {
		block = a.int(c.Node, "block_size", 0)
	}
	if a.err != nil {
		return quantLayout{}, a.err
	}
	if scale.Len() == 1 && len(scale.Shape) <= 1 && block == 0 {
		return quantLayout{}, nil
	}
	if len(x.Shape) == 0 {
		return quantLayout{}, fmt.Errorf("scale %v for a scalar input", scale)
	}
	ax, err := normAxis(axis, len(x.Shape))
	if err != nil {
		return quantLayout{}, err
	}
	l := quantLayout{dim: int(x.Shape[ax]), inner: 1}
	for _, d := range x.Shape[ax+1:] {
		l.inner *= int(d)
	}
	if block <= 0 {
		if len(scale.Shape) != 1 || scale.Shape[0] != x.Shape[ax] {
			return quantLayout{}, fmt.Errorf("per-axis scale %v must be [%d] (axis %d of %v)", scale, x.Shape[ax], ax, tensor.Shape(x.Shape))
		}
		l.mode = 1
		return l, nil
	}
	l.mode, l.block = 2, int(block)
	l.blocks = (l.dim + l.block - 1) / l.block
	want := slices.Clone(x.Shape)
	want[ax] = int64(l.blocks)
	if !slices.Equal(scale.Shape, want) {
		return quantLayout{}, fmt.Errorf("blocked scale %v must have shape %v (block_size %d)", scale, tensor.Shape(want), block)
	}
	return l, nil
}

// index returns the parameter index for flat element i.
func (l quantLayout) index(i int) int {
	switch l.mode {
	case 1:
		return i / l.inner % l.dim
	case 2:
		o, r := i/(l.dim*l.inner), i%(l.dim*l.inner)
		d, in := r/l.inner, r%l.inner
		return (o*l.blocks+d/l.block)*l.inner + in
	}
	return 0
}

func checkZeroPoint(zp, scale *Value) error {
	if zp != nil && !slices.Equal(zp.Shape, scale.Shape) && !(zp.Len() == 1 && scale.Len() == 1) {
		return fmt.Errorf("zero point %v and scale %v differ in shape", zp, scale)
	}
	return nil
}

func quantizeLinearKernel(c *Call) ([]*Value, error) {
	x, scale, zp := c.Input(0), c.Input(1), c.Input(2)
	if x == nil || scale == nil {
		return nil, fmt.Errorf("needs x and y_scale")
	}
	outType := tensor.U8
	if zp != nil {
		outType = zp.DType
	} else if c.Opset >= 21 {
		code, err := c.Node.Int("output_dtype", 0)
		if err != nil {
			return nil, err
		}
		if outType, err = quantDTypeFromONNX(code); err != nil {
			return nil, err
		}
	}
	lo, hi, ok := quantRange(outType)
	if !ok {
		return nil, fmt.Errorf("quantizing to %v: %w", outType, errUnsupported)
	}
	if err := checkZeroPoint(zp, scale); err != nil {
		return nil, err
	}
	xs, err := floats32(x)
	if err != nil {
		return nil, err
	}
	ss, err := floats32(scale)
	if err != nil {
		return nil, err
	}
	var zs []int32
	if zp != nil {
		if zs, err = ints32(zp); err != nil {
			return nil, err
		}
	}
	l, err := newQuantLayout(c, x, scale, c.Opset)
	if err != nil {
		return nil, err
	}
	if l.mode == 0 && (outType == tensor.U8 || outType == tensor.I8) {
		// Per tensor into 8 bits: straight into the output, no int32 staging.
		out, err := c.allocRaw(outType, x.Shape)
		if err != nil {
			return nil, err
		}
		var z int32
		if zs != nil {
			z = zs[0]
		}
		quantize8(c.Threads(), out, xs, ss[0], z, lo, hi)
		return []*Value{out}, nil
	}
	q := make([]int32, len(xs))
	parallel.For(c.Threads(), len(xs), 16384, func(a, b int) {
		for i := a; i < b; i++ {
			p := l.index(i)
			var z int32
			if zs != nil {
				z = zs[p]
			}
			q[i] = saturate(xs[i]/ss[p], z, lo, hi)
		}
	})
	out, err := c.Alloc(outType, x.Shape)
	if err != nil {
		return nil, err
	}
	storeQuant(out, q)
	return []*Value{out}, nil
}

func dequantizeLinearKernel(c *Call) ([]*Value, error) {
	x, scale, zp := c.Input(0), c.Input(1), c.Input(2)
	if x == nil || scale == nil {
		return nil, fmt.Errorf("needs x and x_scale")
	}
	if err := checkZeroPoint(zp, scale); err != nil {
		return nil, err
	}
	if zp != nil && zp.DType != x.DType {
		return nil, fmt.Errorf("x %v and zero point %v differ in type", x, zp)
	}
	if (x.DType == tensor.U8 || x.DType == tensor.I8) && scale.DType == tensor.F32 {
		if l, err := newQuantLayout(c, x, scale, c.Opset); err == nil && l.mode != 2 {
			// 8-bit input, per tensor or per axis: read the bytes directly.
			var zs []int32
			if zp != nil {
				if zs, err = ints32(zp); err != nil {
					return nil, err
				}
			}
			out, err := c.allocRaw(tensor.F32, x.Shape)
			if err != nil {
				return nil, err
			}
			dequantize8(c.Threads(), out.Data.([]float32), x, scale.Data.([]float32), zs, l, c.Node.relu)
			return []*Value{out}, nil
		}
	}
	xs, err := ints32(x)
	if err != nil {
		return nil, fmt.Errorf("dequantizing %v: %w", x.DType, errUnsupported)
	}
	ss, err := floats32(scale)
	if err != nil {
		return nil, err
	}
	var zs []int32
	if zp != nil {
		if zs, err = ints32(zp); err != nil {
			return nil, err
		}
	}
	l, err := newQuantLayout(c, x, scale, c.Opset)
	if err != nil {
		return nil, err
	}
	out, err := c.Alloc(tensor.F32, x.Shape)
	if err != nil {
		return nil, err
	}
	y := out.Data.([]float32)
	parallel.For(c.Threads(), len(xs), 16384, func(a, b int) {
		for i := a; i < b; i++ {
			p := l.index(i)
			var z int64
			if zs != nil {
				z = int64(zs[p])
			}
			y[i] = float32(int64(xs[i])-z) * ss[p]
		}
	})
	if c.Node.relu { // a Relu fused into this node (fuseActivations)
		reluInPlace(c.Threads(), y)
	}
	if scale.DType == tensor.F16 || scale.DType == tensor.BF16 {
		r, err := fromFloat32(c, out, scale.DType)
		if err != nil {
			return nil, err
		}
		return []*Value{r}, nil
	}
	return []*Value{out}, nil
}

func dynamicQuantizeLinearKernel(c *Call) ([]*Value, error) {
	x := c.Input(0)
	if x == nil || x.DType != tensor.F32 {
		return nil, fmt.Errorf("needs a float32 x")
	}
	xs := x.Data.([]float32)
	// The range always includes 0. NaNs are skipped; min and max are associative, so
	// the pieces' results combine to the same range for every thread count.
	const grain = 16384
	pieces := make([][2]float32, (len(xs)+grain-1)/grain)
	parallel.For(c.Threads(), len(pieces), 1, func(a, b int) {
		for p := a; p < b; p++ {
			lo, hi := qgemm.Range(xs[p*grain : min(len(xs), (p+1)*grain)])
			pieces[p] = [2]float32{lo, hi}
		}
	})
	var lo, hi float32
	for _, p := range pieces {
		lo, hi = min(lo, p[0]), max(hi, p[1])
	}
	scale := float32(1)
	if hi != lo {
		scale = (hi - lo) / 255
	}
	zpf := float32(0) - lo/scale
	zp := int32(math.RoundToEven(float64(max(0, min(255, zpf)))))
	out, err := c.Alloc(tensor.U8, x.Shape)
	if err != nil {
		return nil, err
	}
	quantize8(c.Threads(), out, xs, scale, zp, 0, 255)
	s, err := c.Alloc(tensor.F32, nil)
	if err != nil {
		return nil, err
	}
	s.Data.([]float32)[0] = scale
	z, err := c.Alloc(tensor.U8, nil)
	if err != nil {
		return nil, err
	}
	z.Data.([]uint8)[0] = uint8(zp)
	return []*Value{out, s, z}, nil
}

// intMatmul describes a batched integer product of A [..., M, K] and B [..., K, N]
// with numpy broadcasting of the batch dimensions.
type intMatmul struct {
	m, n, k    int
	aOff, bOff []int // per output batch: matrix index into A and B
	batch      []int64
	final      []int64 // output shape with rank-1 operand dims dropped
}

func newIntMatmul(a, b []int64) (*intMatmul, error) {
	if len(a) == 0 || len(b) == 0 {
		return nil, fmt.Errorf("inputs must have rank >= 1, have %v and %v", tensor.Shape(a), tensor.Shape(b))
	}
	as, bs := slices.Clone(a), slices.Clone(b)
	if len(as) == 1 {
		as = []int64{1, as[0]}
	}
	if len(bs) == 1 {
		bs = []int64{bs[0], 1}
	}
	m, k := as[len(as)-2], as[len(as)-1]
	k2, n := bs[len(bs)-2], bs[len(bs)-1]
	if k != k2 {
		return nil, fmt.Errorf("shapes %v and %v: inner dimensions %d and %d differ", tensor.Shape(a), tensor.Shape(b), k, k2)
	}
	batch, err := BroadcastShape(as[:len(as)-2], bs[:len(bs)-2])
	if err != nil {
		return nil, err
	}
	nb, err := numElements(batch)
	if err != nil {
		return nil, err
	}
	mm := &intMatmul{m: int(m), n: int(n), k: int(k), aOff: make([]int, nb), bOff: make([]int, nb), batch: batch}
	aStr, bStr := batchStrides(as[:len(as)-2], len(batch)), batchStrides(bs[:len(bs)-2], len(batch))
	idx := make([]int, len(batch))
	for i := 0; i < nb; i++ {
		for d, x := range idx {
			mm.aOff[i] += x * aStr[d]
			mm.bOff[i] += x * bStr[d]
		}
		for d := len(idx) - 1; d >= 0; d-- {
			idx[d]++
			if idx[d] < int(batch[d]) {
				break
			}
			idx[d] = 0
		}
	}
	mm.final = slices.Clone(batch)
	if len(a) > 1 {
		mm.final = append(mm.final, m)
	}
	if len(b) > 1 {
		mm.final = append(mm.final, n)
	}
	return mm, nil
}

// batchStrides returns matrix strides of shape aligned right to rank dims, 0 where broadcast.
func batchStrides(shape []int64, rank int) []int {
	st := make([]int, rank)
	acc := 1
	off := rank - len(shape)
	for i := len(shape) - 1; i >= 0; i-- {
		if shape[i] != 1 {
			st[off+i] = acc
		}
		acc *= int(shape[i])
	}
	return st
}

// runInt32 computes acc[b] = (A[b] - za) x (B[b] - zb) in int32 arithmetic from int32
// operands, one row of A at a time; za is per row of A (length 1 or M), zb per
// column of B (length 1 or N). With sat, the products of the raw values are summed in
// saturating pairs (SaturatingPairsArith).
func (mm *intMatmul) runInt32(threads int, acc, a, b, za, zb []int32, sat bool) {
	M, N, K := mm.m, mm.n, mm.k
	parallel.For(threads, len(mm.aOff)*M, max(1, 4096/max(1, N*K)), func(lo, hi int) {
		bRow := make([]int32, N)
		for r := lo; r < hi; r++ {
			bi, i := r/M, r%M
			A := a[mm.aOff[bi]*M*K+i*K : mm.aOff[bi]*M*K+(i+1)*K]
			B := b[mm.bOff[bi]*K*N:]
			C := acc[(bi*M+i)*N : (bi*M+i+1)*N]
			clear(C)
			zai := za[0]
			if len(za) > 1 {
				zai = za[i]
			}
			for p := 0; p < K; p++ {
				av := A[p] - zai
				if av == 0 {
					continue
				}
				copy(bRow, B[p*N:(p+1)*N])
				for j := range C {
					zbj := zb[0]
					if len(zb) > 1 {
						zbj = zb[j]
					}
					C[j] += av * (bRow[j] - zbj)
				}
			}
			if sat {
				matmulSaturation(C, A, B, N, K)
			}
		}
	})
}

// runBytes computes acc[b] = (A[b] - za) x (B[b] - zb) exactly from the 8-bit
// operands (internal/qgemm). packed is B already packed (a constant 2-D B), or nil.
// With a 2-D B, A's batches are one product of batch*M rows.
func (mm *intMatmul) runBytes(threads int, acc []int32, a, b *Value, za, zb []int32, packed *qgemm.Packed, then func(lo, hi int)) {
	M, N, K := mm.m, mm.n, mm.k
	ab, aSigned := rawBytes(a)
	bb, bSigned := rawBytes(b)
	nb := len(mm.aOff)
	folded := true
	for i := range nb {
		folded = folded && mm.bOff[i] == 0 && mm.aOff[i] == i
	}
	if folded {
		if packed == nil {
			packed = qgemm.Pack(K, N, bb[:K*N], N, 1, bSigned)
		}
		if len(za) > 1 && nb > 1 {
			za = slices.Repeat(za, nb)
		}
		var rows func(i0, i1 int)
		if then != nil {
			rows = func(i0, i1 int) { then(i0*N, i1*N) }
		}
		qgemm.GemmThen(threads, nb*M, ab, K, aSigned, za, packed, zb, acc, N, rows)
		return
	}
	defer thenAll(threads, len(acc), then)
	lastB := -1
	p := packed
	for i := range nb {
		if packed == nil && mm.bOff[i] != lastB {
			lastB = mm.bOff[i]
			p = qgemm.Pack(K, N, bb[lastB*K*N:][:K*N], N, 1, bSigned)
		}
		qgemm.Gemm(threads, M, ab[mm.aOff[i]*M*K:], K, aSigned, za, p, zb, acc[i*M*N:], N)
	}
}

// packedWeights returns the node's constant 2-D B (input index bi) packed once per
// session, or nil when B is not such a constant.
func packedWeights(c *Call, bi int, mm *intMatmul) *qgemm.Packed {
	b := c.Input(bi)
	if len(b.Shape) != 2 {
		return nil
	}
	K, N := mm.k, mm.n
	p, ok := prepare(c, bi, func(v *Value) *qgemm.Packed {
		bb, signed := rawBytes(v)
		return qgemm.Pack(K, N, bb[:K*N], N, 1, signed)
	})
	if !ok || p.K() != K || p.N() != N {
		return nil
	}
	return p
}

// rawBytes returns the bytes of an int8 or uint8 value and whether they are int8.
func rawBytes(v *Value) ([]byte, bool) {
	switch d := v.Data.(type) {
	case []uint8:
		return d, false
	case []int8:
		return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(d))), len(d)), true
	}
	panic(fmt.Sprintf("runtime: rawBytes of %v", v.DType))
}

// saturates reports whether a product of a and b saturates in pairs under the
// call's arithmetic: uint8 activations (a) times int8 weights (b).
func saturates(c *Call, a, b *Value) bool {
	return c.intArith() == SaturatingPairsArith && a.DType == tensor.U8 && b.DType == tensor.I8
}

// zeroPoints returns a zero point input as int32s (default {0}) after checking that
// its type matches the data's and its length is 1 or n.
func zeroPoints(zp, data *Value, n int, what string) ([]int32, error) {
	if zp == nil {
		return []int32{0}, nil
	}
	if zp.DType != data.DType {
		return nil, fmt.Errorf("%s zero point %v must have the type of %v", what, zp, data)
	}
	if zp.Len() != 1 && zp.Len() != n {
		return nil, fmt.Errorf("%s zero point %v must hold 1 or %d values", what, zp, n)
	}
	return ints32(zp)
}

func is8bit(v *Value) bool { return v != nil && (v.DType == tensor.U8 || v.DType == tensor.I8) }

func matmulIntegerKernel(c *Call) ([]*Value, error) {
	a, b := c.Input(0), c.Input(1)
	if !is8bit(a) || !is8bit(b) {
		return nil, fmt.Errorf("inputs A and B must be int8 or uint8, have %v and %v", a, b)
	}
	mm, err := newIntMatmul(a.Shape, b.Shape)
	if err != nil {
		return nil, err
	}
	za, err := zeroPoints(c.Input(2), a, mm.m, "A")
	if err != nil {
		return nil, err
	}
	zb, err := zeroPoints(c.Input(3), b, mm.n, "B")
	if err != nil {
		return nil, err
	}
	out, err := c.Alloc(tensor.I32, append(slices.Clone(mm.batch), int64(mm.m), int64(mm.n)))
	if err != nil {
		return nil, err
	}
	mm.product(c, 1, out.Data.([]int32), a, b, za, zb)
	return []*Value{View(out, mm.final)}, nil
}

// product computes the node's integer product of a and b (input index bi) into acc:
// exactly through internal/qgemm, or with saturating pairs (SaturatingPairsArith).
func (mm *intMatmul) product(c *Call, bi int, acc []int32, a, b *Value, za, zb []int32) {
	mm.productThen(c, bi, acc, a, b, za, zb, nil)
}

// productThen is product followed by then(lo, hi) over ranges of acc once they are
// final (in the goroutines of the product where it can; then may be nil).
func (mm *intMatmul) productThen(c *Call, bi int, acc []int32, a, b *Value, za, zb []int32, then func(lo, hi int)) {
	if len(acc) == 0 {
		return // an empty batch: nothing to pack or multiply
	}
	if mm.k == 0 {
		clear(acc) // empty sums
		thenAll(c.Threads(), len(acc), then)
		return
	}
	if saturates(c, a, b) {
		ai, _ := ints32(a)
		bs, _ := ints32(b)
		mm.runInt32(c.Threads(), acc, ai, bs, za, zb, true)
		thenAll(c.Threads(), len(acc), then)
		return
	}
	mm.runBytes(c.Threads(), acc, a, b, za, zb, packedWeights(c, bi, mm), then)
}

// thenAll calls then over all of n elements in parallel ranges (nil: nothing).
func thenAll(threads, n int, then func(lo, hi int)) {
	if then != nil {
		parallel.For(threads, n, 16384, then)
	}
}

// requantParams reads a (scale, zero point) input pair of a QLinear op.
func requantParams(scale, zp, data *Value, n int, what string) ([]float32, []int32, error) {
	if scale == nil {
		return nil, nil, fmt.Errorf("%s scale is required", what)
	}
	s, err := floats32(scale)
	if err != nil {
		return nil, nil, fmt.Errorf("%s scale: %w", what, err)
	}
	if len(s) != 1 && len(s) != n {
		return nil, nil, fmt.Errorf("%s scale %v must hold 1 or %d values", what, scale, n)
	}
	z, err := zeroPoints(zp, data, n, what)
	return s, z, err
}

// outputQuantParams reads the scalar output scale and zero point of a QLinear op;
// the output type follows the zero point (uint8 when it is omitted).
func outputQuantParams(scale, zp *Value) ([]float32, []int32, tensor.DType, error) {
	if scale == nil || scale.Len() != 1 {
		return nil, nil, 0, fmt.Errorf("y_scale must be a scalar")
	}
	s, err := floats32(scale)
	if err != nil {
		return nil, nil, 0, err
	}
	if zp == nil {
		return s, []int32{0}, tensor.U8, nil
	}
	if zp.Len() != 1 || !is8bit(zp) {
		return nil, nil, 0, fmt.Errorf("y_zero_point %v must be an int8 or uint8 scalar", zp)
	}
	z, _ := ints32(zp)
	return s, z, zp.DType, nil
}

func at[T any](s []T, i int) T {
	if len(s) == 1 {
		return s[0]
	}
	return s[i]
}

func qlinearMatmulKernel(c *Call) ([]*Value, error) {
	a, b := c.Input(0), c.Input(3)
	if !is8bit(a) || !is8bit(b) {
		return nil, fmt.Errorf("a and b must be int8 or uint8, have %v and %v", a, b)
	}
	mm, err := newIntMatmul(a.Shape, b.Shape)
	if err != nil {
		return nil, err
	}
	sa, za, err := requantParams(c.Input(1), c.Input(2), a, mm.m, "a")
	if err != nil {
		return nil, err
	}
	sb, zb, err := requantParams(c.Input(4), c.Input(5), b, mm.n, "b")
	if err != nil {
		return nil, err
	}
	sy, zy, yType, err := outputQuantParams(c.Input(6), c.Input(7))
	if err != nil {
		return nil, err
	}
	lo, hi, _ := quantRange(yType)
	acc := make([]int32, len(mm.aOff)*mm.m*mm.n)
	mm.product(c, 3, acc, a, b, za, zb)
	q := make([]int32, len(acc))
	for r := 0; r < len(acc); r++ {
		i, j := r/mm.n%mm.m, r%mm.n
		mult := at(sa, i) * at(sb, j) / sy[0]
		q[r] = saturate(float32(acc[r])*mult, zy[0], lo, hi)
	}
	out, err := c.Alloc(yType, mm.final)
	if err != nil {
		return nil, err
	}
	storeQuant(out, q)
	return []*Value{out}, nil
}

// intConv computes the int32 convolution of x - zx with w - zw (zw per output channel).
// With sat, the products of raw values are summed in saturating pairs along K ordered
// (kernel position, input channel), padding reading zx, as ONNX Runtime's NHWC
// QLinearConv does; depthwise convolutions (one channel per group) stay exact there.
//
// When start is not nil and the exact integer GEMM applies, intConv calls start with
// the output shape and hands every sum to the emit it returns; it then returns nil
// sums.
func intConv(c *Call, wi int, x, w *Value, zx, zw []int32, sat bool, start func(shape []int64) (convEmit, error)) ([]int32, []int64, error) {
	if len(x.Shape) < 3 || len(w.Shape) != len(x.Shape) {
		return nil, nil, fmt.Errorf("x %v and w %v must both be [N, C, spatial...]", tensor.Shape(x.Shape), tensor.Shape(w.Shape))
	}
	group, err := c.Node.Int("group", 1)
	if err != nil {
		return nil, nil, err
	}
	kernel, err := c.Node.Ints("kernel_shape", w.Shape[2:])
	if err != nil {
		return nil, nil, err
	}
	N, C, M := int(x.Shape[0]), int(x.Shape[1]), int(w.Shape[0])
	if group <= 0 || C%int(group) != 0 || M%int(group) != 0 || int(w.Shape[1])*int(group) != C {
		return nil, nil, fmt.Errorf("x %v, w %v and group %d do not agree", tensor.Shape(x.Shape), tensor.Shape(w.Shape), group)
	}
	if !slices.Equal(kernel, w.Shape[2:]) {
		return nil, nil, fmt.Errorf("kernel_shape %v does not match w %v", kernel, tensor.Shape(w.Shape))
	}
	if len(zw) != 1 && len(zw) != M {
		return nil, nil, fmt.Errorf("w zero point must hold 1 or %d values", M)
	}
	win, err := newWindow(c.Node, x.Shape[2:], kernel, false)
	if err != nil {
		return nil, nil, err
	}
	G := int(group)
	Cg, Mg := C/G, M/G
	kn, on, inSize := win.size(kernel), win.size(win.out), win.size(win.in)
	rows := Cg * kn
	outShape := append([]int64{int64(N), int64(M)}, win.out...)
	if !sat && Mg >= 4 && on > 0 && rows > 0 && start != nil {
		// The exact integer GEMM; convolutions with fewer than 4 output channels per
		// group (depthwise) would fill little of its tiles and take the paths below.
		emit, err := start(outShape)
		if err != nil {
			return nil, nil, err
		}
		intConvGEMM(c, wi, x, w, zx, zw, win, N, C, M, G, emit)
		return nil, outShape, nil
	}
	if !sat || Cg == 1 && Mg == 1 {
		if rows <= exactChunk && Mg*on*rows >= 4096 && on > 0 && Mg > 0 {
			// Each output is one dot product of at most exactChunk terms: the float
			// convolution (packed weights, implicit im2col) computes it exactly.
			y := make([]int32, N*M*on)
			xf, wf, yf := getScratch(x.Len()), getScratch(w.Len()), getScratch(len(y))
			defer putScratch(xf)
			defer putScratch(wf)
			defer putScratch(yf)
			offsetFloats(xf, x, zx, x.Len())
			offsetFloats(wf, w, zw, w.Len()/max(1, M))
			convPacked(c.Threads(), yf, xf, nil, packConvWeights(wf, G, Mg, rows), N, C, M, G, win, false)
			for i, v := range yf {
				y[i] = int32(v)
			}
			return y, outShape, nil
		}
	}
	xs, _ := ints32(x)
	ws, _ := ints32(w)
	xz := make([]int32, len(xs))
	for i, v := range xs {
		xz[i] = v - zx[0]
	}
	wz := make([]int32, len(ws))
	perFilter := len(ws) / max(1, M)
	for i, v := range ws {
		wz[i] = v - at(zw, i/max(1, perFilter))
	}
	y := make([]int32, N*M*on)
	taps := win.taps()
	col := make([]int32, rows*on)
	sat = sat && !(Cg == 1 && Mg == 1)
	var nhwc []int // K index in (kernel position, channel) order -> im2col row
	if sat {
		nhwc = make([]int, 0, rows)
		for k := 0; k < kn; k++ {
			for ch := 0; ch < Cg; ch++ {
				nhwc = append(nhwc, ch*kn+k)
			}
		}
	}
	inStr := stridesOf(win.in)
	nd := len(win.in)
	var colF, wF, tmpF []float32 // the exact float path (intGemmExact)
	if !sat && Mg*on*rows >= 4096 {
		colF, wF, tmpF = getScratch(rows*on), getScratch(len(wz)), getScratch(Mg*on)
		defer putScratch(colF)
		defer putScratch(wF)
		defer putScratch(tmpF)
		for i, v := range wz {
			wF[i] = float32(v)
		}
	}
	for n := 0; n < N; n++ {
		for g := 0; g < G; g++ {
			xg := xz[(n*C+g*Cg)*inSize : (n*C+(g+1)*Cg)*inSize]
			// im2col: row (channel, tap), column output position; padding reads 0.
			parallel.For(c.Threads(), rows, 4, func(lo, hi int) {
				kidx, oidx := make([]int, nd), make([]int, nd)
				for row := lo; row < hi; row++ {
					ch, kr := row/kn, row%kn
					for d := nd - 1; d >= 0; d-- {
						kidx[d] = kr % int(kernel[d])
						kr /= int(kernel[d])
					}
					clear(oidx)
					for o := 0; o < on; o++ {
						off, ok := ch*inSize, true
						for d := 0; d < nd; d++ {
							xi := taps[d][kidx[d]*int(win.out[d])+oidx[d]]
							if xi < 0 {
								ok = false
								break
							}
							off += xi * inStr[d]
						}
						if ok {
							col[row*on+o] = xg[off]
						} else {
							col[row*on+o] = 0
						}
						for d := nd - 1; d >= 0; d-- {
							oidx[d]++
							if oidx[d] < int(win.out[d]) {
								break
							}
							oidx[d] = 0
						}
					}
				}
			})
			if !sat && Mg*on*rows >= 4096 {
				for i, v := range col {
					colF[i] = float32(v)
				}
				intGemmExact(c.Threads(), Mg, on, rows, wF[g*Mg*rows:], rows, colF, on, y[(n*M+g*Mg)*on:(n*M+(g+1)*Mg)*on], tmpF)
				continue
			}
			parallel.For(c.Threads(), Mg, 1, func(lo, hi int) {
				for m := lo; m < hi; m++ {
					wr := wz[(g*Mg+m)*rows : (g*Mg+m+1)*rows]
					dst := y[(n*M+g*Mg+m)*on : (n*M+g*Mg+m+1)*on]
					for p, wv := range wr {
						if wv == 0 {
							continue
						}
						src := col[p*on : (p+1)*on]
						for j := range dst {
							dst[j] += wv * src[j]
						}
					}
					if sat {
						convSaturation(dst, col, ws[(g*Mg+m)*rows:(g*Mg+m+1)*rows], nhwc, zx[0], on)
					}
				}
			})
		}
	}
	return y, outShape, nil
}

func convIntegerKernel(c *Call) ([]*Value, error) {
	x, w := c.Input(0), c.Input(1)
	if !is8bit(x) || !is8bit(w) {
		return nil, fmt.Errorf("x and w must be int8 or uint8, have %v and %v", x, w)
	}
	zx, err := zeroPoints(c.Input(2), x, 1, "x")
	if err != nil {
		return nil, err
	}
	M := 0
	if len(w.Shape) > 0 {
		M = int(w.Shape[0])
	}
	zw, err := zeroPoints(c.Input(3), w, M, "w")
	if err != nil {
		return nil, err
	}
	// ONNX Runtime's ConvInteger multiplies weights (as the uint8 side) by the
	// input, so uint8 x with int8 w has no saturating path there: exact.
	var out *Value
	start := func(shape []int64) (convEmit, error) {
		var err error
		if out, err = c.Alloc(tensor.I32, shape); err != nil {
			return nil, err
		}
		d, on := out.Data.([]int32), spatialSize(shape)
		return func(n, m, o0 int, acc []int32, rows, rowLen, stride int) {
			for r := range rows {
				copy(d[(n*M+m)*on+o0+r*rowLen:], acc[r*stride:r*stride+rowLen])
			}
		}, nil
	}
	y, shape, err := intConv(c, 1, x, w, zx, zw, false, start)
	if err != nil {
		return nil, err
	}
	if y == nil { // written through start's emit
		return []*Value{out}, nil
	}
	if out, err = c.Alloc(tensor.I32, shape); err != nil {
		return nil, err
	}
	copy(out.Data.([]int32), y)
	return []*Value{out}, nil
}

func qlinearConvKernel(c *Call) ([]*Value, error) {
	x, w := c.Input(0), c.Input(3)
	if !is8bit(x) || !is8bit(w) {
		return nil, fmt.Errorf("x and w must be int8 or uint8, have %v and %v", x, w)
	}
	sx, zx, err := requantParams(c.Input(1), c.Input(2), x, 1, "x")
	if err != nil {
		return nil, err
	}
	M := 0
	if len(w.Shape) > 0 {
		M = int(w.Shape[0])
	}
	sw, zw, err := requantParams(c.Input(4), c.Input(5), w, M, "w")
	if err != nil {
		return nil, err
	}
	sy, zy, yType, err := outputQuantParams(c.Input(6), c.Input(7))
	if err != nil {
		return nil, err
	}
	var bs []int32
	if bias := c.Input(8); bias != nil {
		var ok bool
		if bs, ok = bias.Data.([]int32); !ok || len(bs) != M {
			return nil, fmt.Errorf("bias %v must be int32 [%d]", bias, M)
		}
	}
	lo, hi, _ := quantRange(yType)
	mult := make([]float32, M)
	for m := range mult {
		mult[m] = sx[0] * at(sw, m) / sy[0]
	}
	var out *Value
	// float32(acc + bias)*mult is rounded and clamped by blas.Quantize8 with a scale
	// of 1 (an exact division): the same values as saturate gives.
	start := func(shape []int64) (convEmit, error) {
		var err error
		if out, err = c.allocRaw(yType, shape); err != nil {
			return nil, err
		}
		on := spatialSize(shape)
		ob, _ := rawBytes(out)
		return func(n, m, o0 int, acc []int32, rows, rowLen, stride int) {
			var b int32
			if bs != nil {
				b = bs[m]
			}
			// float32(acc + bias)*mult, then Quantize8 with a scale of 1: one pass.
			qgemm.Requantize(ob[(n*M+m)*on+o0:], acc, rows, rowLen, stride, b, mult[m], 0, 1, lo, hi, zy[0], yType == tensor.I8)
		}, nil
	}
	acc, shape, err := intConv(c, 3, x, w, zx, zw, saturates(c, x, w), start)
	if err != nil {
		return nil, err
	}
	if acc == nil { // written through start's emit
		return []*Value{out}, nil
	}
	if bs != nil {
		on := len(acc) / max(1, int(shape[0])*M)
		for r := 0; r*on < len(acc) && on > 0; r++ {
			b := bs[r%M]
			for i := range acc[r*on : (r+1)*on] {
				acc[r*on+i] += b
			}
		}
	}
	on := len(acc) / max(1, int(shape[0])*M)
	if out, err = c.allocRaw(yType, shape); err != nil {
		return nil, err
	}
	if on == 0 {
		return []*Value{out}, nil
	}
	// One run of on outputs per (image, channel): one multiplier each.
	// float32(acc)*mult is rounded and clamped by blas.Quantize8 with a scale of 1
	// (an exact division): the same values as saturate gives.
	parallel.For(c.Threads(), len(acc)/on, max(1, 16384/on), func(a, b int) {
		tmp := getScratch(on)
		defer putScratch(tmp)
		for r := a; r < b; r++ {
			k := mult[r%M]
			for i, v := range acc[r*on : (r+1)*on] {
				tmp[i] = float32(v) * k
			}
			switch d := out.Data.(type) {
			case []uint8:
				blas.Quantize8(d[r*on:(r+1)*on], tmp, 1, lo, hi, zy[0], false)
			case []int8:
				blas.Quantize8(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(d[r*on:]))), on), tmp, 1, lo, hi, zy[0], true)
			}
		}
	})
	return []*Value{out}, nil
}

// spatialSize is the product of a convolution output shape's spatial dimensions.
func spatialSize(shape []int64) int {
	n := 1
	for _, d := range shape[2:] {
		n *= int(d)
	}
	return n
}

// matmulNBitsKernel is ONNX Runtime's MatMulNBits: Y = A x dequant(B)^T + bias, where
// B [N, blocks, blob] packs each column's K weights in blocks of block_size, bits each,
// least significant bits first (low nibble first for 4 bits); weight = (q - zp) * scale
// with one scale and zero point per (column, block). Zero points are packed like B,
// one padded byte row per column, or are floats shaped like scales; absent, they are
// 2^(bits-1). g_idx [K] (act-order) maps each k to its block. B is dequantized to
// float32 and multiplied with Sgemm (accuracy levels are treated as float32 compute).
func matmulNBitsKernel(c *Call) ([]*Value, error) {
	var ar attrs
	K := ar.int(c.Node, "K", -1)
	N := ar.int(c.Node, "N", -1)
	bits := ar.int(c.Node, "bits", 4)
	blockSize := ar.int(c.Node, "block_size", -1)
	if ar.err != nil {
		return nil, ar.err
	}
	if K <= 0 || N <= 0 || K > 1<<24 || N > 1<<24 {
		return nil, fmt.Errorf("attributes K=%d and N=%d must be positive", K, N)
	}
	if bits < 1 || bits > 8 || 8%bits != 0 {
		return nil, fmt.Errorf("bits=%d: %w", bits, errUnsupported)
	}
	if blockSize < 16 || blockSize&(blockSize-1) != 0 {
		return nil, fmt.Errorf("block_size %d must be a power of two >= 16", blockSize)
	}
	a, b, scales := c.Input(0), c.Input(1), c.Input(2)
	if a == nil || b == nil || scales == nil {
		return nil, fmt.Errorf("needs A, B and scales")
	}
	if a.DType != tensor.F32 || scales.DType != tensor.F32 {
		return nil, fmt.Errorf("input A %v and scales %v must be float", a, scales)
	}
	if len(a.Shape) == 0 || a.Shape[len(a.Shape)-1] != K {
		return nil, fmt.Errorf("input A %v must end in K=%d", a, K)
	}
	nBlocks := (K + blockSize - 1) / blockSize
	blob := blockSize * bits / 8
	if b.DType != tensor.U8 || int64(b.Len()) != N*nBlocks*blob {
		return nil, fmt.Errorf("input B %v must be uint8 [%d, %d, %d]", b, N, nBlocks, blob)
	}
	if int64(scales.Len()) != N*nBlocks {
		return nil, fmt.Errorf("scales %v must hold N*blocks = %d values", scales, N*nBlocks)
	}
	bq, sc := b.Data.([]uint8), scales.Data.([]float32)
	zpRow := (nBlocks*bits + 7) / 8
	var zpPacked []uint8
	var zpFloat []float32
	if zp := c.Input(3); zp != nil {
		switch {
		case zp.DType == tensor.U8 && int64(zp.Len()) == N*zpRow:
			zpPacked = zp.Data.([]uint8)
		case zp.DType == tensor.F32 && int64(zp.Len()) == N*nBlocks:
			zpFloat = zp.Data.([]float32)
		default:
			return nil, fmt.Errorf("zero_points %v must be uint8 [%d] or float [%d]", zp, N*zpRow, N*nBlocks)
		}
	}
	var gidx []int32
	if g := c.Input(4); g != nil && g.Len() > 0 {
		gi, ok := g.Data.([]int32)
		if !ok || int64(len(gi)) != K {
			return nil, fmt.Errorf("g_idx %v must be int32 [%d]", g, K)
		}
		for _, v := range gi {
			if v < 0 || int64(v) >= nBlocks {
				return nil, fmt.Errorf("g_idx value %d out of range [0, %d)", v, nBlocks)
			}
		}
		gidx = gi
	}
	var bias []float32
	if bv := c.Input(5); bv != nil {
		bs, ok := bv.Data.([]float32)
		if !ok || int64(len(bs)) != N {
			return nil, fmt.Errorf("bias %v must be float [%d]", bv, N)
		}
		bias = bs
	}
	nb, kk, bw := int(nBlocks), int(K), int(bits)
	mask := uint32(1)<<bw - 1
	defZP := float32(int(1) << (bw - 1))
	M := a.Len() / kk
	outShape := slices.Clone(a.Shape)
	outShape[len(outShape)-1] = N
	out, err := c.Alloc(tensor.F32, outShape)
	if err != nil {
		return nil, err
	}
	y := out.Data.([]float32)
	beta := float32(0)
	if bias != nil {
		beta = 1
		for i := 0; i < M; i++ {
			copy(y[i*int(N):(i+1)*int(N)], bias)
		}
	}
	if M < 8 && gidx == nil {
		// Few rows (token-by-token decoding): fuse dequantization with dot products,
		// one column at a time, instead of packing B for Sgemm.
		as := a.Data.([]float32)
		parallel.For(c.Threads(), int(N), 16, func(lo, hi int) {
			row := make([]float32, kk)
			for n := lo; n < hi; n++ {
				col := bq[n*nb*int(blob) : (n+1)*nb*int(blob)]
				dequantColumnBlocks(row, col, sc[n*nb:(n+1)*nb], n, nb, int(blob), int(blockSize), bw, zpPacked, zpFloat, int(zpRow))
				for i := 0; i < M; i++ {
					y[i*int(N)+n] += dot32(as[i*kk:(i+1)*kk], row)
				}
			}
		})
		return []*Value{out}, nil
	}
	// Dequantize B a slab of columns at a time (at most ~4M floats) and multiply it
	// into the matching output columns, so memory stays bounded for large weights.
	slab := max(1, min(int(N), (1<<22)/kk))
	w := make([]float32, slab*kk)
	for n0 := 0; n0 < int(N); n0 += slab {
		n1 := min(int(N), n0+slab)
		parallel.For(c.Threads(), n1-n0, max(1, 4096/kk), func(lo, hi int) {
			for n := n0 + lo; n < n0+hi; n++ {
				col := bq[n*nb*int(blob) : (n+1)*nb*int(blob)]
				row := w[(n-n0)*kk : (n-n0+1)*kk]
				if gidx == nil {
					dequantColumnBlocks(row, col, sc[n*nb:(n+1)*nb], n, nb, int(blob), int(blockSize), bw, zpPacked, zpFloat, int(zpRow))
					continue
				}
				for k := range row {
					q := float32((uint32(col[(k*bw)/8]) >> ((k * bw) % 8)) & mask)
					blk := int(gidx[k])
					z := defZP
					switch {
					case zpPacked != nil:
						bit := blk * bw
						z = float32((uint32(zpPacked[n*int(zpRow)+bit/8]) >> (bit % 8)) & mask)
					case zpFloat != nil:
						z = zpFloat[n*nb+blk]
					}
					row[k] = (q - z) * sc[n*nb+blk]
				}
			}
		})
		Sgemm(c.Threads(), false, true, M, n1-n0, kk, 1, a.Data.([]float32), kk, w, kk, beta, y[n0:], int(N))
	}
	return []*Value{out}, nil
}

// dequantColumnBlocks dequantizes one column of MatMulNBits' B block by block: the
// scale and zero point are read once per block, 4-bit values a byte (two weights) at
// a time.
func dequantColumnBlocks(row []float32, col []uint8, scales []float32, n, nb, blob, blockSize, bits int, zpPacked []uint8, zpFloat []float32, zpRow int) {
	mask := uint32(1)<<bits - 1
	K := len(row)
	for blk := 0; blk < nb; blk++ {
		z := float32(int(1) << (bits - 1))
		switch {
		case zpPacked != nil:
			bit := blk * bits
			z = float32((uint32(zpPacked[n*zpRow+bit/8]) >> (bit % 8)) & mask)
		case zpFloat != nil:
			z = zpFloat[n*nb+blk]
		}
		s := scales[blk]
		k0 := blk * blockSize
		k1 := min(K, k0+blockSize)
		src := col[blk*blob : (blk+1)*blob]
		dst := row[k0:k1]
		if bits == 4 {
			// Precomputed (q - z) * s for the 16 codes.
			var lut [16]float32
			for q := range lut {
				lut[q] = (float32(q) - z) * s
			}
			i := 0
			for _, b := range src {
				if i+1 < len(dst) {
					dst[i], dst[i+1] = lut[b&15], lut[b>>4]
					i += 2
					continue
				}
				if i < len(dst) {
					dst[i] = lut[b&15]
				}
				break
			}
			continue
		}
		for i := range dst {
			p := i * bits
			q := float32((uint32(src[p/8]) >> (p % 8)) & mask)
			dst[i] = (q - z) * s
		}
	}
}

// dot32 is a float32 dot product with four accumulators.
func dot32(a, b []float32) float32 {
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// quantize8 is QuantizeLinear per tensor into a uint8 or int8 out: saturate(x / s)
// element by element, as the general path computes it.
//
// blas.Quantize8 clamps the quotient to [lo-z, hi-z] before rounding (the bounds are
// integers, so that equals rounding then clamping), eight lanes at a time on AVX2.
func quantize8(threads int, out *Value, xs []float32, s float32, z, lo, hi int32) {
	parallel.For(threads, len(xs), 16384, func(a, b int) {
		switch d := out.Data.(type) {
		case []uint8:
			blas.Quantize8(d[a:b], xs[a:b], s, lo, hi, z, false)
		case []int8:
			blas.Quantize8(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(d[a:b]))), b-a), xs[a:b], s, lo, hi, z, true)
		}
	})
}

// dequantize8 is DequantizeLinear of a uint8 or int8 x per tensor or per axis (l):
// y = (x - z) * s with the parameters of each element's channel.
//
// With relu, negative results become 0 (a Relu fused into the node).
func dequantize8(threads int, y []float32, x *Value, ss []float32, zs []int32, l quantLayout, relu bool) {
	if len(y) == 0 {
		return
	}
	// Runs of inner elements share one parameter (per tensor: runs of 4096).
	inner, dim := l.inner, l.dim
	if l.mode == 0 {
		inner, dim = 4096, 1
	}
	runs := (len(y) + inner - 1) / inner
	parallel.For(threads, runs, max(1, 16384/inner), func(a, b int) {
		for r := a; r < b; r++ {
			p := r % dim
			s := ss[p]
			var z float32
			if zs != nil {
				z = float32(zs[p])
			}
			lo, hi := r*inner, min((r+1)*inner, len(y))
			dst := y[lo:hi]
			b, signed := rawBytes(x)
			qgemm.Dequantize(dst, b[lo:hi], signed, z, s)
			if relu {
				biasActivation(dst, 0, true)
			}
		}
	})
}

// offsetFloats sets dst[i] = x[i] - z[i/run] for a uint8 or int8 x: the operand of
// the exact float path with its zero point (one per run of values) taken out.
func offsetFloats(dst []float32, x *Value, z []int32, run int) {
	run = max(run, 1)
	switch d := x.Data.(type) {
	case []uint8:
		for i, v := range d {
			dst[i] = float32(int32(v) - at(z, i/run))
		}
	case []int8:
		for i, v := range d {
			dst[i] = float32(int32(v) - at(z, i/run))
		}
	}
}
