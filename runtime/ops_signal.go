package runtime

import (
	"fmt"
	"math"
	"slices"

	"github.com/refit-ml/refit/internal/parallel"
	"github.com/refit-ml/refit/tensor"
)

// Signal operators (opset 17): window functions, DFT, STFT and MelWeightMatrix.
// Transforms are direct O(n^2) sums in float64 per signal, run in parallel over
// signals; results are rounded to the input's float type.

func init() {
	for _, name := range []string{"HannWindow", "HammingWindow", "BlackmanWindow"} {
		Register(Op{Type: name, Since: 17, Kernel: windowKernel(name)})
	}
	Register(Op{Type: "DFT", Since: 17, Kernel: dftKernel, ViaFloat32: true})
	Register(Op{Type: "STFT", Since: 17, Kernel: stftKernel, ViaFloat32: true})
	Register(Op{Type: "MelWeightMatrix", Since: 17, Kernel: melWeightMatrixKernel})
}

func windowKernel(name string) Kernel {
	return func(c *Call) ([]*Value, error) {
		size, err := scalarInt(c.Input(0), "size")
		if err != nil {
			return nil, err
		}
		if size < 0 || size > 1<<28 {
			return nil, fmt.Errorf("size %d out of range", size)
		}
		var a attrs
		code := a.int(c.Node, "output_datatype", 1)
		periodic := a.int(c.Node, "periodic", 1) != 0
		if a.err != nil {
			return nil, a.err
		}
		dt, ok := dtypeFromONNX(int32(code))
		if !ok || dt == tensor.Bool {
			return nil, fmt.Errorf("output_datatype %d: %w", code, errUnsupported)
		}
		n := float64(size)
		if !periodic {
			n--
		}
		out, err := c.Alloc(dt, []int64{size})
		if err != nil {
			return nil, err
		}
		for i := int64(0); i < size; i++ {
			x := 2 * math.Pi * float64(i) / n
			var w float64
			switch name {
			case "HannWindow":
				w = 0.5 - 0.5*math.Cos(x)
			case "HammingWindow":
				w = 25.0/46 - (1-25.0/46)*math.Cos(x)
			default:
				w = 0.42 - 0.5*math.Cos(x) + 0.08*math.Cos(2*x)
			}
			setFloat64(out, int(i), w)
		}
		return []*Value{out}, nil
	}
}

// twiddles returns cos and sin of -2*pi*j/n for j in [0, n).
func twiddles(n int) (cs, sn []float64) {
	cs, sn = make([]float64, n), make([]float64, n)
	for j := range cs {
		sn[j], cs[j] = math.Sincos(-2 * math.Pi * float64(j) / float64(n))
	}
	return cs, sn
}

// dft1 transforms the n complex samples (re, im) into len(out) bins using the
// twiddle tables of n; the inverse conjugates the twiddles and divides by n.
func dft1(re, im []float64, out []complex128, inverse bool, cs, sn []float64) {
	n := len(re)
	for k := range out {
		var sr, si float64
		j := 0
		for t := 0; t < n; t++ {
			c, s := cs[j], sn[j]
			if inverse {
				s = -s
			}
			sr += re[t]*c - im[t]*s
			si += re[t]*s + im[t]*c
			if j += k; j >= n {
				j %= n
			}
		}
		if inverse {
			sr, si = sr/float64(n), si/float64(n)
		}
		out[k] = complex(sr, si)
	}
}

