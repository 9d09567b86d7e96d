package onnxq

import (
	"context"
	"encoding/binary"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"

	"google.golang.org/protobuf/proto"

	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/graph"
	"github.com/refit-ml/refit/runtime"
)

// Mode is how ApplyModes treats one target.
type Mode int

const (
	// Quantized is the method's full quantization (weights and activations).
	Quantized Mode = iota
	// WeightsOnly stores the weight in int8 (per output channel) behind a
	// DequantizeLinear and computes the node in float on float activations: the file
	// shrinks as much, and activations whose range 8 bits cannot hold (a power
	// spectrum spanning 80 dB) stay exact. Recurrent nodes are always in this form.
	WeightsOnly
	// Weights16 is WeightsOnly with int16 codes (opset 21's DequantizeLinear): half
	// the float bytes, 256 times finer than int8, for the few layers (a recurrent
	// state path) whose outputs 8-bit weights move too far.
	Weights16
	// Float leaves the node and its weight as they are.
	Float
)

func (m Mode) String() string {
	switch m {
	case Quantized:
		return "quantized"
	case WeightsOnly:
		return "int8 weights, float activations"
	case Weights16:
		return "int16 weights, float activations"
	case Float:
		return "float"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// storedWeight rewrites t to read its weight from int8 codes through a per-channel
// DequantizeLinear, computing in float (Mode WeightsOnly).
func (s *applyState) storedWeight(t *target, n *onnxpb.NodeProto, wide bool) (NodeReport, error) {
	op := n.GetOpType()
	dims, w, axis := s.weightLayout(t, op)
	// Full 8 bits: no integer kernel reads these codes, so nothing can saturate.
	qw := quantizeWeight(w, dims, axis, true, true, false)
	if wide {
		qw = quantizeWeightIn(w, dims, axis, true, true, int16Range)
	}
	nr := NodeReport{Error: qw.err, Before: int64(4 * len(w)), After: weightBytes(qw)}
	var wdq string
	if wide {
		nr.After += int64(len(qw.q))
		var scaleDims []int64
		if len(qw.scales) > 1 {
			scaleDims = []int64{int64(len(qw.scales))}
		}
		wdq = s.e.Names.Fresh(t.w + "_dq")
		dq := qdqNode("DequantizeLinear", s.wideInits(t.w, dims, qw, scaleDims), []string{wdq})
		if len(qw.scales) > 1 {
			graph.SetInt(dq, "axis", int64(axis))
		}
		s.e.InsertBefore(n, dq)
	} else {
		wdq = s.weightDQ(t, n, qw, dims, axis, true)
	}
	c := proto.Clone(n).(*onnxpb.NodeProto)
	graph.SetInput(c, 1, wdq)
	s.rewriteAsMatMul(t, n, c)
	s.e.Replace(n, c)
	bits := map[bool]string{false: "int8", true: "int16"}[wide]
	nr.Action = fmt.Sprintf("%s stored weights %s, float %s (DequantizeLinear)", bits, perChannelNote(len(qw.scales) > 1), op)
	return nr, nil
}

// wideInits adds int16 codes and their scales (zero point 0, left out) and returns
// the inputs of their DequantizeLinear.
func (s *applyState) wideInits(base string, dims []int64, qw *quantWeight, scaleDims []int64) []string {
	s.wide = true
	b := make([]byte, 2*len(qw.q))
	for i, x := range qw.q {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(int16(x)))
	}
	wq := s.e.Raw(base+"_q16", elemInt16, dims, b)
	return []string{wq, s.e.Float(base+"_s", scaleDims, qw.scales)}
}

// elemInt16 is ONNX's INT16 element type.
const elemInt16 = 5

// FitStep is one evaluation of Fit: the layer whose mode changed (empty for the
// fully quantized start), its new mode and the model's output cosine then.
type FitStep struct {
	Layer  string  `json:"layer,omitempty"`
	Mode   string  `json:"mode"`
	Cosine float64 `json:"cosine"`
}

// Fit is the mixed-precision plan Fit found.
type Fit struct {
	Target float64 `json:"target_cosine"`
	Cosine float64 `json:"cosine"` // the plan's worst output cosine
	Met    bool    `json:"met"`
	// Modes lists the layers kept from full quantization and their mode; every
	// other target is quantized.
	Modes map[string]Mode `json:"-"`
	// Reasons says why each layer of Modes is kept, with its cosine when quantized alone.
	Reasons map[string]string `json:"reasons"`
	Steps   []FitStep         `json:"steps"`
}

// Mode returns the mode of label in the plan.
func (f *Fit) Mode(label string) Mode { return f.Modes[label] }

// Reason returns why label is kept from full quantization, or "".
func (f *Fit) Reason(label string) string { return f.Reasons[label] }

// Fit searches for the fewest layers to keep from full quantization so that the
// model's worst output cosine (eval's MinCos) reaches target: layers are taken in
// order of their damage when quantized alone (from layers, called only when the fully
// quantized model misses the target; Sensitivity gives them), each first
// moved to WeightsOnly (int8 weights, float activations: the file stays small),
// then, if the target is still missed once maxLayers are moved, to Weights16, then to
// Float, in the same order. At the end each kept layer, latest first, gets back the
// lightest treatment with which the target is still met. It costs one Apply and
// evaluation per step.
func (q *Quantizer) Fit(ctx context.Context, eval Evaluator, target float64, layers func() ([]LayerSensitivity, error), maxLayers int) (*Fit, error) {
	f := &Fit{Target: target, Modes: map[string]Mode{}, Reasons: map[string]string{}}
	measure := func() (float64, error) {
		qm, _, err := q.ApplyModes(ctx, f.Mode, nil)
		if err != nil {
			return 0, err
		}
		r, err := eval(ctx, qm)
		if err != nil {
			return 0, err
		}
		if math.IsNaN(r.MinCos) {
			return -1, nil
		}
		return r.MinCos, nil
	}
	cos, err := measure()
	if err != nil {
		return nil, err
	}
	f.Steps = append(f.Steps, FitStep{Mode: Quantized.String(), Cosine: cos})
	f.Cosine = cos
	if cos >= target {
		f.Met = true
		return f, nil
	}
	stores := map[string]bool{}
	for _, st := range q.stores {
		stores[st.label] = true
	}
	sens, err := layers()
	if err != nil {
		return nil, err
	}
	alone := map[string]float64{}
	ranked := slices.Clone(sens)
	// A layer whose output alone is no longer comparable (NaN: all zeros) is worst.
	damage := func(l LayerSensitivity) float64 {
		if math.IsNaN(l.Damage) {
			return math.Inf(1)
		}
		return l.Damage
	}
	sort.SliceStable(ranked, func(i, j int) bool { return damage(ranked[i]) > damage(ranked[j]) })
	var moved []string
	for _, l := range ranked {
		alone[l.Name] = l.Cosine
		if len(moved) < maxLayers && damage(l) > 0 {
			moved = append(moved, l.Name)
		}
	}
	step := func(label string, m Mode) (bool, error) {
		f.Modes[label] = m
		c, err := measure()
		if err != nil {
			return false, err
		}
		f.Steps = append(f.Steps, FitStep{Layer: label, Mode: m.String(), Cosine: c})
		f.Cosine = c
		return c >= target, nil
	}
	// Each pass moves the layers, in order, one step down their ladder: float
	// activations on int8 weights (the file stays as small), on int16 weights, then
	// float. Recurrent weights are int8 already and computed in float.
	ladder := func(label string) []Mode {
		if stores[label] {
			return []Mode{Weights16, Float}
		}
		return []Mode{WeightsOnly, Weights16, Float}
	}
	for pass := 0; pass < 3 && !f.Met; pass++ {
		for _, label := range moved {
			l := ladder(label)
			if pass >= len(l) {
				continue
			}
			if f.Met, err = step(label, l[pass]); err != nil {
				return nil, err
			}
			if f.Met {
				break
			}
		}
	}
	if !f.Met {
		f.explain(alone)
		return f, nil
	}
	// Latest first, give every kept layer the lightest treatment the target allows:
	// quantized again, else the first rung of its ladder that still meets it.
	for i := len(moved) - 1; i >= 0; i-- {
		label := moved[i]
		cur, kept := f.Modes[label]
		if !kept {
			continue
		}
		for _, m := range append([]Mode{Quantized}, ladder(label)...) {
			if m == cur {
				break
			}
			if m == Quantized {
				delete(f.Modes, label)
			} else {
				f.Modes[label] = m
			}
			c, err := measure()
			if err != nil {
				return nil, err
			}
			if c >= target {
				f.Steps = append(f.Steps, FitStep{Layer: label, Mode: m.String(), Cosine: c})
				f.Cosine = c
				break
			}
			f.Modes[label] = cur
		}
	}
	f.explain(alone)
	return f, nil
}

// explain writes the reason of every kept layer.
func (f *Fit) explain(alone map[string]float64) {
	for label, m := range f.Modes {
		why := fmt.Sprintf("quantized alone, the output cosine falls to %.4f", alone[label])
		switch m {
		case Weights16:
			why += "; int8 stored weights were not enough"
		case Float:
			why += "; int8 and int16 stored weights were not enough"
		}
		f.Reasons[label] = fmt.Sprintf("accuracy (target cosine %g): %s", f.Target, why)
	}
}

// InputSpan is how the values of a layer's activation input fit 8-bit codes.
type InputSpan struct {
	// SpanDB is 20 log10 of max|x| over the median of the nonzero |x|; 8-bit codes
	// span 20 log10(255) = 48 dB.
	SpanDB float64 `json:"span_db"`
	// Zeroed is the fraction of nonzero values that a uint8 range over each batch's
	// [min, max] rounds to zero (DynamicQuantizeLinear's codes).
	Zeroed float64 `json:"zeroed"`
}

// spanSample caps the |x| values kept per activation for the median.
const spanSample = 1 << 16

// InputSpans runs feed through the float model and measures the activation input of
// each labelled main-graph target (others are left out): why 8-bit activations fail
// on it, as for a power spectrum.
func (q *Quantizer) InputSpans(ctx context.Context, feed Feed, labels []string) (map[string]InputSpan, error) {
	byInput := map[string][]string{}
	for _, t := range q.targets {
		if t.sc == 0 && slices.Contains(labels, t.label) {
			byInput[t.x] = append(byInput[t.x], t.label)
		}
	}
	if len(byInput) == 0 {
		return nil, nil
	}
	names := slices.Sorted(maps.Keys(byInput))
	type acc struct {
		peak           float64
		zeroed, values int64
		sample         []float64
	}
	accs := map[string]*acc{}
	for _, n := range names {
		accs[n] = &acc{}
	}
	err := observe(ctx, q.opts.Threads, q.mp, names, feed, func(outs map[string]*runtime.Value) error {
		for _, n := range names {
			a, xs := accs[n], outs[n].Float32s()
			lo, hi := 0.0, 0.0
			for _, x := range xs {
				lo, hi = math.Min(lo, float64(x)), math.Max(hi, float64(x))
			}
			half := (hi - lo) / 255 / 2
			stride := max(1, len(xs)/spanSample)
			for i, x := range xs {
				v := math.Abs(float64(x))
				if v == 0 || math.IsNaN(v) {
					continue
				}
				a.values++
				a.peak = math.Max(a.peak, v)
				if v < half {
					a.zeroed++
				}
				if i%stride == 0 && len(a.sample) < 4*spanSample {
					a.sample = append(a.sample, v)
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := map[string]InputSpan{}
	for _, n := range names {
		a := accs[n]
		if a.values == 0 {
			continue
		}
		slices.Sort(a.sample)
		sp := InputSpan{Zeroed: float64(a.zeroed) / float64(a.values)}
		if med := a.sample[len(a.sample)/2]; med > 0 {
			sp.SpanDB = 20 * math.Log10(a.peak/med)
		}
		for _, l := range byInput[n] {
			out[l] = sp
		}
	}
	return out, nil
}

// NoteSpans adds to the reasons of kept layers whose input 8-bit codes hold badly
// (wider than 40 dB from median to peak, or over a tenth of its nonzero values
// rounded to zero) the figures that say so.
func (f *Fit) NoteSpans(spans map[string]InputSpan) {
	for label, sp := range spans {
		why, ok := f.Reasons[label]
		if !ok || (sp.SpanDB <= 40 && sp.Zeroed <= 0.1) {
			continue
		}
		f.Reasons[label] = fmt.Sprintf("%s; its input spans %.0f dB from median to peak (8-bit codes: 48 dB), and 8-bit codes round %.0f%% of its nonzero values to zero",
			why, sp.SpanDB, 100*sp.Zeroed)
	}
}
