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
	var b graph.Builder
	b.Input(graph.ValueInfo("x", graph.ElemFloat, []int64{2, 2}, nil))
	b.Node("Einsum", "", []string{"x", "x"}, []string{"e"}, graph.StringAttr("equation", "ij,jk->ik"))
	b.Node("Einsum", "", []string{"e", "x"}, []string{"f"}, graph.StringAttr("equation", "ij,jk->ik"))
	b.Node("Det", "", []string{"f"}, []string{"y"})
	b.Output(graph.ValueInfo("y", graph.ElemFloat, nil, nil))
	_, _, err := Generate(graph.Model(b.Graph("g"), "test", 17))
	var ue *graph.UnsupportedError
	if !errors.Is(err, refit.ErrUnsupported) || !errors.As(err, &ue) {
		t.Fatalf("Generate = %v, want *graph.UnsupportedError", err)
	}
	if ue.Counts["Einsum"] != 2 || ue.Counts["Det"] != 1 || len(ue.Counts) != 2 {
		t.Errorf("Ops = %v, want Einsum: 2, Det: 1", ue.Counts)
	}
}