func dftKernel(c *Call) ([]*Value, error) {
	x := c.Input(0)
	if x == nil || x.DType != tensor.F32 && x.DType != tensor.F64 || len(x.Shape) < 2 {
		return nil, fmt.Errorf("input must be float [batch, ..., 1 or 2], have %v", x)
	}
	last := x.Shape[len(x.Shape)-1]
	if last != 1 && last != 2 {
		return nil, fmt.Errorf("input %v must end in 1 (real) or 2 (complex)", x)
	}
	var a attrs
	inverse := a.int(c.Node, "inverse", 0) != 0
	onesided := a.int(c.Node, "onesided", 0) != 0
	axis := a.int(c.Node, "axis", 1)
	if a.err != nil {
		return nil, a.err
	}
	if c.Opset >= 20 {
		axis = -2
		if v := c.Input(2); v != nil {
			var err error
			if axis, err = scalarInt(v, "axis"); err != nil {
				return nil, err
			}
		}
	}
	ax, err := normAxis(axis, len(x.Shape)-1)
	if err != nil {
		return nil, err
	}
	if ax == 0 && c.Opset < 20 {
		return nil, fmt.Errorf("axis 0 is the batch axis")
	}
	n := x.Shape[ax]
	if v := c.Input(1); v != nil && v.Len() > 0 {
		if n, err = scalarInt(v, "dft_length"); err != nil {
			return nil, err
		}
		if n <= 0 || n > 1<<20 {
			return nil, fmt.Errorf("dft_length %d out of range", n)
		}
	}
	if onesided && inverse {
		return nil, fmt.Errorf("onesided inverse DFT: %w", errUnsupported)
	}
	bins := n
	if onesided {
		bins = n/2 + 1
	}
	shape := slices.Clone(x.Shape)
	shape[ax], shape[len(shape)-1] = bins, 2
	if _, err := numElements(shape); err != nil {
		return nil, err
	}
	inShape := x.Shape[:len(x.Shape)-1]
	outer, inLen, inner := splitAxis(inShape, ax)
	xs, err := c.float64s(x)
	if err != nil {
		return nil, err
	}
	res, err := scratchSlice[float64](c, outer*int(bins)*inner*2)
	if err != nil {
		return nil, err
	}
	N := int(n)
	cs, sn := twiddles(N)
	parallel.For(c.Threads(), outer*inner, 1, func(lo, hi int) {
		re, im := make([]float64, N), make([]float64, N)
		spec := make([]complex128, bins)
		for r := lo; r < hi; r++ {
			o, in := r/inner, r%inner
			for t := 0; t < N; t++ {
				re[t], im[t] = 0, 0
				if t < inLen {
					p := ((o*inLen+t)*inner + in) * int(last)
					re[t] = xs[p]
					if last == 2 {
						im[t] = xs[p+1]
					}
				}
			}
			dft1(re, im, spec, inverse, cs, sn)
			for k, v := range spec {
				p := ((o*int(bins)+k)*inner + in) * 2
				res[p], res[p+1] = real(v), imag(v)
			}
		}
	})
	out, err := c.Alloc(x.DType, shape)
	if err != nil {
		return nil, err
	}
	for i, v := range res {
		setFloat64(out, i, v)
	}
	return []*Value{out}, nil
}

func stftKernel(c *Call) ([]*Value, error) {
	x, stepV, win, lenV := c.Input(0), c.Input(1), c.Input(2), c.Input(3)
	if x == nil || len(x.Shape) != 3 || x.Shape[2] != 1 && x.Shape[2] != 2 || x.DType != tensor.F32 && x.DType != tensor.F64 {
		return nil, fmt.Errorf("signal must be float [batch, length, 1 or 2], have %v", x)
	}
	step, err := scalarInt(stepV, "frame_step")
	if err != nil {
		return nil, err
	}
	onesided, err := c.Node.Int("onesided", 1)
	if err != nil {
		return nil, err
	}
	frameLen := int64(-1)
	if lenV != nil && lenV.Len() > 0 {
		if frameLen, err = scalarInt(lenV, "frame_length"); err != nil {
			return nil, err
		}
	}
	var window []float64
	if win != nil && win.Len() > 0 {
		window = win.AsFloat64s()
		if frameLen < 0 {
			frameLen = int64(len(window))
		} else if int64(len(window)) != frameLen {
			return nil, fmt.Errorf("window %v does not match frame_length %d", win, frameLen)
		}
	}
	B, L, comp := x.Shape[0], x.Shape[1], int(x.Shape[2])
	if frameLen <= 0 || frameLen > L || step <= 0 {
		return nil, fmt.Errorf("frame_length %d and frame_step %d do not fit signal length %d", frameLen, step, L)
	}
	if onesided != 0 && comp == 2 {
		return nil, fmt.Errorf("onesided STFT of a complex signal")
	}
	frames := (L-frameLen)/step + 1
	bins := frameLen
	if onesided != 0 {
		bins = frameLen/2 + 1
	}
	shape := []int64{B, frames, bins, 2}
	n, err := numElements(shape)
	if err != nil {
		return nil, err
	}
	xs, err := c.float64s(x)
	if err != nil {
		return nil, err
	}
	res, err := scratchSlice[float64](c, n)
	if err != nil {
		return nil, err
	}
	F, N := int(frameLen), int(bins)
	cs, sn := twiddles(F)
	parallel.For(c.Threads(), int(B*frames), 1, func(lo, hi int) {
		re, im := make([]float64, F), make([]float64, F)
		spec := make([]complex128, N)
		for r := lo; r < hi; r++ {
			b, f := r/int(frames), r%int(frames)
			for t := 0; t < F; t++ {
				p := (b*int(L) + f*int(step) + t) * comp
				w := 1.0
				if window != nil {
					w = window[t]
				}
				re[t], im[t] = xs[p]*w, 0
				if comp == 2 {
					im[t] = xs[p+1] * w
				}
			}
			dft1(re, im, spec, false, cs, sn)
			for k, v := range spec {
				res[(r*N+k)*2], res[(r*N+k)*2+1] = real(v), imag(v)
			}
		}
	})
	out, err := c.Alloc(x.DType, shape)
	if err != nil {
		return nil, err
	}
	for i, v := range res {
		setFloat64(out, i, v)
	}
	return []*Value{out}, nil
}

