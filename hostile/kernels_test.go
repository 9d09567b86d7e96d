package hostile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/refit-ml/refit/format/onnx/onnxpb"
)

// TestKernelDataErrors runs `refit run` on graphs whose data a kernel cannot compute
// with: an integer Div or Mod by a zero divisor. Each must end with exit code 1 and an
// error naming the node, never a panic message or a goroutine stack (runRefit fails on
// those).
func TestKernelDataErrors(t *testing.T) {
	for _, tc := range []struct {
		op   string
		fmod int64
	}{{"Div", 0}, {"Mod", 0}, {"Mod", 1}} {
		t.Run(tc.op, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "divide_by_zero.onnx")
			writeDivideByZero(t, path, tc.op, tc.fmod)
			r := runRefit(t, limits{}, "run", "--threads", "2", path)
			t.Logf("refit run: %s", r.stderr)
			if r.code != 1 || !strings.Contains(r.stderr, "division by zero") || !strings.Contains(r.stderr, "divide") {
				t.Fatalf("refit run: want exit 1 and a division-by-zero error naming node \"divide\"\n%v", r)
			}
		})
	}
}

// writeDivideByZero writes a graph y = x op d, where x is an int32 [4096] input and d
// an initializer holding one zero among its 4096 divisors.
func writeDivideByZero(t *testing.T, path, op string, fmod int64) {
	t.Helper()
	divisors := make([]int32, 4096)
	for i := range divisors {
		divisors[i] = int32(i%7 + 1)
	}
	divisors[1234] = 0
	int32Type := func(dims ...int64) *onnxpb.TypeProto {
		var shape []*onnxpb.TensorShapeProto_Dimension
		for _, d := range dims {
			shape = append(shape, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d}})
		}
		return &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{
			ElemType: proto.Int32(int32(onnxpb.TensorProto_INT32)), Shape: &onnxpb.TensorShapeProto{Dim: shape}}}}
	}
	node := &onnxpb.NodeProto{Name: proto.String("divide"), OpType: proto.String(op), Input: []string{"x", "d"}, Output: []string{"y"}}
	if op == "Mod" {
		node.Attribute = []*onnxpb.AttributeProto{{Name: proto.String("fmod"), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(fmod)}}
	}
	m := &onnxpb.ModelProto{
		IrVersion:   proto.Int64(8),
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(17)}},
		Graph: &onnxpb.GraphProto{
			Name: proto.String("divide_by_zero"),
			Node: []*onnxpb.NodeProto{node},
			Initializer: []*onnxpb.TensorProto{{Name: proto.String("d"), DataType: proto.Int32(int32(onnxpb.TensorProto_INT32)),
				Dims: []int64{4096}, Int32Data: divisors}},
			Input:  []*onnxpb.ValueInfoProto{{Name: proto.String("x"), Type: int32Type(4096)}},
			Output: []*onnxpb.ValueInfoProto{{Name: proto.String("y"), Type: int32Type(4096)}},
		},
	}
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
