package keras2onnx

import (
	"fmt"
	"slices"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/graph"
)

// convTranspose converts Conv1DTranspose/Conv2DTranspose/Conv3DTranspose. Keras keeps
// the kernel as [k..., filters, in], which is ONNX's [in, filters, k...] after moving
// the last two axes first; TF's transposed convolution is the gradient of its forward
// convolution, as ONNX's is, so the kernel is not flipped.
//
// Output sizes follow Keras (out = in*s for "same", in*s + max(k_eff-s, 0) for
// "valid", (in-1)*s + k_eff - 2*pad + output_padding when output_padding is set). The
// padding ONNX needs, s*(in-1) + k_eff - out, does not depend on the input size: it is
// split as TensorFlow splits it (the odd pad at the end); a negative amount becomes
// ONNX output_padding (zeros plus bias at the end).
func convTranspose(nd int) convertFunc {
	return func(b *builder, l *layer, in []*value) ([]*value, error) {
		x, err := one(in, l)
		if err != nil {
			return nil, err
		}
		if err := needRank(l, x, nd+2); err != nil {
			return nil, err
		}
		if err := channelsLast(l); err != nil {
			return nil, err
		}
		c := &l.Cfg
		k := c.ints("kernel_size", nd, nil)
		s := c.ints("strides", nd, repeat(1, nd))
		d := c.ints("dilation_rate", nd, repeat(1, nd))
		padding := c.str("padding", "valid")
		outPad := c.ints("output_padding", nd, nil)
		filters := c.int("filters", -1)
		useBias := c.boolean("use_bias", true)
		act := c.activation("activation")
		if c.err != nil {
			return nil, c.err
		}
		if k == nil {
			return nil, fmt.Errorf("%w: layer %q: no kernel_size", refit.ErrFormat, l.Name)
		}
		if c.int("groups", 1) != 1 {
			return nil, unsupported(l, "groups %d", c.int("groups", 1))
		}
		pads := make([]int64, 2*nd)
		onnxOutPad := make([]int64, nd)
		outSp := make([]int64, nd)
		for i := range nd {
			if k[i] < 1 || s[i] < 1 || d[i] < 1 || k[i] > maxConfigInt>>8 || s[i] > maxConfigInt>>8 || d[i] > maxConfigInt>>8 {
				return nil, fmt.Errorf("%w: layer %q: kernel %v, strides %v, dilation %v", refit.ErrFormat, l.Name, k, s, d)
			}
			eff := (k[i]-1)*d[i] + 1
			var out1 int64 // the output size for an input of size 1
			switch {
			case outPad != nil:
				if outPad[i] < 0 || outPad[i] >= max(s[i], d[i]) {
					return nil, fmt.Errorf("%w: layer %q: output_padding %v for strides %v", refit.ErrFormat, l.Name, outPad, s)
				}
				pad := int64(0)
				if padding == "same" {
					pad = eff / 2
				} else if padding != "valid" {
					return nil, unsupported(l, "padding %q", padding)
				}
				out1 = eff - 2*pad + outPad[i]
			case padding == "same":
				out1 = s[i]
			case padding == "valid":
				out1 = s[i] + max(eff-s[i], 0)
			default:
				return nil, unsupported(l, "padding %q", padding)
			}
			total := eff - out1
			if total >= 0 {
				pads[i], pads[nd+i] = total/2, total-total/2
			} else {
				onnxOutPad[i] = -total
			}
			outSp[i] = -1
			if n := x.spatial()[i]; n >= 0 {
				if outSp[i] = (n-1)*s[i] + out1; outSp[i] < 1 {
					return nil, fmt.Errorf("%w: layer %q: output size %d", refit.ErrFormat, l.Name, outSp[i])
				}
			}
		}
		kernel, kshape, err := b.weightF32(l.Name, 0, append(slices.Clone(k), filters, x.channels()), "kernel")
		if err != nil {
			return nil, err
		}
		filters = kshape[nd]
		wd, ws := kernelToOI(kernel, kshape)
		inputs := []string{b.toCF(x).name, b.Float(l.Name+"_kernel", ws, wd)}
		if useBias {
			bv, _, err := b.weightF32(l.Name, 1, []int64{filters}, "bias")
			if err != nil {
				return nil, err
			}
			inputs = append(inputs, b.Float(l.Name+"_bias", []int64{filters}, bv))
		}
		attrs := windowAttrs(k, s, d, pads)
		if slices.ContainsFunc(onnxOutPad, func(p int64) bool { return p != 0 }) {
			attrs = append(attrs, graph.IntsAttr("output_padding", onnxOutPad))
		}
		out := b.Op("ConvTranspose", l.Name, inputs, attrs...)
		shape := append(append([]int64{x.shape[0]}, outSp...), filters)
		y, err := b.activate(l, &value{name: out, shape: shape, cf: true, elem: onnxFloat}, act)
		return []*value{y}, err
	}
}
