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
	for _, p := range []string{"model.tflite", "external.tflite", "quant_int8.tflite", "quant_uint8.tflite",
		"quant_int8_ops.tflite", "transpose_conv_bias.tflite", "landmark_ops.tflite", "pool_ops.tflite", "argmax_unpool.tflite"} {
		p = "../format/tflite/testdata/" + p
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
	f.Add([]byte(`{"modelTopology":{"node":[{"name":"x","op":"Placeholder"},{"name":"k","op":"Const","attr":{"value":{"tensor":{"dtype":"DT_INT32","tensorShape":{},"intVal":[2]}}}},` +
		`{"name":"u","op":"Unpack","input":["x"],"attr":{"num":{"i":"3"},"axis":{"i":"-1"}}},{"name":"t","op":"TopKV2","input":["u:2","k"]},` +
		`{"name":"s","op":"Split","input":["k","x"],"attr":{"num_split":{"i":"2"}}},{"name":"p","op":"Pack","input":["u:1","t:1","s:1"],"attr":{"axis":{"i":"1"}}},` +
		`{"name":"ss","op":"StridedSlice","input":["x","k","k","k"],"attr":{"ellipsis_mask":{"i":"1"},"new_axis_mask":{"i":"2"}}}]},` +
		`"signature":{"outputs":{"a":{"name":"p:0"},"b":{"name":"t:1","dtype":"DT_INT32"},"c":{"name":"ss"}}},"weightsManifest":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		fsys := fstest.MapFS{"model.json": {Data: data}, "weights.bin": {Data: w}}
		mp, err := TFJSGraph(context.Background(), fsys, "model.json", &Options{Raw: true})
		if err == nil {
			wellFormed(t, mp)
		}
	})
}

// FuzzFlexMap reads arbitrary bytes as FlexBuffers custom options: a map or an
// error, never a panic.
func FuzzFlexMap(f *testing.F) {
	f.Add(ttbOptions)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = flexMap(data)
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