func melWeightMatrixKernel(c *Call) ([]*Value, error) {
	bins, err := scalarInt(c.Input(0), "num_mel_bins")
	if err != nil {
		return nil, err
	}
	dftLen, err := scalarInt(c.Input(1), "dft_length")
	if err != nil {
		return nil, err
	}
	rate, err := scalarInt(c.Input(2), "sample_rate")
	if err != nil {
		return nil, err
	}
	if c.Input(3) == nil || c.Input(4) == nil || c.Input(3).Len() != 1 || c.Input(4).Len() != 1 {
		return nil, fmt.Errorf("lower_edge_hertz and upper_edge_hertz must be scalars")
	}
	lowHz, highHz := elemFloat64(c.Input(3), 0), elemFloat64(c.Input(4), 0)
	code, err := c.Node.Int("output_datatype", 1)
	if err != nil {
		return nil, err
	}
	dt, ok := dtypeFromONNX(int32(code))
	if !ok || dt == tensor.Bool {
		return nil, fmt.Errorf("output_datatype %d: %w", code, errUnsupported)
	}
	if bins <= 0 || dftLen <= 0 || rate <= 0 || bins > 1<<16 || dftLen > 1<<24 {
		return nil, fmt.Errorf("num_mel_bins %d, dft_length %d and sample_rate %d must be positive", bins, dftLen, rate)
	}
	specBins := dftLen/2 + 1
	out, err := c.Alloc(dt, []int64{specBins, bins})
	if err != nil {
		return nil, err
	}
	lowMel := 2595 * math.Log10(1+lowHz/700)
	highMel := 2595 * math.Log10(1+highHz/700)
	step := (highMel - lowMel) / float64(bins+2)
	freq := make([]int64, bins+2)
	for i := range freq {
		hz := 700 * (math.Pow(10, (float64(i)*step+lowMel)/2595) - 1)
		f := math.Floor(float64(dftLen+1) * hz / float64(rate))
		if math.IsNaN(f) || math.Abs(f) > 1<<40 {
			return nil, fmt.Errorf("edge frequencies %v and %v Hz are out of range", lowHz, highHz)
		}
		freq[i] = int64(f)
	}
	set := func(j, i int64, v float64) {
		if j >= 0 && j < specBins {
			setFloat64(out, int(j*bins+i), v)
		}
	}
	for i := int64(0); i < bins; i++ {
		lo, center, hi := freq[i], freq[i+1], freq[i+2]
		if center == lo {
			set(center, i, 1)
		} else {
			for j := max(lo, 0); j <= min(center, specBins-1); j++ {
				set(j, i, float64(j-lo)/float64(center-lo))
			}
		}
		if hi > center {
			for j := max(center, 0); j < min(hi, specBins); j++ {
				set(j, i, float64(hi-j)/float64(hi-center))
			}
		}
	}
	return []*Value{out}, nil
}
