package tf2onnx

import (
	"bytes"
	"context"
	"math"
	"testing"

	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/runtime"
)

// runRefit runs mp in Refit's runtime on one float32 input and returns all outputs in graph order.
func runRefit(t *testing.T, mp *onnxpb.ModelProto, inputs map[string]*runtime.Value) []*runtime.Value {
	t.Helper()
	s, err := runtime.Load(mp, nil, nil)
	if err != nil {
		t.Fatalf("runtime.Load: %v", err)
	}
	outs, err := s.Run(context.Background(), inputs)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	var res []*runtime.Value
	for _, o := range s.Outputs() {
		res = append(res, outs[o.Name])
	}
	return res
}

func maxAbsDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	worst := 0.0
	for i := range a {
		worst = math.Max(worst, math.Abs(float64(a[i])-float64(b[i])))
	}
	return worst
}

func countOps(mp *onnxpb.ModelProto) map[string]int {
	n := map[string]int{}
	for _, node := range mp.Graph.Node {
		n[node.GetOpType()]++
	}
	return n
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
