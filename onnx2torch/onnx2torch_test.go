package onnx2torch

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/format/tfjs"
	"github.com/refit-ml/refit/graph"
	"github.com/refit-ml/refit/keras2onnx"
)

func convert(t *testing.T, name string) *onnxpb.ModelProto {
	t.Helper()
	m, err := tfjs.DecodeFS(os.DirFS("../keras2onnx/testdata/tfjs/"+name), "model.json", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	mp, err := keras2onnx.ConvertModel(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	return mp
}

// The numerical check (generated code in torch vs TF.js) is interop/tfjs TestFixturesTorch.
func TestGenerate(t *testing.T) {
	for _, tt := range []struct {
		fixture string
		want    []string
	}{
		{"mobile", []string{"class KerasModel(nn.Module)", "F.conv2d(", "F.batch_norm(", "F.pad(", "torch.clamp("}},
		{"pooling", []string{"F.max_pool2d(F.pad(", "torch.ones_like(", "torch.flatten("}},
		{"sequence", []string{"F.layer_norm(", "torch.matmul("}},
	} {
		t.Run(tt.fixture, func(t *testing.T) {
			mp := convert(t, tt.fixture)
			code, sd, err := Generate(mp)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(code, w) {
					t.Errorf("code lacks %q:\n%s", w, code)
				}
			}
			if got := strings.Count(code, "self.register_buffer("); got != len(sd.Tensors) || got == 0 {
				t.Errorf("%d buffers registered, %d tensors", got, len(sd.Tensors))
			}
			for i, tn := range sd.Tensors {
				if !strings.Contains(code, "self."+tn.Name) {
					t.Errorf("tensor %d (%s) unused", i, tn.Name)
				}
			}
		})
	}
}

func TestGenerateUnsupported(t *testing.T) {
	// The masked RNNs' step gathering (TopK, GatherElements ...) has no translation;
	// the RNNs themselves do.
	_, _, err := Generate(convert(t, "masked"))
	var ue *graph.UnsupportedError
	if !errors.Is(err, refit.ErrUnsupported) || !errors.As(err, &ue) {
		t.Fatalf("Generate = %v, want *graph.UnsupportedError", err)
	}
	if ue.Counts["TopK"] != 6 || ue.Counts["GatherElements"] != 8 || ue.Counts["LSTM"] != 0 || ue.Counts["GRU"] != 0 {
		t.Errorf("Ops = %v, want TopK: 6, GatherElements: 8 and no LSTM or GRU", ue.Counts)
	}
}
