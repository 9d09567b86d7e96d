package onnxq

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"

	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/graph"
	"github.com/refit-ml/refit/internal/parallel"
	"github.com/refit-ml/refit/runtime"
	"github.com/refit-ml/refit/tensor"
)

// Feed calls fn once per batch of model inputs (keyed by input name) and stops at
// the first error. Calibration and evaluation stream through a Feed, so only one
// batch and its intermediate values are in memory at a time.
type Feed func(fn func(batch map[string]*runtime.Value) error) error

// Whole lists the inputs a dataset holds once rather than by rows: those whose first
// dimension the model fixes (declared maps an input to it; absent when symbolic) and
// that differ there from the rows of the inputs whose first dimension is symbolic. A
// recurrent state such as silero VAD's [2, batch, 128] has its batch on dimension 1,
// so it is given whole to every batch, as ONNX Runtime's calibration data readers
// give per-sample dicts.
func Whole(inputs map[string]*runtime.Value, declared map[string]int64) map[string]bool {
	names := slices.Sorted(maps.Keys(inputs))
	rows := int64(-1)
	for _, name := range names {
		if _, fixed := declared[name]; !fixed && len(inputs[name].Shape) > 0 {
			rows = inputs[name].Shape[0]
			break
		}
	}
	whole := map[string]bool{}
	for _, name := range names {
		v := inputs[name]
		if d, fixed := declared[name]; fixed && rows >= 0 && len(v.Shape) > 0 && v.Shape[0] == d && d != rows {
			whole[name] = true
		}
	}
	return whole
}

// Batches returns a Feed splitting whole arrays along their first dimension into
// batches of at most n rows. Every array must have the same first dimension, except
// scalars (a sample rate, a flag), which every batch gets whole.
func Batches(inputs map[string]*runtime.Value, n int) (Feed, error) {
	return BatchesOf(inputs, nil, n)
}

// BatchesOf is Batches that also gives the inputs in whole (see Whole) to every
// batch.
func BatchesOf(inputs map[string]*runtime.Value, whole map[string]bool, n int) (Feed, error) {
	if n <= 0 {
		return nil, fmt.Errorf("onnxq: batch size %d must be positive", n)
	}
	rows, err := Rows(inputs, whole)
	if err != nil {
		return nil, err
	}
	if rows < 0 { // scalars only: one batch
		rows = 1
	}
	return func(fn func(map[string]*runtime.Value) error) error {
		for lo := int64(0); lo < rows; lo += int64(n) {
			hi := min(rows, lo+int64(n))
			b := map[string]*runtime.Value{}
			for name, v := range inputs {
				if len(v.Shape) == 0 || whole[name] {
					b[name] = v
					continue
				}
				s, err := sliceRows(v, lo, hi)
				if err != nil {
					return err
				}
				b[name] = s
			}
			if err := fn(b); err != nil {
				return err
			}
		}
		return nil
	}, nil
}

// Rows is the first dimension every input but scalars and those in whole shares, or
// -1 when there is none.
func Rows(inputs map[string]*runtime.Value, whole map[string]bool) (int64, error) {
	rows := int64(-1)
	for _, name := range slices.Sorted(maps.Keys(inputs)) {
		v := inputs[name]
		if len(v.Shape) == 0 || whole[name] {
			continue
		}
		if rows >= 0 && v.Shape[0] != rows {
			return 0, fmt.Errorf("onnxq: input %q has %d rows, others %d", name, v.Shape[0], rows)
		}
		rows = v.Shape[0]
	}
	return rows, nil
}

// Split divides whole arrays by rows: the first n rows, and the rest. Scalars go to
// both halves whole.
func Split(inputs map[string]*runtime.Value, n int64) (head, tail map[string]*runtime.Value, err error) {
	return SplitOf(inputs, nil, n)
}

// SplitOf is Split that also gives the inputs in whole to both halves.
func SplitOf(inputs map[string]*runtime.Value, whole map[string]bool, n int64) (head, tail map[string]*runtime.Value, err error) {
	head, tail = map[string]*runtime.Value{}, map[string]*runtime.Value{}
	for name, v := range inputs {
		if len(v.Shape) == 0 || whole[name] {
			head[name], tail[name] = v, v
			continue
		}
		if n <= 0 || n >= v.Shape[0] {
			return nil, nil, fmt.Errorf("onnxq: cannot split input %q %v at row %d", name, tensor.Shape(v.Shape), n)
		}
		if head[name], err = sliceRows(v, 0, n); err != nil {
			return nil, nil, err
		}
		if tail[name], err = sliceRows(v, n, v.Shape[0]); err != nil {
			return nil, nil, err
		}
	}
	return head, tail, nil
}

// sliceRows copies rows [lo, hi) of v.
func sliceRows(v *runtime.Value, lo, hi int64) (*runtime.Value, error) {
	t, err := v.Tensor("")
	if err != nil {
		return nil, err
	}
	b, err := t.Bytes()
	if err != nil {
		return nil, err
	}
	row := int64(len(b)) / v.Shape[0]
	shape := slices.Clone(v.Shape)
	shape[0] = hi - lo
	s, err := tensor.FromBytes("", t.DType, tensor.Shape(shape), slices.Clone(b[lo*row:hi*row]))
	if err != nil {
		return nil, err
	}
	return runtime.FromTensor(s)
}

