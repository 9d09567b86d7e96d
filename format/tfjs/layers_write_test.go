package tfjs

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"testing"
	"testing/fstest"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/tensor"
)

const denseTopology = `{"class_name": "Sequential", "config": {"name": "seq", "layers": [
 {"class_name": "Dense", "config": {"name": "dense", "units": 2, "use_bias": true, "batch_input_shape": [null, 3]}}]},
 "keras_version": "2.15.0", "backend": "tensorflow"}`

func denseWeights(t *testing.T) *refit.Model {
	t.Helper()
	k, err := tensor.NewF32("dense/kernel", []int64{3, 2}, []float32{1, 2, 3, 4, 5, 6})
	if err != nil {
		t.Fatal(err)
	}
	b, err := tensor.NewF32("dense/bias", []int64{2}, []float32{-1, 1})
	if err != nil {
		t.Fatal(err)
	}
	return &refit.Model{Format: "pytorch", Tensors: []*tensor.Tensor{k, b}}
}

func TestEncodeLayers(t *testing.T) {
	modelJSON, err := os.ReadFile("testdata/layers/model.json")
	if err != nil {
		t.Fatal(err)
	}
	wrapped, err := json.Marshal(map[string]json.RawMessage{"model_config": json.RawMessage(denseTopology)})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		topology []byte
	}{
		{"keras config", []byte(denseTopology)},
		{"tfjs model.json", modelJSON},
		{"tfjs modelTopology with model_config", wrapped},
		{"Keras 2.1 Sequential list", []byte(`{"class_name": "Sequential", "config": [{"class_name": "Dense", "config": {"name": "dense", "units": 2}}]}`)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := denseWeights(t)
			out := fstest.MapFS{}
			if err := EncodeLayers(memCreator(out), src, tc.topology, nil); err != nil {
				t.Fatalf("EncodeLayers = %v", err)
			}
			var mj ModelJSON
			if err := json.Unmarshal(out[DefaultName].Data, &mj); err != nil {
				t.Fatal(err)
			}
			if mj.Format != LayersFormat || len(mj.ModelTopology) == 0 {
				t.Fatalf("model.json format %q, topology %d bytes", mj.Format, len(mj.ModelTopology))
			}
			back, err := DecodeFS(out, ".", nil)
			if err != nil {
				t.Fatalf("DecodeFS = %v", err)
			}
			if len(back.Tensors) != 2 {
				t.Fatalf("%d tensors back", len(back.Tensors))
			}
			for i, x := range src.Tensors {
				a, _ := x.Bytes()
				b, err := back.Tensors[i].Bytes()
				if err != nil || back.Tensors[i].Name != x.Name || !bytes.Equal(a, b) {
					t.Fatalf("tensor %d: %q, %v", i, back.Tensors[i].Name, err)
				}
			}
		})
	}
}

func TestEncodeLayersErrors(t *testing.T) {
	keras3 := `{"class_name": "Functional", "config": {"name": "f", "layers": [{"module": "keras.layers", "class_name": "Dense",
 "config": {"name": "dense"}, "inbound_nodes": [{"args": [{"class_name": "__keras_tensor__"}], "kwargs": {}}]}]}}`
	for _, tc := range []struct {
		name     string
		topology string
		rename   string
		want     error
	}{
		{"not JSON", "{", "", refit.ErrFormat},
		{"weights-only model.json", `{"weightsManifest": []}`, "", refit.ErrFormat},
		{"graph model", `{"modelTopology": {"node": []}, "weightsManifest": []}`, "", refit.ErrFormat},
		{"unknown model class", `{"class_name": "Dense", "config": {}}`, "", refit.ErrUnsupported},
		{"keras 3", keras3, "", refit.ErrUnsupported},
		{"layer without name", `{"class_name": "Sequential", "config": {"layers": [{"class_name": "Dense", "config": {}}]}}`, "", refit.ErrFormat},
		{"weight of no layer", denseTopology, "other/kernel", refit.ErrFormat},
		{"PyTorch name", denseTopology, "dense.weight", refit.ErrFormat},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := denseWeights(t)
			if tc.rename != "" {
				c := *m.Tensors[0]
				c.Name = tc.rename
				m.Tensors[0] = &c
			}
			out := fstest.MapFS{}
			err := EncodeLayers(memCreator(out), m, []byte(tc.topology), nil)
			if !errors.Is(err, tc.want) {
				t.Fatalf("EncodeLayers = %v, want %v", err, tc.want)
			}
			if len(out) != 0 {
				t.Fatalf("wrote %d files on error", len(out))
			}
		})
	}
}

func FuzzLayersTopology(f *testing.F) {
	f.Add([]byte(denseTopology))
	if b, err := os.ReadFile("testdata/layers/model.json"); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{"class_name": "Sequential", "config": [{"class_name": "Dense", "name": "d"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		topo, err := LayersTopology(b)
		if err != nil {
			return
		}
		if _, err := LayersTopology(topo); err != nil {
			t.Fatalf("LayersTopology accepted %q but not its own output: %v", b, err)
		}
	})
}
