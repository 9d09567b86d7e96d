package runtime

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/onnx"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/tensor"
)

// A model whose weights stay in its file's mapping (onnx.LoadMapped) and whose file
// another process truncates after Load: the run fails with an error wrapping
// refit.ErrFormat, from the caller's goroutine and from worker goroutines alike, and
// the process does not die of SIGBUS.
func TestRunTruncatedMappedWeights(t *testing.T) {
	const rows, cols = 1024, 1024 // 4 MiB of float32 weights
	w := make([]byte, 4*rows*cols)
	for i := range rows * cols {
		binary.LittleEndian.PutUint32(w[4*i:], math.Float32bits(float32(i%7)-3))
	}
	vi := func(name string, dims ...int64) *onnxpb.ValueInfoProto {
		shape := &onnxpb.TensorShapeProto{}
		for _, d := range dims {
			shape.Dim = append(shape.Dim, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d}})
		}
		return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
			TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(1), Shape: shape}}}}
	}
	for _, op := range []string{"Add", "MatMul"} {
		t.Run(op, func(t *testing.T) {
			xDims := []int64{rows, cols}
			if op == "MatMul" {
				xDims = []int64{64, rows}
			}
			yDims := []int64{xDims[0], cols}
			mp := &onnxpb.ModelProto{
				IrVersion:   proto.Int64(8),
				OpsetImport: []*onnxpb.OperatorSetIdProto{{Version: proto.Int64(17)}},
				Graph: &onnxpb.GraphProto{
					Name: proto.String("g"),
					Node: []*onnxpb.NodeProto{{OpType: proto.String(op), Input: []string{"x", "w"}, Output: []string{"y"}}},
					Initializer: []*onnxpb.TensorProto{{Name: proto.String("w"), DataType: proto.Int32(1),
						Dims: []int64{rows, cols}, RawData: w}},
					Input:  []*onnxpb.ValueInfoProto{vi("x", xDims...)},
					Output: []*onnxpb.ValueInfoProto{vi("y", yDims...)},
				},
			}
			b, err := proto.Marshal(mp)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "m.onnx")
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			fsys, base := refit.FileFS(path)
			loaded, files, err := onnx.LoadMapped(fsys, base)
			if err != nil {
				t.Fatal(err)
			}
			defer files.Close()
			s, err := Load(loaded, fsys, &Options{Threads: 2, NoFolding: true})
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(path, 0); err != nil {
				t.Fatal(err)
			}
			x := NewValue(tensor.F32, xDims)
			out, err := s.Run(context.Background(), map[string]*Value{"x": x})
			if len(out) != 0 {
				// The session may have copied the weights at Load (packing); then the run
				// cannot fault, and the result is a full one.
				if err != nil {
					t.Fatalf("Run gave outputs and the error %v", err)
				}
				t.Skipf("%s read no mapped bytes in the run", op)
			}
			if !errors.Is(err, refit.ErrFormat) || !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("Run on a truncated file = %v, want an error wrapping refit.ErrFormat and io.ErrUnexpectedEOF", err)
			}
			t.Log(err)
		})
	}
}