// observe runs the model on every batch of feed with the named intermediate values
// added as graph outputs, and hands each batch's values of those names to fn.
func observe(ctx context.Context, threads int, mp *onnxpb.ModelProto, names []string, feed Feed, fn func(map[string]*runtime.Value) error) error {
	m := graph.WithOutputs(mp, names)
	s, err := runtime.Load(m, nil, &runtime.Options{Threads: threads})
	if err != nil {
		return fmt.Errorf("onnxq: calibration model: %w", err)
	}
	return feed(func(batch map[string]*runtime.Value) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		outs, err := s.Run(ctx, batch)
		if err != nil {
			return fmt.Errorf("onnxq: calibration run: %w", err)
		}
		for _, n := range names {
			v := outs[n]
			if v == nil || v.DType != tensor.F32 {
				return fmt.Errorf("onnxq: calibration: value %q is missing or not float32", n)
			}
		}
		return fn(outs)
	})
}

// rangeStats observes one activation.
type rangeStats struct {
	min, max float64
	hist     []float64 // of |x| over [0, absMax]
	seen     int64
}

func (r *rangeStats) absMax() float64 { return math.Max(-r.min, r.max) }

// calibrateRanges returns the [lo, hi] range of every named activation.
func calibrateRanges(ctx context.Context, mp *onnxpb.ModelProto, names []string, feed Feed, o *Options) (map[string][2]float64, error) {
	stats := map[string]*rangeStats{}
	for _, n := range names {
		stats[n] = &rangeStats{min: math.Inf(1), max: math.Inf(-1)}
	}
	err := observe(ctx, o.Threads, mp, names, feed, func(outs map[string]*runtime.Value) error {
		for _, n := range names {
			s := stats[n]
			for _, x := range outs[n].Float32s() {
				if math.IsNaN(float64(x)) {
					continue
				}
				s.min, s.max = math.Min(s.min, float64(x)), math.Max(s.max, float64(x))
			}
			s.seen += int64(outs[n].Len())
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		if s := stats[n]; s.seen == 0 || math.IsInf(s.min, 0) || math.IsInf(s.max, 0) {
			return nil, fmt.Errorf("onnxq: calibration saw no finite values of %q", n)
		}
	}
	if o.Calibration != MinMax {
		for _, n := range names {
			stats[n].hist = make([]float64, o.Bins)
		}
		err = observe(ctx, o.Threads, mp, names, feed, func(outs map[string]*runtime.Value) error {
			for _, n := range names {
				s := stats[n]
				m := s.absMax()
				if m == 0 {
					continue
				}
				w := float64(len(s.hist)) / m
				for _, x := range outs[n].Float32s() {
					if math.IsNaN(float64(x)) {
						continue
					}
					b := int(math.Abs(float64(x)) * w)
					s.hist[min(b, len(s.hist)-1)]++
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	graphInputs := map[string]bool{}
	for _, in := range mp.GetGraph().GetInput() {
		graphInputs[in.GetName()] = true
	}
	out := map[string][2]float64{}
	for _, n := range names {
		s := stats[n]
		// Graph inputs are data with known bounds, often discrete (pixels): clipping
		// them is rarely right and histogram methods misjudge their spikes.
		if o.Calibration == MinMax || s.absMax() == 0 || graphInputs[n] {
			out[n] = [2]float64{s.min, s.max}
			continue
		}
		var t float64
		switch o.Calibration {
		case Percentile:
			t = percentileThreshold(s.hist, s.absMax(), o.Percentile)
		case Entropy:
			nq := 128 // levels on each side of a signed range
			if s.min >= 0 {
				nq = 256 // a non-negative tensor gets all uint8 levels, as NVIDIA's calibrator
			}
			t = entropyThreshold(s.hist, s.absMax(), nq)
		case MSE:
			levels := 255.0
			if s.min < 0 {
				levels = 127.5 // a symmetric range spends half the levels per side
			}
			t = mseThreshold(s.hist, s.absMax(), levels)
		}
		lo, hi := math.Max(s.min, -t), math.Min(s.max, t)
		out[n] = [2]float64{lo, hi}
	}
	return out, nil
}

// percentileThreshold is the upper edge of the bin where the CDF of |x| reaches p%.
func percentileThreshold(hist []float64, absMax, p float64) float64 {
	total := 0.0
	for _, c := range hist {
		total += c
	}
	want, cum := total*p/100, 0.0
	for i, c := range hist {
		cum += c
		if cum >= want {
			return float64(i+1) * absMax / float64(len(hist))
		}
	}
	return absMax
}

// entropyThreshold chooses the clipping threshold of |x| whose nq-level quantized
// distribution Q is closest to the clipped distribution P in KL divergence, as in
// TensorRT's int8 calibration (outliers folded into P's last bin).
func entropyThreshold(hist []float64, absMax float64, nq int) float64 {
	B := len(hist)
	// The zero bin (ReLU outputs, background pixels) would dominate both
	// distributions; like NVIDIA's calibrator, weigh it as its neighbour.
	hist = slices.Clone(hist)
	hist[0] = hist[1]
	best, bestKL := B, math.Inf(1)
	p := make([]float64, B)
	q := make([]float64, B)
	for i := nq; i <= B; i++ {
		copy(p, hist[:i])
		outliers := 0.0
		for _, c := range hist[i:] {
			outliers += c
		}
		p[i-1] += outliers
		// Q: merge hist[:i] into nq chunks, spread each chunk over its nonzero bins.
		for j := range nq {
			lo, hi := j*i/nq, (j+1)*i/nq
			sum, nz := 0.0, 0
			for k := lo; k < hi; k++ {
				sum += hist[k]
				if hist[k] > 0 {
					nz++
				}
			}
			for k := lo; k < hi; k++ {
				q[k] = 0
				if hist[k] > 0 {
					q[k] = sum / float64(nz)
				}
			}
		}
		ps, qs := 0.0, 0.0
		for k := range i {
			ps += p[k]
			qs += q[k]
		}
		if ps == 0 || qs == 0 {
			continue
		}
		kl := 0.0
		for k := range i {
			if p[k] == 0 {
				continue
			}
			pk, qk := p[k]/ps, q[k]/qs
			if qk == 0 {
				qk = 1e-12 // the last bin's outliers can land where hist is empty
			}
			kl += pk * math.Log(pk/qk)
		}
		if kl < bestKL {
			best, bestKL = i, kl
		}
	}
	return (float64(best) + 0.5) * absMax / float64(B)
}

// mseThreshold chooses the clipping threshold minimizing the expected squared
// error of |x| under uniform quantization with the given levels over [0, t].
func mseThreshold(hist []float64, absMax, levels float64) float64 {
	B := len(hist)
	w := absMax / float64(B)
	best, bestErr := absMax, math.Inf(1)
	const steps = 200
	for s := 1; s <= steps; s++ {
		t := absMax * float64(s) / steps
		step := t / levels
		e := 0.0
		for k, c := range hist {
			if c == 0 {
				continue
			}
			x := (float64(k) + 0.5) * w
			if x > t {
				e += c * (x - t) * (x - t)
			} else {
				e += c * step * step / 12
			}
		}
		if e < bestErr {
			best, bestErr = t, e
		}
	}
	return best
}

// gramStats accumulates X^T X and mean |x| per column of an activation whose last
// dimension is K, for GPTQ's Hessian and AWQ's scale search.
type gramStats struct {
	k       int
	gram    []float64 // [K, K]
	meanAbs []float64 // sum of |x| until finish
	rows    int64
}

func (g *gramStats) add(threads int, x []float32) {
	k := g.k
	rows := len(x) / k
	for r := range rows {
		row := x[r*k : (r+1)*k]
		for j, v := range row {
			g.meanAbs[j] += math.Abs(float64(v))
		}
	}
	parallel.For(threads, k, 1, func(lo, hi int) {
		for r := range rows {
			row := x[r*k : (r+1)*k]
			for j := lo; j < hi; j++ {
				v := float64(row[j])
				if v == 0 {
					continue
				}
				gj := g.gram[j*k : (j+1)*k]
				for i, u := range row {
					gj[i] += v * float64(u)
				}
			}
		}
	})
	g.rows += int64(rows)
}

func (g *gramStats) finish() {
	if g.rows == 0 {
		return
	}
	for j := range g.meanAbs {
		g.meanAbs[j] /= float64(g.rows)
	}
}

// calibrateGram collects Gram statistics of the named activations.
func calibrateGram(ctx context.Context, threads int, mp *onnxpb.ModelProto, dims map[string]int, feed Feed) (map[string]*gramStats, error) {
	var names []string
	stats := map[string]*gramStats{}
	for n, k := range dims {
		if int64(k)*int64(k) > 1<<28 {
			return nil, fmt.Errorf("onnxq: K=%d is too large for a dense %dx%d Hessian", k, k, k)
		}
		names = append(names, n)
		stats[n] = &gramStats{k: k, gram: make([]float64, k*k), meanAbs: make([]float64, k)}
	}
	slices.Sort(names)
	err := observe(ctx, threads, mp, names, feed, func(outs map[string]*runtime.Value) error {
		for _, n := range names {
			v := outs[n]
			if len(v.Shape) == 0 || int(v.Shape[len(v.Shape)-1]) != stats[n].k {
				return fmt.Errorf("onnxq: calibration value %q is %v; want last dimension %d", n, v, stats[n].k)
			}
			stats[n].add(threads, v.Float32s())
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		if stats[n].rows == 0 {
			return nil, fmt.Errorf("onnxq: calibration data had no rows")
		}
		stats[n].finish()
	}
	return stats, nil
}
