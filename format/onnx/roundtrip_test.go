package onnx

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/tensor"
	"google.golang.org/protobuf/proto"
)

const onnxTestdata = "/usr/share/libonnx-testdata/data"

// testdataModels lists Debian libonnx-testdata's models, skipping when absent.
func testdataModels(t testing.TB) []string {
	t.Helper()
	models, _ := filepath.Glob(filepath.Join(onnxTestdata, "*", "*", "model.onnx"))
	if len(models) == 0 {
		if os.Getenv("REFIT_REQUIRE_TOOLS") == "1" {
			t.Fatalf("libonnx-testdata is required (REFIT_REQUIRE_TOOLS=1) but %s has no models", onnxTestdata)
		}
		t.Skipf("skipping: no models in %s (apt-get install libonnx-testdata)", onnxTestdata)
	}
	return models
}

func tensorBytes(t *testing.T, tt *tensor.Tensor) []byte {
	t.Helper()
	b, err := tt.Bytes()
	if err != nil {
		t.Fatalf("tensor %q: %v", tt.Name, err)
	}
	return b
}

// TestTestdataRoundTrip decodes every model of libonnx-testdata as a Model, encodes
// it, and checks that the output parses to a ModelProto equal to the original and
// decodes to the same tensors; models with types Refit does not model go through
// WriteModel instead. It also reads every test_data_set_0 tensor file.
func TestTestdataRoundTrip(t *testing.T) {
	models := testdataModels(t)
	var viaModel, viaProto, tensorFiles, unsupportedTensors int
	for _, path := range models {
		name, _ := filepath.Rel(onnxTestdata, filepath.Dir(path))
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			want := new(onnxpb.ModelProto)
			if err := proto.Unmarshal(raw, want); err != nil {
				t.Fatalf("proto.Unmarshal: %v", err)
			}
			if !Sniff(bytes.NewReader(raw), int64(len(raw))) {
				t.Errorf("Sniff = false")
			}

			// Proto level: WriteModel then parse again.
			var buf bytes.Buffer
			if err := WriteModel(&buf, want, nil); err != nil {
				t.Fatalf("WriteModel: %v", err)
			}
			got := new(onnxpb.ModelProto)
			if err := proto.Unmarshal(buf.Bytes(), got); err != nil || !proto.Equal(got, want) {
				t.Fatalf("WriteModel round trip: equal=%v err=%v", proto.Equal(got, want), err)
			}

			// Model level.
			m, err := Decode(bytes.NewReader(raw), int64(len(raw)), nil)
			if errors.Is(err, refit.ErrUnsupported) {
				viaProto++
				return
			}
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			defer m.Close()
			buf.Reset()
			if err := Encode(&buf, m, nil); err != nil {
				t.Fatalf("Encode: %v", err)
			}
			got = new(onnxpb.ModelProto)
			if err := proto.Unmarshal(buf.Bytes(), got); err != nil {
				t.Fatalf("parse encoded: %v", err)
			}
			// Decode lifts Constant nodes into initializers; the rest is kept as is.
			lifted := proto.Clone(want).(*onnxpb.ModelProto)
			LiftConstants(lifted, 0)
			if !proto.Equal(got, lifted) {
				t.Fatalf("Encode output differs from the original ModelProto (Constant nodes lifted)")
			}
			m2, err := Decode(bytes.NewReader(buf.Bytes()), int64(buf.Len()), nil)
			if err != nil {
				t.Fatalf("Decode(encoded): %v", err)
			}
			if len(m2.Tensors) != len(m.Tensors) {
				t.Fatalf("re-decoded %d tensors, want %d", len(m2.Tensors), len(m.Tensors))
			}
			for i, a := range m.Tensors {
				b := m2.Tensors[i]
				if a.Name != b.Name || a.DType != b.DType || !a.Shape.Equal(b.Shape) || !bytes.Equal(tensorBytes(t, a), tensorBytes(t, b)) {
					t.Errorf("tensor %d: %s %v %v != %s %v %v", i, a.Name, a.DType, a.Shape, b.Name, b.DType, b.Shape)
				}
			}
			viaModel++

			pbs, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "test_data_set_0", "*.pb"))
			for _, pb := range pbs {
				if !holdsTensor(want, filepath.Base(pb)) {
					continue // a SequenceProto or OptionalProto, not a tensor
				}
				tp, err := ReadTensorProto(pb)
				if err != nil {
					t.Fatalf("ReadTensorProto(%s): %v", pb, err)
				}
				tt, err := ReadTensorFile(pb)
				if errors.Is(err, refit.ErrUnsupported) {
					unsupportedTensors++
					continue
				}
				if err != nil {
					t.Errorf("ReadTensorFile(%s): %v", filepath.Base(pb), err)
					continue
				}
				back, err := TensorToProto(tt)
				if err != nil {
					t.Fatalf("TensorToProto: %v", err)
				}
				again, err := TensorFromProto(back, nil)
				if err != nil || !bytes.Equal(tensorBytes(t, again), tensorBytes(t, tt)) || !again.Shape.Equal(tt.Shape) {
					t.Errorf("%s: TensorToProto/TensorFromProto round trip differs (err %v)", filepath.Base(pb), err)
				}
				if tp.GetName() != tt.Name {
					t.Errorf("%s: name %q, want %q", filepath.Base(pb), tt.Name, tp.GetName())
				}
				tensorFiles++
			}
		})
	}
	t.Logf("%d models: %d through Model and Encode, %d through WriteModel only; %d tensor files read, %d unsupported",
		len(models), viaModel, viaProto, tensorFiles, unsupportedTensors)
	if viaModel < len(models)*9/10 {
		t.Errorf("only %d of %d models decoded as a Model", viaModel, len(models))
	}
}

// holdsTensor reports whether the test data file input_<i>.pb or output_<i>.pb of a
// backend test holds a tensor, judging by the type of the graph input or output.
func holdsTensor(mp *onnxpb.ModelProto, base string) bool {
	var list []*onnxpb.ValueInfoProto
	var idx int
	if _, err := fmt.Sscanf(base, "input_%d.pb", &idx); err == nil {
		inits := map[string]bool{}
		for _, tp := range mp.Graph.Initializer {
			inits[tp.GetName()] = true
		}
		for _, in := range mp.Graph.Input {
			if !inits[in.GetName()] {
				list = append(list, in)
			}
		}
	} else if _, err := fmt.Sscanf(base, "output_%d.pb", &idx); err == nil {
		list = mp.Graph.Output
	} else {
		return false
	}
	return idx < len(list) && list[idx].GetType().GetTensorType() != nil
}
