package compare

import (
	"fmt"
	"math"

	"github.com/refit-ml/refit/tensor"
)

// OutputDiff describes how one output of model B differs from the same output of
// model A run on the same inputs. Classifier outputs (2-D float, more than one
// class) also get top-1 agreement and the mean KL divergence of their softmaxes, and
// accuracies when labels are known.
type OutputDiff struct {
	Name      string       `json:"name"`
	Shape     tensor.Shape `json:"shape"`
	MaxAbs    float64      `json:"max_abs_error"`
	MaxRel    float64      `json:"max_rel_error"`
	Cosine    float64      `json:"cosine"`
	Scale     float64      `json:"max_abs_value"`            // max |a|: what MaxAbs is relative to
	Top1      *float64     `json:"top1_agreement,omitempty"` // classifier outputs only
	KL        *float64     `json:"kl_divergence,omitempty"`  // mean KL(softmax(a) || softmax(b)) per row
	AccuracyA *float64     `json:"accuracy_a,omitempty"`
	AccuracyB *float64     `json:"accuracy_b,omitempty"`
	Note      string       `json:"note,omitempty"` // missing, shape mismatch, not numeric
}

// OutputsReport compares every output of two runs.
type OutputsReport struct {
	Outputs []OutputDiff
	MaxAbs  float64 // over the outputs compared; +Inf when one could not be compared
	MinCos  float64
}

// Outputs compares the outputs of two runs of models on the same inputs, given in
// each model's output order: A's outputs are matched by name in B, or by position
// when B names them differently. labels, when one per row of a classifier output,
// give each model's accuracy. Outputs are held in memory, as a run returns them.
func Outputs(a, b []*tensor.Tensor, labels []int64) *OutputsReport {
	byName := make(map[string]*tensor.Tensor, len(b))
	for _, t := range b {
		byName[t.Name] = t
	}
	r := &OutputsReport{MinCos: 1}
	for i, ta := range a {
		tb := byName[ta.Name]
		if tb == nil && i < len(b) {
			tb = b[i]
		}
		d := Output(ta, tb, labels)
		r.Outputs = append(r.Outputs, d)
		if d.Note == "" {
			r.MaxAbs = math.Max(r.MaxAbs, d.MaxAbs)
			r.MinCos = math.Min(r.MinCos, d.Cosine)
		} else {
			r.MaxAbs = math.Inf(1)
		}
	}
	return r
}

// Output compares output b against a (b may be nil: missing in model B); see Outputs.
func Output(a, b *tensor.Tensor, labels []int64) OutputDiff {
	d := OutputDiff{Name: a.Name}
	if b == nil {
		d.Note = "missing in one model"
		return d
	}
	d.Shape = a.Shape
	if !a.Shape.Equal(b.Shape) {
		d.Note = fmt.Sprintf("shape %v != %v", a.Shape, b.Shape)
		return d
	}
	if !numericOutput(a.DType) || !numericOutput(b.DType) {
		d.Note = "not numeric"
		return d
	}
	fa, errA := a.Float32s()
	fb, errB := b.Float32s()
	if errA != nil || errB != nil {
		d.Note = "not numeric"
		return d
	}
	var td TensorDiff
	Floats(&td, fa, fb)
	d.MaxAbs, d.MaxRel, d.Cosine = td.MaxAbs, td.MaxRel, td.Cosine
	for _, v := range fa {
		if x := math.Abs(float64(v)); x > d.Scale && !math.IsInf(x, 0) {
			d.Scale = x
		}
	}
	if len(a.Shape) == 2 && a.Shape[1] > 1 && a.DType.Float() {
		classify(&d, fa, fb, int(a.Shape[0]), int(a.Shape[1]), labels)
	}
	return d
}

func numericOutput(t tensor.DType) bool { return t.Float() || t.Integer() || t == tensor.Bool }

// classify sets the classifier figures of d from rows x cols logits.
func classify(d *OutputDiff, fa, fb []float32, rows, cols int, labels []int64) {
	agree, kl := 0, 0.0
	var correctA, correctB int
	for i := 0; i < rows; i++ {
		ra, rb := fa[i*cols:(i+1)*cols], fb[i*cols:(i+1)*cols]
		ia, ib := Argmax(ra), Argmax(rb)
		if ia == ib {
			agree++
		}
		kl += KLSoftmax(ra, rb)
		if len(labels) == rows {
			if int64(ia) == labels[i] {
				correctA++
			}
			if int64(ib) == labels[i] {
				correctB++
			}
		}
	}
	t1, k := float64(agree)/float64(rows), kl/float64(rows)
	d.Top1, d.KL = &t1, &k
	if len(labels) == rows {
		aa, ab := float64(correctA)/float64(rows), float64(correctB)/float64(rows)
		d.AccuracyA, d.AccuracyB = &aa, &ab
	}
}

// Argmax is the index of the first largest value of v (0 for an empty v).
func Argmax[F float32 | float64](v []F) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}

// KLSoftmax is KL(softmax(a) || softmax(b)) in nats, computed in float64.
func KLSoftmax(a, b []float32) float64 {
	pa, pb := softmax(a), softmax(b)
	kl := 0.0
	for i := range pa {
		if pa[i] > 0 {
			kl += pa[i] * (math.Log(pa[i]) - math.Log(math.Max(pb[i], 1e-300)))
		}
	}
	return math.Max(kl, 0)
}

func softmax(v []float32) []float64 {
	m := math.Inf(-1)
	for _, x := range v {
		m = math.Max(m, float64(x))
	}
	out := make([]float64, len(v))
	sum := 0.0
	for i, x := range v {
		out[i] = math.Exp(float64(x) - m)
		sum += out[i]
	}
	for i := range out {
		out[i] /= sum
	}
	return out
}
