package tf2onnx

import (
	"bytes"
	"context"
	"os"
	"testing"
	"testing/fstest"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/format/tfgraph"
	"github.com/refit-ml/refit/graph"
)

// wellFormed checks what every converted graph must satisfy: each node input is a
// graph input, an initializer or the output of an earlier node, and every graph
// output is defined.
func wellFormed(t *testing.T, mp *onnxpb.ModelProto) {
	t.Helper()
	defined := map[string]bool{"": true}
	for _, v := range mp.GetGraph().GetInput() {
		defined[v.GetName()] = true
	}
	for _, tp := range mp.GetGraph().GetInitializer() {
		defined[tp.GetName()] = true
	}
	for _, n := range mp.GetGraph().GetNode() {
		for _, in := range n.GetInput() {
			if !defined[in] {
				t.Fatalf("node %q reads %q before it is defined", n.GetName(), in)
			}
		}
		for _, o := range n.GetOutput() {
			defined[o] = true
		}
	}
	for _, o := range mp.GetGraph().GetOutput() {
		if !defined[o.GetName()] {
			t.Fatalf("graph output %q is never defined", o.GetName())
		}
	}
	if err := graph.NewEditor(mp.GetGraph()).TopoSort(); err != nil {
		t.Fatalf("converted graph: %v", err)
	}
}

// FuzzTFLite converts arbitrary bytes as a TFLite flatbuffer: an error or a
// well-formed graph, never a panic.
func FuzzTFLite(f *testing.F) {
	for _, p := range []string{"../format/tflite/testdata/model.tflite", "../format/tflite/testdata/external.tflite"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		mp, err := TFLite(context.Background(), bytes.NewReader(data), int64(len(data)), &Options{Raw: true})
		if err == nil {
			wellFormed(t, mp)
		}
	})
}

// FuzzTFJSGraph converts arbitrary model.json text beside the fixture's weights:
// an error or a well-formed graph, never a panic.
func FuzzTFJSGraph(f *testing.F) {
	w, err := os.ReadFile("testdata/graph/weights.bin")
	if err != nil {
		f.Fatal(err)
	}
	if b, err := os.ReadFile("testdata/graph/model.json"); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{"modelTopology":{"node":[{"name":"x","op":"Placeholder"},{"name":"y","op":"Relu","input":["x"]}]},"weightsManifest":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		fsys := fstest.MapFS{"model.json": {Data: data}, "weights.bin": {Data: w}}
		mp, err := TFJSGraph(context.Background(), fsys, "model.json", &Options{Raw: true})
		if err == nil {
			wellFormed(t, mp)
		}
	})
}

// FuzzTFGraph converts arbitrary bytes as a frozen GraphDef (lowered and functional
// control flow among the seeds): an error or a well-formed graph, never a panic.
func FuzzTFGraph(f *testing.F) {
	for _, name := range []string{"graph", "while", "nested", "maparray", "functional", "maplist"} {
		if b, err := os.ReadFile("testdata/graphdef/" + name + ".pb"); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := tfgraph.Decode(bytes.NewReader(data), int64(len(data)), &refit.DecodeOptions{MaxMemory: 1 << 24})
		if err != nil {
			return
		}
		mp, err := TFGraph(context.Background(), m, &Options{Raw: true})
		if err == nil {
			wellFormed(t, mp)
		}
	})
}
