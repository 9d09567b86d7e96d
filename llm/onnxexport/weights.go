package onnxexport

import (
	"encoding/binary"
	"math"
	"strconv"
	"sync"

	"github.com/refit-ml/refit/arch"
	"github.com/refit-ml/refit/format/onnx"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/graph"
	"github.com/refit-ml/refit/quant/onnxq"
	"github.com/refit-ml/refit/tensor"
)

// unpermute undoes the rotary row permutation llama's GGUF tensors carry.
func unpermute(t *tensor.Tensor, heads int) (*tensor.Tensor, error) {
	u, err := arch.UnpermuteTensor(t, heads)
	if err != nil {
		return nil, formatf("%v", err)
	}
	return u, nil
}

// matrixTensor returns the named 2-D weight after checking it is rows x cols.
func (x *exporter) matrixTensor(name string, rows, cols int) *tensor.Tensor {
	t := x.tensors[name]
	if t == nil {
		x.fail(formatf("model has no tensor %s", name))
		return nil
	}
	if len(t.Shape) != 2 || t.Shape[0] != int64(rows) || t.Shape[1] != int64(cols) {
		x.fail(formatf("tensor %s has shape %v, want [%d %d]", name, t.Shape, rows, cols))
		return nil
	}
	return t
}

// floatMatrix adds the named rows x cols weight as a float32 initializer, [cols,
// rows] when transposed (a MatMul right-hand side).
func (x *exporter) floatMatrix(name string, rows, cols int, transposed bool) string {
	t := x.matrixTensor(name, rows, cols)
	if t == nil {
		return ""
	}
	return x.floatInit(t, rows, cols, transposed)
}

func (x *exporter) floatInit(t *tensor.Tensor, rows, cols int, transposed bool) string {
	dims := []int64{int64(rows), int64(cols)}
	if transposed {
		dims = []int64{int64(cols), int64(rows)}
	}
	return x.lazyInit(t.Name, tensor.F32, dims, func() ([]byte, error) {
		v, err := t.Float32s()
		if err != nil {
			return nil, err
		}
		out := make([]byte, 4*len(v))
		for r := range rows {
			row := v[r*cols : (r+1)*cols]
			for c, f := range row {
				i := r*cols + c
				if transposed {
					i = c*rows + r
				}
				binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(f))
			}
		}
		return out, nil
	})
}

// lazyInit declares an initializer of type d and shape dims whose bytes fn
// computes when the encoder writes it.
func (x *exporter) lazyInit(base string, d tensor.DType, dims []int64, fn func() ([]byte, error)) string {
	name := x.b.Names.Fresh(base)
	size, err := tensor.ByteSize(d, tensor.Shape(dims))
	if err != nil {
		x.fail(formatf("tensor %s: %v", name, err))
		return name
	}
	elem, err := onnx.ElemType(d)
	if err != nil {
		x.fail(err)
		return name
	}
	t, err := tensor.New(name, d, tensor.Shape(dims), tensor.NewLazy(size, func() ([]byte, error) {
		b, err := fn()
		if err == nil && int64(len(b)) != size {
			err = formatf("tensor %s: computed %d bytes, want %d", name, len(b), size)
		}
		return b, err
	}))
	if err != nil {
		x.fail(err)
		return name
	}
	x.b.Initializer(&onnxpb.TensorProto{Name: &name, Dims: dims, DataType: &elem})
	x.lazy = append(x.lazy, t)
	return name
}

// linear is in · Wᵀ for the named rows x cols weight W, into a value named out (a
// fresh name when out is "").
func (x *exporter) linear(in, name string, rows, cols int, out string) string {
	return x.linearPerm(in, name, rows, cols, out, 0)
}

// linearPerm is linear with W's rows un-permuted over permHeads heads first when
// permHeads > 0.
func (x *exporter) linearPerm(in, name string, rows, cols int, out string, permHeads int) string {
	t := x.matrixTensor(name, rows, cols)
	if t == nil {
		return ""
	}
	if permHeads > 0 {
		var err error
		if t, err = unpermute(t, permHeads); err != nil {
			x.fail(err)
			return ""
		}
	}
	if out == "" {
		out = x.b.Names.Fresh(shortName(name))
	}
	if x.keepsBlocks(t.DType) {
		nb, _ := nbitsOf(t.DType)
		x.matmulNBits(in, t, rows, cols, out, nb)
		return out
	}
	switch x.opts.Weights {
	case Int4:
		x.quantizeNBits(in, t, rows, cols, out, 4)
		return out
	case Int8:
		x.quantizeNBits(in, t, rows, cols, out, 8)
		return out
	}
	w := x.floatInit(t, rows, cols, true)
	x.b.Node("MatMul", out, []string{in, w}, []string{out})
	return out
}

