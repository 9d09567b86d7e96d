package onnxq

import (
	"slices"
	"testing"

	"github.com/refit-ml/refit/compare"
)

func TestSensitivityRanking(t *testing.T) {
	p := func(x float64) *float64 { return &x }
	reports := map[string]*compare.OutputsReport{
		// Accuracy lost ranks first when labels exist, top-1 and cosine break ties.
		"a": {MinCos: 0.99, Outputs: []compare.OutputDiff{{Top1: p(0.9), AccuracyA: p(0.9), AccuracyB: p(0.8)}}},
		"b": {MinCos: 0.999, Outputs: []compare.OutputDiff{{Top1: p(0.95), AccuracyA: p(0.9), AccuracyB: p(0.9)}}},
		"c": {MinCos: 0.9, Outputs: []compare.OutputDiff{{Top1: p(0.7), AccuracyA: p(0.9), AccuracyB: p(0.85)}}},
		"d": {MinCos: 0.5}, // not a classifier: 1 - cosine
	}
	var layers []LayerSensitivity
	for _, name := range []string{"a", "b", "c", "d"} {
		layers = append(layers, layerSensitivity(name, reports[name]))
	}
	if got, want := Worst(layers, 2), []string{"d", "a"}; !slices.Equal(got, want) {
		t.Errorf("Worst(2) = %v, want %v (damages %v)", got, want, layers)
	}
	if got := Worst(layers, 10); len(got) != 4 || got[3] != "b" {
		t.Errorf("Worst(10) = %v, want all four with b last", got)
	}
	if layers[0].Accuracy == nil || *layers[0].Accuracy != 0.8 || layers[3].Top1 != nil {
		t.Errorf("rows %+v", layers)
	}
}
