package onnxq

import (
	"context"
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/graph"
	"github.com/refit-ml/refit/runtime"
)

func intsAttr(name string, v ...int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INTS.Enum(), Ints: v}
}

func node(op string, in, out []string, attrs ...*onnxpb.AttributeProto) *onnxpb.NodeProto {
	return &onnxpb.NodeProto{OpType: proto.String(op), Name: proto.String(out[0] + "_node"), Input: in, Output: out, Attribute: attrs}
}

// An opset-9 graph in the style Paddle2ONNX writes (Clip and Slice with attributes,
// Squeeze with axes, Softmax over a flattened view) computes the same after the upgrade
// to 13, and declares 13.
func TestUpgradeOpsetKeepsOutputs(t *testing.T) {
	fa := func(name string, f float32) *onnxpb.AttributeProto {
		return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_FLOAT.Enum(), F: proto.Float32(f)}
	}
	ia := func(name string, i int64) *onnxpb.AttributeProto {
		return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(i)}
	}
	vi := func(name string, dims ...int64) *onnxpb.ValueInfoProto {
		var d []*onnxpb.TensorShapeProto_Dimension
		for _, x := range dims {
			d = append(d, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: x}})
		}
		return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
			TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), Shape: &onnxpb.TensorShapeProto{Dim: d}}}}}
	}
	mp := &onnxpb.ModelProto{IrVersion: proto.Int64(5),
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(9)}},
		Graph: &onnxpb.GraphProto{Name: proto.String("g"),
			Input:  []*onnxpb.ValueInfoProto{vi("x", 1, 2, 3, 4)},
			Output: []*onnxpb.ValueInfoProto{vi("y", 2, 3, 2)},
			Node: []*onnxpb.NodeProto{
				node("Clip", []string{"x"}, []string{"c"}, fa("min", -0.5), fa("max", 0.25)),
				node("Slice", []string{"c"}, []string{"s"}, intsAttr("starts", 1), intsAttr("ends", 3), intsAttr("axes", 3)),
				node("Squeeze", []string{"s"}, []string{"q"}, intsAttr("axes", 0)),
				node("Softmax", []string{"q"}, []string{"y"}, ia("axis", 1)),
			}}}
	x, err := runtime.FromSlice([]float32{-0.9, -0.4, -0.1, 0, 0.1, 0.2, 0.3, 0.4, 0.5, -0.6, 0.7, 0.8, -0.2, 0.15, 0.05, -0.3, 0.9, -0.8, 0.6, 0.35, -0.05, 0.22, -0.45, 0.01}, 1, 2, 3, 4)
	if err != nil {
		t.Fatal(err)
	}
	run := func(m *onnxpb.ModelProto) []float64 {
		s, err := runtime.Load(m, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		out, err := s.Run(context.Background(), map[string]*runtime.Value{"x": x})
		if err != nil {
			t.Fatal(err)
		}
		return out["y"].AsFloat64s()
	}
	want := run(mp)
	up := proto.Clone(mp).(*onnxpb.ModelProto)
	if err := upgradeOpset(up, 13); err != nil {
		t.Fatal(err)
	}
	if v := graph.Opset(up, ""); v != 13 {
		t.Errorf("opset %d after the upgrade, want 13", v)
	}
	got := run(up)
	for i := range want {
		if d := got[i] - want[i]; d > 1e-6 || d < -1e-6 {
			t.Fatalf("[%d] = %v after the upgrade, %v before", i, got[i], want[i])
		}
	}

	// An operator without a rewrite is refused, not relabeled.
	bad := proto.Clone(mp).(*onnxpb.ModelProto)
	bad.Graph.Node = append(bad.Graph.Node, node("Upsample", []string{"y"}, []string{"u"}))
	if err := upgradeOpset(bad, 11); !errors.Is(err, refit.ErrUnsupported) {
		t.Errorf("Upsample at opset 9: %v, want ErrUnsupported", err)
	}
}

// Malformed old-opset nodes (from an untrusted file) are errors, never a panic or a
// silently different graph.
func TestUpgradeOpsetMalformed(t *testing.T) {
	for name, n := range map[string]*onnxpb.NodeProto{
		"Slice without ends":    node("Slice", []string{"x"}, []string{"y"}, intsAttr("starts", 0)),
		"Softmax without input": {OpType: proto.String("Softmax"), Output: []string{"y"}},
		"Pad without pads":      node("Pad", []string{"x"}, []string{"y"}),
		"TopK without k":        node("TopK", []string{"x"}, []string{"v", "i"}),
	} {
		mp := &onnxpb.ModelProto{OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(9)}},
			Graph: &onnxpb.GraphProto{Node: []*onnxpb.NodeProto{n}}}
		if err := upgradeOpset(mp, 13); !errors.Is(err, refit.ErrFormat) {
			t.Errorf("%s: %v, want ErrFormat", name, err)
		}
	}
}
