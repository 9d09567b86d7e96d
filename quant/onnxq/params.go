package onnxq

import (
	"math"
)

// qrange is a quantized type's integer range.
type qrange struct{ lo, hi int32 }

func int8Range(signed, reduce bool) qrange {
	switch {
	case signed && reduce:
		return qrange{-64, 63}
	case signed:
		return qrange{-128, 127}
	case reduce:
		return qrange{0, 127}
	}
	return qrange{0, 255}
}

// affine computes scale and zero point mapping [lo, hi] (widened to hold 0, so
// zero is exact) onto r. Symmetric ranges use |max| on both sides with the zero
// point in the middle of r (0 for signed types), as ONNX Runtime's quantizer.
func affine(lo, hi float64, r qrange, symmetric bool) (float32, int32) {
	lo, hi = math.Min(lo, 0), math.Max(hi, 0)
	if symmetric {
		m := math.Max(-lo, hi)
		zp := int32(0)
		if r.lo >= 0 {
			zp = (r.lo + r.hi + 1) / 2
		}
		span := float64(r.hi - r.lo)
		if r.lo < 0 { // signed: [-127, 127] so that zero stays centered
			span = 2 * float64(r.hi)
		}
		scale := float32(2 * m / span)
		if scale == 0 || math.IsNaN(float64(scale)) || math.IsInf(float64(scale), 0) {
			return 1, zp
		}
		return scale, zp
	}
	scale := float32((hi - lo) / float64(r.hi-r.lo))
	if scale == 0 || math.IsNaN(float64(scale)) || math.IsInf(float64(scale), 0) {
		return 1, r.lo
	}
	zp := int32(math.RoundToEven(float64(r.lo) - lo/float64(scale)))
	return scale, min(max(zp, r.lo), r.hi)
}

// quantize rounds x/scale half to even and saturates, as QuantizeLinear.
func quantize(x, scale float32, zp int32, r qrange) int32 {
	q := math.RoundToEven(float64(x/scale)) + float64(zp)
	return int32(min(max(q, float64(r.lo)), float64(r.hi)))
}

// quantWeight is an int8 weight with its parameters.
type quantWeight struct {
	q      []int32   // quantized values, same layout as the float weight
	scales []float32 // one per channel, or one
	zps    []int32
	axis   int // channel axis when len(scales) > 1
	err    float64
}

// quantizeWeight quantizes w (shape dims) per tensor, or per channel along axis.
func quantizeWeight(w []float32, dims []int64, axis int, perChannel, signed, reduce bool) *quantWeight {
	return quantizeWeightIn(w, dims, axis, perChannel, signed, int8Range(signed, reduce))
}

// int16Range is the code range of 16-bit stored weights (symmetric, zero point 0).
var int16Range = qrange{-32768, 32767}

// quantizeWeightIn quantizes w to the codes of r.
func quantizeWeightIn(w []float32, dims []int64, axis int, perChannel, signed bool, r qrange) *quantWeight {
	channels, inner := 1, 1
	if perChannel {
		channels = int(dims[axis])
		for _, d := range dims[axis+1:] {
			inner *= int(d)
		}
	}
	qw := &quantWeight{q: make([]int32, len(w)), scales: make([]float32, channels), zps: make([]int32, channels), axis: axis}
	ch := func(i int) int { return i / inner % channels }
	lo, hi := make([]float64, channels), make([]float64, channels)
	for i, x := range w {
		c := ch(i)
		lo[c], hi[c] = math.Min(lo[c], float64(x)), math.Max(hi[c], float64(x))
	}
	for c := range channels {
		qw.scales[c], qw.zps[c] = affine(lo[c], hi[c], r, signed)
	}
	var num, den float64
	for i, x := range w {
		c := ch(i)
		qw.q[i] = quantize(x, qw.scales[c], qw.zps[c], r)
		d := float64(qw.q[i]-qw.zps[c])*float64(qw.scales[c]) - float64(x)
		num += d * d
		den += float64(x) * float64(x)
	}
	if den > 0 {
		qw.err = math.Sqrt(num / den)
	}
	return qw
}

// transpose2 returns the [cols, rows] transpose of a row-major [rows, cols] matrix.
func transpose2(w []float32, rows, cols int) []float32 {
	t := make([]float32, len(w))
	for i := range rows {
		for j := range cols {
			t[j*rows+i] = w[i*cols+j]
		}
	}
	return t
}

// fitBias widens the weight scale of every channel whose bias, quantized to int32 with
// scale xScale * weight scale, would overflow, and requantizes that channel's weights:
// a per-channel scale folded from a tiny learned factor (PP-OCRv4's MobileOne blocks)
// otherwise saturates the bias, as ONNX Runtime's quantizer guards against too. The
// widened channel's weights are small beside its bias, so they lose little. w and
// dims are the float weight qw was made from; bias has one value per channel (or
// one, broadcast).
func (qw *quantWeight) fitBias(w []float32, dims []int64, bias []float32, xScale float32, signed, reduce bool) {
	if len(bias) == 0 || xScale <= 0 {
		return
	}
	r := int8Range(signed, reduce)
	channels := len(qw.scales)
	inner := 1
	if channels > 1 {
		for _, d := range dims[qw.axis+1:] {
			inner *= int(d)
		}
	}
	const limit = 1 << 30 // half of int32: headroom for rounding
	widened := false
	for c := range channels {
		need := 0.0
		for i, b := range bias {
			if channels == 1 || i%channels == c {
				need = math.Max(need, math.Abs(float64(b))/(float64(xScale)*limit))
			}
		}
		if float64(qw.scales[c]) >= need {
			continue
		}
		qw.scales[c] = float32(need)
		widened = true
		for i, x := range w {
			if channels == 1 || i/inner%channels == c {
				qw.q[i] = quantize(x, qw.scales[c], qw.zps[c], r)
			}
		}
	}
	if widened {
		var num, den float64
		for i, x := range w {
			c := 0
			if channels > 1 {
				c = i / inner % channels
			}
			d := float64(qw.q[i]-qw.zps[c])*float64(qw.scales[c]) - float64(x)
			num += d * d
			den += float64(x) * float64(x)
		}
		if den > 0 {
			qw.err = math.Sqrt(num / den)
		}
	}
}
