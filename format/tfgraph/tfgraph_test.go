package tfgraph

import (
	"bytes"
	"errors"
	"os"
	"testing"

	"github.com/refit-ml/refit"
)

func readFixture(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeGraphDef(t *testing.T) {
	b := readFixture(t, "../../tf2onnx/testdata/graphdef/graph.pb")
	if !Sniff(bytes.NewReader(b), int64(len(b))) || SniffSavedModel(bytes.NewReader(b), int64(len(b))) {
		t.Fatalf("Sniff: want graphdef only")
	}
	m, err := Decode(bytes.NewReader(b), int64(len(b)), nil)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	f := m.Source.(*File)
	if len(f.Graph.Nodes) != 23 || f.Graph.Producer != 1205 {
		t.Fatalf("%d nodes, producer %d; want 23, 1205", len(f.Graph.Nodes), f.Graph.Producer)
	}
	// Float constants come from tensor_content, integer ones from int_val.
	byName := map[string][]float32{}
	for _, tn := range m.Tensors {
		v, err := tn.Float32s()
		if err != nil {
			t.Fatalf("%s: %v", tn.Name, err)
		}
		byName[tn.Name] = v
	}
	if v := byName["axes"]; len(v) != 2 || v[0] != 1 || v[1] != 2 {
		t.Fatalf("axes = %v, want [1 2]", v)
	}
	if v := byName["w1"]; len(v) != 3*3*3*8 {
		t.Fatalf("w1 has %d values, want 216", len(v))
	}
}

func TestDecodeSavedModel(t *testing.T) {
	m, err := DecodeFS(os.DirFS("../../tf2onnx/testdata/savedmodel"), ".", nil)
	if err != nil {
		t.Fatalf("DecodeFS: %v", err)
	}
	defer m.Close()
	f := m.Source.(*File)
	sig := f.Signatures["serving_default"]
	if sig == nil || sig.Inputs["x"] == nil || sig.Inputs["x"].Name != "x:0" || sig.Outputs["prob"] == nil || sig.Outputs["prob"].Name != "prob:0" {
		t.Fatalf("signatures %+v", f.Signatures)
	}
	if got := sig.Inputs["x"].Shape.Dims; len(got) != 4 || got[0] != -1 || got[3] != 3 {
		t.Fatalf("input shape %v, want [-1 9 9 3]", got)
	}
	names := map[string]bool{}
	for _, tn := range m.Tensors {
		names[tn.Name] = true
	}
	if !names["w1"] || !names["b1/var"] || !names["axes"] {
		t.Fatalf("tensors %v: want the variables w1, b1/var and the constant axes", names)
	}
}

// TestDecodeBad checks truncations at every length, and hand-made hostile messages.
func TestDecodeBad(t *testing.T) {
	b := readFixture(t, "../../tf2onnx/testdata/graphdef/graph.pb")
	for n := 1; n < len(b); n++ {
		if _, err := Decode(bytes.NewReader(b[:n]), int64(n), nil); err == nil {
			// A cut between two whole nodes is a valid, shorter graph.
			if _, perr := Parse(b[:n]); perr != nil {
				t.Fatalf("Decode(%d bytes) = nil, Parse = %v", n, perr)
			}
		} else if !errors.Is(err, refit.ErrFormat) {
			t.Fatalf("Decode(%d bytes) = %v, want ErrFormat", n, err)
		}
	}
	node := func(payload ...byte) []byte { // GraphDef{node: NodeDef{name: "n", op: "Const", payload}}
		nd := append([]byte{0x0a, 1, 'n', 0x12, 5, 'C', 'o', 'n', 's', 't'}, payload...)
		return append([]byte{0x0a, byte(len(nd))}, nd...)
	}
	attrValue := func(tensorPayload ...byte) []byte { // attr {key: "value", value: {tensor: ...}}
		av := append([]byte{0x42, byte(len(tensorPayload))}, tensorPayload...)
		entry := append([]byte{0x0a, 5, 'v', 'a', 'l', 'u', 'e', 0x12, byte(len(av))}, av...)
		return append([]byte{0x2a, byte(len(entry))}, entry...)
	}
	cases := map[string]struct {
		data []byte
		want error
	}{
		"length past end":   {[]byte{0x0a, 0x7f, 0x0a, 1, 'n'}, refit.ErrFormat},
		"bad varint":        {[]byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, refit.ErrFormat},
		"nameless node":     {[]byte{0x0a, 2, 0x12, 0}, refit.ErrFormat},
		"content too short": {node(attrValue(0x08, 1, 0x12, 4, 0x12, 2, 0x08, 4, 0x22, 4, 0, 0, 0, 0)...), refit.ErrFormat},
		// A 2^40-element float constant from one float_val: refused by the budget.
		"huge fill":        {node(attrValue(0x08, 1, 0x12, 9, 0x12, 7, 0x08, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20, 0x2d, 0, 0, 0x80, 0x3f)...), refit.ErrBudget},
		"unknown dim":      {node(attrValue(0x08, 1, 0x12, 13, 0x12, 11, 0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01)...), refit.ErrFormat},
		"string dtype ok":  {node(attrValue(0x08, 7)...), nil},
		"unsupported type": {node(attrValue(0x08, 8)...), refit.ErrUnsupported},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Decode(bytes.NewReader(tc.data), int64(len(tc.data)), &refit.DecodeOptions{MaxMemory: 1 << 20})
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("Decode = %v, want %v", err, tc.want)
			}
		})
	}
}

// FuzzDecode decodes arbitrary bytes as a GraphDef and as a SavedModel: an error or
// a model whose tensors all read, never a panic.
func FuzzDecode(f *testing.F) {
	for _, p := range []string{"../../tf2onnx/testdata/graphdef/graph.pb", "../../tf2onnx/testdata/graphdef/while.pb",
		"../../tf2onnx/testdata/graphdef/maplist.pb", "../../tf2onnx/testdata/savedmodel/saved_model.pb"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		opts := &refit.DecodeOptions{MaxMemory: 1 << 24}
		for _, decode := range []func() (*refit.Model, error){
			func() (*refit.Model, error) { return Decode(bytes.NewReader(data), int64(len(data)), opts) },
			func() (*refit.Model, error) { return DecodeSavedModel(bytes.NewReader(data), int64(len(data)), opts) },
		} {
			m, err := decode()
			if err != nil {
				continue
			}
			for _, tn := range m.Tensors {
				if _, err := tn.Bytes(); err != nil {
					t.Fatalf("tensor %q of a decoded graph: %v", tn.Name, err)
				}
			}
		}
	})
}