// keepsBlocks reports whether a matrix of GGUF type d becomes MatMulNBits as it is.
func (x *exporter) keepsBlocks(d tensor.DType) bool {
	l, ok := nbitsOf(d)
	switch x.opts.Weights {
	case Auto, Int8:
		return ok
	case Int4:
		return ok && l.bits == 4
	}
	return false
}

// freshGroup is the block length of matrices quantized afresh (GGUF's legacy blocks,
// and ONNX Runtime GenAI's default).
const freshGroup = 32

// quantizeNBits writes W as MatMulNBits quantized afresh (onnxq.MatMulNBits). The
// three inputs are computed together when the encoder pulls the first and kept until
// it has pulled all three.
func (x *exporter) quantizeNBits(in string, t *tensor.Tensor, rows, cols int, out string, bits int) {
	if cols%freshGroup != 0 {
		// MatMulNBits pads a partial last block; float weights keep it simple.
		w := x.floatInit(t, rows, cols, true)
		x.b.Node("MatMul", out, []string{in, w}, []string{out})
		return
	}
	blocks := cols / freshGroup
	c := &partCache{compute: func() ([3][]byte, error) {
		v, err := t.Float32s()
		if err != nil {
			return [3][]byte{}, err
		}
		b, scales, zp, err := onnxq.MatMulNBits(v, rows, cols, freshGroup, bits, false, x.opts.Threads)
		if err != nil {
			return [3][]byte{}, err
		}
		sb := make([]byte, 4*len(scales))
		for i, f := range scales {
			binary.LittleEndian.PutUint32(sb[4*i:], math.Float32bits(f))
		}
		return [3][]byte{b, sb, zp}, nil
	}}
	bName := x.lazyInit(t.Name+"_q"+strconv.Itoa(bits), tensor.U8, []int64{int64(rows), int64(blocks), int64(freshGroup * bits / 8)}, c.part(0))
	sName := x.lazyInit(t.Name+"_scales", tensor.F32, []int64{int64(rows * blocks)}, c.part(1))
	zName := x.lazyInit(t.Name+"_zero_points", tensor.U8, []int64{int64(rows * ((blocks*bits + 7) / 8))}, c.part(2))
	n := x.b.Node("MatMulNBits", out, []string{in, bName, sName, zName}, []string{out},
		graph.IntAttr("K", int64(cols)), graph.IntAttr("N", int64(rows)), graph.IntAttr("bits", int64(bits)),
		graph.IntAttr("block_size", freshGroup), graph.IntAttr("accuracy_level", 0))
	graph.SetDomain(n, "com.microsoft")
	x.nbits = true
}

// partCache shares one computation among the lazy parts of a weight: the first part
// pulled computes all; each part is dropped once taken, and taken again it is
// recomputed.
type partCache struct {
	mu      sync.Mutex
	parts   [3][]byte
	have    [3]bool
	compute func() ([3][]byte, error)
}

func (c *partCache) part(i int) func() ([]byte, error) {
	return func() ([]byte, error) {
		c.mu.Lock()
		defer c.mu.Unlock()
		if !c.have[i] {
			p, err := c.compute()
			if err != nil {
				return nil, err
			}
			c.parts, c.have = p, [3]bool{true, true, true}
		}
		b := c.parts[i]
		c.parts[i], c.have[i] = nil, false
		return b, nil
	}
}

// shortName is a weight's name without ".weight", for the product's value.
func shortName(name string) string {
	const suffix = ".weight"
	if len(name) > len(suffix) && name[len(name)-len(suffix):] == suffix {
		return name[:len(name)-len(suffix)]
	}
	return name
}

// nbitsLayout describes a GGUF block type MatMulNBits holds without requantizing:
// blocks of 32 weights, (q - zp) * d.
type nbitsLayout struct {
	bits      int
	blockSize int // bytes per GGUF block
	hasMin    bool
}

func nbitsOf(d tensor.DType) (nbitsLayout, bool) {
	switch d {
	case tensor.Q4_0:
		return nbitsLayout{bits: 4, blockSize: 18}, true
	case tensor.Q4_1:
		return nbitsLayout{bits: 4, blockSize: 20, hasMin: true}, true
	case tensor.Q8_0:
		return nbitsLayout{bits: 8, blockSize: 34}, true
	}
	return nbitsLayout{}, false
}

// ggmlBlock is the number of weights in a Q4_0/Q4_1/Q8_0 block.
const ggmlBlock = 32

