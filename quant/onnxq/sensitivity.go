package onnxq

import (
	"context"
	"fmt"
	"slices"
	"sort"

	"github.com/refit-ml/refit/compare"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
)

// LayerSensitivity is how much quantizing one layer alone changes a model's outputs.
type LayerSensitivity struct {
	Name     string   `json:"name"`
	MaxAbs   float64  `json:"max_abs_error"`
	Cosine   float64  `json:"cosine"` // worst output
	Top1     *float64 `json:"top1_agreement,omitempty"`
	Accuracy *float64 `json:"accuracy,omitempty"`
	// Damage ranks layers (larger is worse): accuracy lost when labels exist, else
	// top-1 disagreement, else 1 - cosine, each with the next as a tie-breaker.
	Damage float64 `json:"-"`
}

// Evaluator runs a quantized model and the float one on the same held-out inputs and
// compares their outputs (compare.Outputs).
type Evaluator func(ctx context.Context, quantized *onnxpb.ModelProto) (*compare.OutputsReport, error)

// Sensitivity quantizes each target layer alone (see Targets) and measures the model
// with eval, in Targets order. It costs one Apply and one evaluation per layer.
func (q *Quantizer) Sensitivity(ctx context.Context, eval Evaluator) ([]LayerSensitivity, error) {
	var out []LayerSensitivity
	for _, label := range q.Targets() {
		qm, _, err := q.Apply(ctx, func(l string) bool { return l == label })
		if err != nil {
			return nil, err
		}
		r, err := eval(ctx, qm)
		if err != nil {
			return nil, fmt.Errorf("layer %s: %w", label, err)
		}
		out = append(out, layerSensitivity(label, r))
	}
	return out, nil
}

// layerSensitivity summarizes r, judging classifiers by their first output.
func layerSensitivity(name string, r *compare.OutputsReport) LayerSensitivity {
	l := LayerSensitivity{Name: name, MaxAbs: r.MaxAbs, Cosine: r.MinCos, Damage: 1 - r.MinCos}
	if len(r.Outputs) == 0 {
		return l
	}
	o := r.Outputs[0]
	if o.Top1 != nil {
		l.Top1 = o.Top1
		l.Damage = 1 - *o.Top1 + (1 - r.MinCos)
	}
	if o.AccuracyA != nil && o.AccuracyB != nil && o.Top1 != nil {
		l.Accuracy = o.AccuracyB
		l.Damage = *o.AccuracyA - *o.AccuracyB + (1-*o.Top1)/10 + (1-r.MinCos)/100
	}
	return l
}

// Worst names the n layers of layers with the largest Damage, worst first; ties keep
// their order.
func Worst(layers []LayerSensitivity, n int) []string {
	ranked := slices.Clone(layers)
	sort.SliceStable(ranked, func(i, j int) bool { return ranked[i].Damage > ranked[j].Damage })
	var names []string
	for _, l := range ranked[:min(max(n, 0), len(ranked))] {
		names = append(names, l.Name)
	}
	return names
}
