package cli

import (
	"strings"
	"testing"

	"github.com/refit-ml/refit/compare"
	"github.com/refit-ml/refit/quant/onnxq"
	"github.com/refit-ml/refit/runtime"
)

// TestSaturationWarning: the warning appears only where ONNX Runtime's saturating
// uint8 x int8 pairs matter: on a CPU without VNNI, or on one with VNNI when the
// evaluation rerun with that arithmetic changed the results.
func TestSaturationWarning(t *testing.T) {
	exact := &compare.OutputsReport{Outputs: []compare.OutputDiff{{Name: "y", MaxAbs: 0.2, Cosine: 0.9999}}, MaxAbs: 0.2, MinCos: 0.9999}
	same := &compare.OutputsReport{Outputs: []compare.OutputDiff{{Name: "y", MaxAbs: 0.2, Cosine: 0.9999}}, MaxAbs: 0.2, MinCos: 0.9999}
	moved := &compare.OutputsReport{Outputs: []compare.OutputDiff{{Name: "y", MaxAbs: 3.9, Cosine: 0.99}}, MaxAbs: 3.9, MinCos: 0.99}
	cosOnly := &compare.OutputsReport{Outputs: []compare.OutputDiff{{Name: "y", MaxAbs: 0.2, Cosine: 0.99989}}, MaxAbs: 0.2, MinCos: 0.9999}
	dyn, static, rr := &onnxq.Options{}, &onnxq.Options{Method: onnxq.Static}, &onnxq.Options{ReduceRange: true}
	for _, tc := range []struct {
		name      string
		o         *onnxq.Options
		arith     runtime.IntArith
		exactHere bool
		avx2      *compare.OutputsReport
		want      []string // substrings; nil: no warning
	}{
		{"VNNI, saturation changes nothing", dyn, runtime.ExactArith, true, same, nil},
		{"VNNI, saturation changes results", dyn, runtime.ExactArith, true, moved, []string{"changes this model's results", "max abs error 3.9", "exact, as on this CPU: 0.2", "--reduce-range"}},
		{"VNNI, one output's cosine moved", dyn, runtime.ExactArith, true, cosOnly, []string{"changes this model's results"}},
		{"VNNI, static names int8 activations", static, runtime.ExactArith, true, moved, []string{"--activation-type int8"}},
		{"VNNI, measured with avx2 already", dyn, runtime.SaturatingPairsArith, true, nil, nil},
		{"no VNNI, exact measurement", dyn, runtime.ExactArith, false, nil, []string{"this CPU has no VNNI", "--ort-arith avx2", "--reduce-range"}},
		{"no VNNI, measured with avx2", dyn, runtime.SaturatingPairsArith, false, nil, nil},
		{"reduce range cannot saturate", rr, runtime.ExactArith, false, nil, nil},
		{"weight-only", &onnxq.Options{Method: onnxq.WeightOnly}, runtime.ExactArith, false, nil, nil},
	} {
		got := saturationWarning(tc.o, tc.arith, tc.exactHere, exact, tc.avx2)
		if tc.want == nil {
			if got != "" {
				t.Errorf("%s: warned %q, want nothing", tc.name, got)
			}
			continue
		}
		if strings.Contains(got, "\n") {
			t.Errorf("%s: warning spans lines: %q", tc.name, got)
		}
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: warning %q lacks %q", tc.name, got, w)
			}
		}
	}
}
