package tf2onnx

import (
	"encoding/binary"
	"fmt"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/tflite"
	"github.com/refit-ml/refit/graph"
)

// MediaPipe's custom TFLite operators (mediapipe/util/tflite/operations), each
// written as a small ONNX subgraph. Their options are C structs copied verbatim into
// custom_options (little-endian int32 fields), not flexbuffers.

// tflPadding values of TfLitePadding.
const (
	tflPaddingSame  = 1
	tflPaddingValid = 2
)

// customInts reads n little-endian int32 fields from a custom operator's options.
func customInts(op tflite.Operator, n int) ([]int32, error) {
	if len(op.Custom) < 4*n {
		return nil, fmt.Errorf("%w: %s options are %d bytes, want at least %d", refit.ErrFormat, op.Op, len(op.Custom), 4*n)
	}
	out := make([]int32, n)
	for i := range out {
		out[i] = int32(binary.LittleEndian.Uint32(op.Custom[4*i:]))
	}
	return out, nil
}

func (c *tflConverter) custom(op tflite.Operator, base string) error {
	switch op.Op {
	case "CUSTOM:Convolution2DTransposeBias":
		return c.transposeConvBias(op, base)
	}
	return unsupported("%s", op.Op)
}

// transposeConvBias converts Convolution2DTransposeBias: TFLite's TRANSPOSE_CONV with
// a bias input and the output size derived from the input (inputs: data NHWC,
// weights [O, H, W, I], bias [O]; options TfLiteTransposeConvParams {padding,
// stride_width, stride_height}). SAME padding removes max(0, k - (in-1)%s - 1)
// output rows, the smaller half at the start.
func (c *tflConverter) transposeConvBias(op tflite.Operator, base string) error {
	if len(op.Inputs) != 3 {
		return fmt.Errorf("%w: %s with %d inputs", refit.ErrFormat, op.Op, len(op.Inputs))
	}
	p, err := customInts(op, 3)
	if err != nil {
		return err
	}
	padding, sw, sh := p[0], int64(p[1]), int64(p[2])
	if padding != tflPaddingSame && padding != tflPaddingValid {
		return fmt.Errorf("%w: %s padding %d", refit.ErrFormat, op.Op, padding)
	}
	if sw < 1 || sh < 1 || sw > 1<<16 || sh > 1<<16 {
		return fmt.Errorf("%w: %s strides %d, %d", refit.ErrFormat, op.Op, sh, sw)
	}
	if err := c.requireFloat(op.Inputs[0]); err != nil {
		return err
	}
	x, err := c.in(op, 0)
	if err != nil {
		return err
	}
	w, err := c.constIn(op, 1)
	if err != nil {
		return err
	}
	bias, err := c.constIn(op, 2)
	if err != nil {
		return err
	}
	in := c.shapeOf(op.Inputs[0])
	if len(w.shape) != 4 || w.isInt || len(in) != 4 || in[1] < 1 || in[2] < 1 || in[3] != w.shape[3] || int64(bias.len()) != w.shape[0] {
		return fmt.Errorf("%w: %s input %v, weights %v, %d biases", refit.ErrFormat, op.Op, in, w.shape, bias.len())
	}
	kh, kw := w.shape[1], w.shape[2]
	var padH, padW int64
	if padding == tflPaddingSame {
		padH = max(0, kh-(in[1]-1)%sh-1)
		padW = max(0, kw-(in[2]-1)%sw-1)
	}
	// weights [O, H, W, I] -> ONNX ConvTranspose [I, O, H, W]
	wt, err := w.transposed([]int{3, 0, 1, 2})
	if err != nil {
		return err
	}
	y := c.b.Op("ConvTranspose", base+"_nchw",
		[]string{c.b.transpose(x, toNCHW), c.b.constant(base+"_w", wt), c.b.Float(base+"_b", []int64{w.shape[0]}, bias.floats())},
		graph.IntsAttr("kernel_shape", []int64{kh, kw}), graph.IntsAttr("strides", []int64{sh, sw}),
		graph.IntsAttr("pads", []int64{padH / 2, padW / 2, padH - padH/2, padW - padW/2}))
	c.names[op.Outputs[0]] = c.b.transpose(y, toNHWC)
	return nil
}
