package onnxexport

import (
	"encoding/binary"
	"math"
	"strconv"

	"github.com/refit-ml/refit/arch"
	"github.com/refit-ml/refit/graph"
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
	v, err := t.Float32s()
	if err != nil {
		x.fail(err)
		return ""
	}
	dims := []int64{int64(rows), int64(cols)}
	if transposed {
		tr := make([]float32, len(v))
		for r := range rows {
			row := v[r*cols : (r+1)*cols]
			for c, f := range row {
				tr[c*rows+r] = f
			}
		}
		v, dims = tr, []int64{int64(cols), int64(rows)}
	}
	return x.b.Float(t.Name, dims, v)
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
	if x.opts.Weights == Auto {
		if nb, ok := nbitsOf(t.DType); ok {
			x.matmulNBits(in, t, rows, cols, out, nb)
			return out
		}
	}
	w := x.floatInit(t, rows, cols, true)
	x.b.Node("MatMul", out, []string{in, w}, []string{out})
	return out
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
	raw, err := t.Bytes()
	if err != nil {
		x.fail(err)
		return
	}
	blocks := cols / ggmlBlock
	if cols%ggmlBlock != 0 || len(raw) != rows*blocks*l.blockSize {
		x.fail(formatf("tensor %s: %d bytes for %d x %d %v weights", t.Name, len(raw), rows, cols, t.DType))
		return
	}
	blob := ggmlBlock * l.bits / 8
	b := make([]byte, rows*blocks*blob)
	scales := make([]float32, rows*blocks)
	var zps []float32
	if l.hasMin {
		zps = make([]float32, rows*blocks)
	}
	for i := range rows * blocks {
		src := raw[i*l.blockSize : (i+1)*l.blockSize]
		dst := b[i*blob : (i+1)*blob]
		d := tensor.F16ToF32(binary.LittleEndian.Uint16(src))
		scales[i] = d
		switch t.DType {
		case tensor.Q4_0, tensor.Q4_1:
			qs := src[2:]
			if l.hasMin {
				m := tensor.F16ToF32(binary.LittleEndian.Uint16(src[2:]))
				qs = src[4:]
				if d == 0 {
					// Every weight is m: code 0 with scale -m and zero point 1.
					scales[i], zps[i] = -m, 1
					continue
				}
				zps[i] = -m / d
			}
			// GGUF keeps weight j in the low nibble of qs[j] and weight j+16 in the
			// high nibble; MatMulNBits keeps weights 2i and 2i+1 in byte i.
			code := func(k int) byte {
				if k < 16 {
					return qs[k] & 0xF
				}
				return qs[k-16] >> 4
			}
			for j := range blob {
				dst[j] = code(2*j) | code(2*j+1)<<4
			}
		case tensor.Q8_0:
			for j, q := range src[2:] {
				dst[j] = byte(int8(q)) + 128
			}
		}
	}
	for i, s := range scales {
		if math.IsNaN(float64(s)) || math.IsInf(float64(s), 0) || (zps != nil && math.IsInf(float64(zps[i]), 0)) {
			x.fail(formatf("tensor %s: block %d has scale %v", t.Name, i, s))
			return
		}
	}
	bName := x.b.Raw(t.Name+"_q"+strconv.Itoa(l.bits), graph.ElemUint8, []int64{int64(rows), int64(blocks), int64(blob)}, b)
	sName := x.b.Float(t.Name+"_scales", []int64{int64(rows * blocks)}, scales)
	inputs := []string{in, bName, sName}
	if zps != nil {
		inputs = append(inputs, x.b.Float(t.Name+"_zero_points", []int64{int64(rows * blocks)}, zps))
	}
	n := x.b.Node("MatMulNBits", out, inputs, []string{out},
		graph.IntAttr("K", int64(cols)), graph.IntAttr("N", int64(rows)), graph.IntAttr("bits", int64(l.bits)),
		graph.IntAttr("block_size", ggmlBlock), graph.IntAttr("accuracy_level", 0))
	graph.SetDomain(n, "com.microsoft")
	x.nbits = true
}
