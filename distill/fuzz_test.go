package distill

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/refit-ml/refit/format/onnx/onnxpb"
	onnxgraph "github.com/refit-ml/refit/graph"
)

// studentGraph builds a student model from data: each 4-byte group adds one node
// whose operator, inputs, attributes and output come from the bytes.
func studentGraph(data []byte) *onnxpb.ModelProto {
	ops := []string{"Conv", "Gemm", "MatMul", "Relu", "Flatten", "Reshape", "MaxPool", "GlobalAveragePool", "Add", "BatchNormalization", "Identity"}
	pool := []string{"x", "v1", "v2", "v3", "w4", "w22", "w2", "shape", "w2211", ""}
	var b onnxgraph.Builder
	b.Input(onnxgraph.ValueInfo("x", onnxgraph.ElemFloat, []int64{1, 2, 4, 4}, nil))
	b.Float("w4", []int64{4}, []float32{1, 2, 3, 4})
	b.Float("w22", []int64{2, 2}, []float32{1, -1, 2, 0.5})
	b.Float("w2", []int64{2}, []float32{0.5, 1})
	b.Float("w2211", []int64{2, 2, 1, 1}, []float32{1, 0, 0, 1})
	b.Int64("shape", []int64{2}, []int64{1, -1})
	out := "x"
	for i := 0; len(data) >= 4 && i < 10; i++ {
		var in []string
		for k := 0; k < int(data[1]%6); k++ {
			in = append(in, pool[(int(data[1])/6+k*int(data[2]))%len(pool)])
		}
		out = pool[1+int(data[3])%3]
		var attrs []*onnxpb.AttributeProto
		switch data[2] % 5 {
		case 0:
			attrs = append(attrs, onnxgraph.IntsAttr("strides", []int64{int64(data[3] % 3)}), onnxgraph.IntsAttr("kernel_shape", []int64{2, 2}))
		case 1:
			attrs = append(attrs, onnxgraph.IntsAttr("pads", []int64{1, 1}), onnxgraph.IntAttr("transB", 1))
		case 2:
			attrs = append(attrs, onnxgraph.IntsAttr("dilations", []int64{0, 0}), onnxgraph.IntsAttr("kernel_shape", []int64{9, 9}))
		case 3:
			attrs = append(attrs, onnxgraph.IntsAttr("strides", []int64{-1, 2}), onnxgraph.IntsAttr("pads", []int64{-3, 0, 0, 0}))
		}
		b.Node(ops[int(data[0])%len(ops)], "", in, []string{out}, attrs...)
		data = data[4:]
	}
	b.Output(onnxgraph.ValueInfo(out, onnxgraph.ElemFloat, nil, nil))
	return onnxgraph.Model(b.Graph("student"), "", 17)
}

// FuzzCompile builds trainable graphs from generated students: compile, a forward
// and a backward pass either fail with an error or run, never panic, and compile
// does not modify the model.
func FuzzCompile(f *testing.F) {
	f.Add([]byte{0, 2, 4, 1, 3, 1, 4, 2, 7, 1, 4, 3})
	f.Add([]byte{4, 1, 0, 1, 2, 2, 1, 2, 3, 1, 4, 3})
	f.Add([]byte{6, 1, 0, 1, 9, 5, 1, 2, 8, 2, 3, 3})
	f.Fuzz(func(t *testing.T, data []byte) {
		mp := studentGraph(data)
		before := proto.Clone(mp)
		g, err := compile(mp, nil)
		if !proto.Equal(before, mp) {
			t.Fatal("compile modified the model")
		}
		if err != nil {
			return
		}
		x := make([]float32, 32)
		for i := range x {
			x[i] = float32(i%7) - 3
		}
		y, err := g.forward(x, []int64{1, 2, 4, 4})
		if err != nil {
			return
		}
		g.backward(make([]float32, len(y.data)))
	})
}
