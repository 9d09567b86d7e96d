package tf2onnx

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"testing"
	"testing/fstest"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/graph"
	"github.com/refit-ml/refit/runtime"
)

// fixtureWith returns testdata/graph with extra nodes appended and model.json's
// top-level keys set from extra.
func fixtureWith(t *testing.T, nodes []map[string]any, extra map[string]any) fstest.MapFS {
	t.Helper()
	b, err := os.ReadFile("testdata/graph/model.json")
	if err != nil {
		t.Fatal(err)
	}
	var mj map[string]any
	if err := json.Unmarshal(b, &mj); err != nil {
		t.Fatal(err)
	}
	topo := mj["modelTopology"].(map[string]any)
	for _, n := range nodes {
		topo["node"] = append(topo["node"].([]any), n)
	}
	for k, v := range extra {
		mj[k] = v
	}
	b, _ = json.Marshal(mj)
	w, err := os.ReadFile("testdata/graph/weights.bin")
	if err != nil {
		t.Fatal(err)
	}
	return fstest.MapFS{"model.json": {Data: b}, "weights.bin": {Data: w}}
}

// unpackRS splits the fixture's [N, 5] logits "rs" into five [N] columns.
var unpackRS = map[string]any{"name": "cols", "op": "Unpack", "input": []string{"rs"},
	"attr": map[string]any{"num": map[string]any{"i": "5"}, "axis": map[string]any{"i": "1"}, "T": map[string]any{"type": "DT_FLOAT"}}}

// TestTFJSGraphSignatureOutputs: the graph has exactly the signature's outputs, named
// by its keys in file order (':' cleaned to '_'), including the k-th outputs of a
// multi-output node; the values are the right ones.
func TestTFJSGraphSignatureOutputs(t *testing.T) {
	sig := json.RawMessage(`{"inputs":{"x:0":{"name":"x:0","dtype":"DT_FLOAT"}},"outputs":{
		"probs":{"name":"prob:0","dtype":"DT_FLOAT"},"col3":{"name":"cols:3","dtype":"DT_FLOAT"},"Identity:0":{"name":"cols","dtype":"DT_FLOAT"}}}`)
	for _, where := range []string{"signature", "userDefinedMetadata"} {
		t.Run(where, func(t *testing.T) {
			extra := map[string]any{"signature": sig}
			if where == "userDefinedMetadata" {
				extra = map[string]any{"userDefinedMetadata": map[string]any{"signature": sig}}
			}
			mp, err := TFJSGraph(context.Background(), fixtureWith(t, []map[string]any{unpackRS}, extra), ".", nil)
			if err != nil {
				t.Fatalf("TFJSGraph: %v", err)
			}
			var names []string
			for _, o := range mp.Graph.Output {
				names = append(names, o.GetName())
			}
			if want := []string{"probs", "col3", "Identity_0"}; len(names) != 3 || names[0] != want[0] || names[1] != want[1] || names[2] != want[2] {
				t.Fatalf("outputs %v, want %v", names, want)
			}
			x := readNPYValue(t, "testdata/graph/x.npy")
			want := readNPYValue(t, "testdata/graph/y.npy")
			outs := runRefit(t, mp, map[string]*runtime.Value{mp.Graph.Input[0].GetName(): x})
			if d := maxAbsDiff(outs[0].Float32s(), want.Float32s()); d > 1e-5 {
				t.Fatalf("probs: max abs diff vs TF.js %g", d)
			}
			// The columns are logits: softmax gives p[r][3]/p[r][0] = exp(col3 - col0).
			n := int(outs[0].Shape[0])
			if len(outs[1].Shape) != 1 || outs[1].Shape[0] != int64(n) || len(outs[2].Shape) != 1 || outs[2].Shape[0] != int64(n) {
				t.Fatalf("column shapes %v, %v, want [%d]", outs[1].Shape, outs[2].Shape, n)
			}
			p, c3, c0 := outs[0].Float32s(), outs[1].Float32s(), outs[2].Float32s()
			for r := range n {
				got, want := math.Exp(float64(c3[r]-c0[r])), float64(p[r*5+3]/p[r*5])
				if math.Abs(got-want) > 1e-5*want {
					t.Errorf("row %d: exp(col3-col0) = %g, prob ratio %g", r, got, want)
				}
			}
		})
	}
}

// TestTFJSGraphSignatureErrors: a signature naming a tensor the graph lacks, or not
// shaped like one, is a format error.
func TestTFJSGraphSignatureErrors(t *testing.T) {
	cases := map[string]json.RawMessage{
		"unknown tensor":       json.RawMessage(`{"outputs":{"y":{"name":"nope:0"}}}`),
		"outputs not object":   json.RawMessage(`{"outputs":[1,2]}`),
		"output not object":    json.RawMessage(`{"outputs":{"y":7}}`),
		"signature not object": json.RawMessage(`"x"`),
	}
	for name, sig := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := TFJSGraph(context.Background(), fixtureWith(t, nil, map[string]any{"signature": sig}), ".", nil)
			if !errors.Is(err, refit.ErrFormat) {
				t.Fatalf("TFJSGraph = %v, want ErrFormat", err)
			}
		})
	}
}

// TestTFJSGraphUnsupportedMultiOutput: a node without a conversion whose second output
// is read reports the operator, not a missing value.
func TestTFJSGraphUnsupportedMultiOutput(t *testing.T) {
	bad := map[string]any{"name": "u", "op": "FancySplit", "input": []string{"rs"}}
	use := map[string]any{"name": "r", "op": "Relu", "input": []string{"u:1"}}
	_, err := TFJSGraph(context.Background(), fixtureWith(t, []map[string]any{bad, use}, nil), ".", nil)
	var ue *graph.UnsupportedError
	if !errors.As(err, &ue) || ue.Counts["FancySplit"] != 1 || len(ue.Counts) != 1 {
		t.Fatalf("TFJSGraph = %v, want FancySplit x1 unsupported", err)
	}
}
