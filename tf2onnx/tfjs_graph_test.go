package tf2onnx

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"testing"
	"testing/fstest"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/numpy"
	"github.com/refit-ml/refit/graph"
	"github.com/refit-ml/refit/runtime"
)

func readNPYValue(t *testing.T, path string) *runtime.Value {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tn, err := numpy.ReadNPY(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	v, err := runtime.FromTensor(tn)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestTFJSGraphFixture converts testdata/graph (written and run by testdata/run_graph.js
// with @tensorflow/tfjs loadGraphModel: _FusedConv2D+BiasAdd+Relu6, depthwise conv,
// BiasAdd, FusedBatchNormV3, MaxPool SAME, Mean, _FusedMatMul, Reshape, Softmax) and
// compares Refit's runtime with TF.js's output.
func TestTFJSGraphFixture(t *testing.T) {
	mp, err := TFJSGraph(context.Background(), os.DirFS("testdata/graph"), ".", nil)
	if err != nil {
		t.Fatalf("TFJSGraph: %v", err)
	}
	x := readNPYValue(t, "testdata/graph/x.npy")
	want := readNPYValue(t, "testdata/graph/y.npy")
	outs := runRefit(t, mp, map[string]*runtime.Value{mp.Graph.Input[0].GetName(): x})
	if len(outs) != 1 {
		t.Fatalf("%d outputs, want 1", len(outs))
	}
	if d := maxAbsDiff(outs[0].Float32s(), want.Float32s()); d > 1e-5 {
		t.Fatalf("max abs diff vs TF.js %g", d)
	} else {
		t.Logf("%v: max abs diff vs TF.js %.2g", countOps(mp), d)
	}
}

func TestTFJSGraphUnsupported(t *testing.T) {
	b, err := os.ReadFile("testdata/graph/model.json")
	if err != nil {
		t.Fatal(err)
	}
	var mj map[string]any
	if err := json.Unmarshal(b, &mj); err != nil {
		t.Fatal(err)
	}
	nodes := mj["modelTopology"].(map[string]any)["node"].([]any)
	for _, n := range nodes {
		node := n.(map[string]any)
		switch node["name"] {
		case "relu", "prob":
			node["op"] = "Selu"
		case "pool":
			node["op"] = "FractionalMaxPool"
		}
	}
	b, _ = json.Marshal(mj)
	w, _ := os.ReadFile("testdata/graph/weights.bin")
	fsys := fstest.MapFS{"model.json": {Data: b}, "weights.bin": {Data: w}}
	_, err = TFJSGraph(context.Background(), fsys, ".", nil)
	var ue *graph.UnsupportedError
	if !errors.As(err, &ue) || !errors.Is(err, refit.ErrUnsupported) {
		t.Fatalf("TFJSGraph = %v, want *graph.UnsupportedError", err)
	}
	if ue.Counts["Selu"] != 2 || ue.Counts["FractionalMaxPool"] != 1 || len(ue.Counts) != 2 {
		t.Fatalf("unsupported ops %v, want Selu x2, FractionalMaxPool x1", ue.Counts)
	}
}

func TestTFJSGraphBadInput(t *testing.T) {
	cases := map[string]string{
		"cycle":   `{"modelTopology":{"node":[{"name":"a","op":"Relu","input":["b"]},{"name":"b","op":"Relu","input":["a"]}]},"weightsManifest":[]}`,
		"unknown": `{"modelTopology":{"node":[{"name":"a","op":"Relu","input":["zz"]}]},"weightsManifest":[]}`,
		"layers":  `{"modelTopology":{"class_name":"Sequential"},"weightsManifest":[]}`,
	}
	for name, js := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := TFJSGraph(context.Background(), fstest.MapFS{"model.json": {Data: []byte(js)}}, ".", nil)
			if !errors.Is(err, refit.ErrFormat) {
				t.Fatalf("TFJSGraph = %v, want ErrFormat", err)
			}
		})
	}
}