// matmulNBits writes W's GGUF blocks as com.microsoft MatMulNBits: B [N, blocks,
// blob] with weight k of a block in bits (k*bits)%8 of byte k*bits/8, scales [N *
// blocks], and for Q4_1 float zero points -m/d (so (q - zp) * d = q*d + m).
// Q4_0's zero point 8 and Q8_0's 128 (its int8 codes offset by 128) are
// MatMulNBits' defaults and are left out.
func (x *exporter) matmulNBits(in string, t *tensor.Tensor, rows, cols int, out string, l nbitsLayout) {
	blocks := cols / ggmlBlock
	if cols%ggmlBlock != 0 || t.Size() != int64(rows*blocks*l.blockSize) {
		x.fail(formatf("tensor %s: %d bytes for %d x %d %v weights", t.Name, t.Size(), rows, cols, t.DType))
		return
	}
	blob := ggmlBlock * l.bits / 8
	// Each of B, scales and zero points is computed from the blocks when written.
	repack := func(part int) func() ([]byte, error) {
		return func() ([]byte, error) {
			raw, err := t.Bytes()
			if err != nil {
				return nil, err
			}
			if len(raw) != rows*blocks*l.blockSize {
				return nil, formatf("tensor %s: %d bytes for %d x %d %v weights", t.Name, len(raw), rows, cols, t.DType)
			}
			return nbitsPart(t, raw, rows*blocks, l, part)
		}
	}
	bName := x.lazyInit(t.Name+"_q"+strconv.Itoa(l.bits), tensor.U8, []int64{int64(rows), int64(blocks), int64(blob)}, repack(partCodes))
	sName := x.lazyInit(t.Name+"_scales", tensor.F32, []int64{int64(rows * blocks)}, repack(partScales))
	inputs := []string{in, bName, sName}
	if l.hasMin {
		inputs = append(inputs, x.lazyInit(t.Name+"_zero_points", tensor.F32, []int64{int64(rows * blocks)}, repack(partZeroPoints)))
	}
	n := x.b.Node("MatMulNBits", out, inputs, []string{out},
		graph.IntAttr("K", int64(cols)), graph.IntAttr("N", int64(rows)), graph.IntAttr("bits", int64(l.bits)),
		graph.IntAttr("block_size", ggmlBlock), graph.IntAttr("accuracy_level", 0))
	graph.SetDomain(n, "com.microsoft")
	x.nbits = true
}

// The parts of MatMulNBits' inputs nbitsPart makes.
const (
	partCodes = iota
	partScales
	partZeroPoints
)

// nbitsPart converts n GGUF blocks to one of MatMulNBits' inputs: the codes, with
// weight k of a block in bits (k*bits)%8 of byte k*bits/8; the float32 scales d; or
// for Q4_1 the float32 zero points -m/d (so (q - zp) * d = q*d + m).
func nbitsPart(t *tensor.Tensor, raw []byte, n int, l nbitsLayout, part int) ([]byte, error) {
	blob := ggmlBlock * l.bits / 8
	var out []byte
	if part == partCodes {
		out = make([]byte, n*blob)
	} else {
		out = make([]byte, 4*n)
	}
	for i := range n {
		src := raw[i*l.blockSize : (i+1)*l.blockSize]
		d := tensor.F16ToF32(binary.LittleEndian.Uint16(src))
		var zp float32
		qs := src[2:]
		constant := false
		if l.hasMin {
			m := tensor.F16ToF32(binary.LittleEndian.Uint16(src[2:]))
			qs = src[4:]
			if d == 0 {
				// Every weight is m: code 0 with scale -m and zero point 1.
				d, zp, constant = -m, 1, true
			} else {
				zp = -m / d
			}
		}
		if bad := float64(d); math.IsNaN(bad) || math.IsInf(bad, 0) || math.IsInf(float64(zp), 0) {
			return nil, formatf("tensor %s: block %d has scale %v", t.Name, i, d)
		}
		switch part {
		case partScales:
			binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(d))
		case partZeroPoints:
			binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(zp))
		case partCodes:
			dst := out[i*blob : (i+1)*blob]
			switch {
			case constant:
			case l.bits == 8:
				for j, q := range qs {
					dst[j] = byte(int8(q)) + 128
				}
			default:
				// GGUF keeps weight j in the low nibble of qs[j] and weight j+16 in
				// the high nibble; MatMulNBits keeps weights 2i and 2i+1 in byte i.
				code := func(k int) byte {
					if k < 16 {
						return qs[k] & 0xF
					}
					return qs[k-16] >> 4
				}
				for j := range dst {
					dst[j] = code(2*j) | code(2*j+1)<<4
				}
			}
		}
	}
	return out, nil
}
