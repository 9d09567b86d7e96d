package prune

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/refit-ml/refit/format/onnx"
)

// TestWeightsProgress: Progress is called once per pruned tensor, counting up to the
// number selected.
func TestWeightsProgress(t *testing.T) {
	mp := mnistModel(t, "mnist_cnn.onnx")
	b, _ := proto.Marshal(mp)
	src, err := onnx.Decode(bytesReader(b), int64(len(b)), nil)
	if err != nil {
		t.Fatal(err)
	}
	var calls [][2]int
	_, rep, err := Weights(src, &Options{Method: Magnitude, Sparsity: 0.5, Progress: func(done, total int) {
		calls = append(calls, [2]int{done, total})
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) != len(rep.Layers) || len(calls) == 0 {
		t.Fatalf("Progress called %d times for %d layers", len(calls), len(rep.Layers))
	}
	for i, c := range calls {
		if c[0] != i+1 || c[1] != len(rep.Layers) {
			t.Errorf("call %d: Progress(%d, %d), want (%d, %d)", i, c[0], c[1], i+1, len(rep.Layers))
		}
	}
}
