package optimize

import (
	"context"
	"os"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/graph"
)

// FuzzModel feeds arbitrary ModelProtos to Model: it must not panic, must not modify
// its input, and a second run over its output must find nothing more to remove.
func FuzzModel(f *testing.F) {
	for _, p := range []string{"../runtime/testdata/models/convnet.onnx", "../runtime/testdata/models/if_outer.onnx",
		"../runtime/testdata/models/loop_sum.onnx", "../runtime/testdata/models/reshape_dynamic.onnx",
		"../testdata/models/quant/digits_mlp.onnx"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	b := newBuilder()
	b.node("Transpose", []string{"x"}, []string{"t1"})
	b.node("Reshape", []string{"t1", "s"}, []string{"r"})
	f.Add(mustMarshal(f, b.model("r")))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<20 {
			return
		}
		mp := &onnxpb.ModelProto{}
		if proto.Unmarshal(data, mp) != nil {
			return
		}
		before := proto.Clone(mp)
		out, rep, err := Model(context.Background(), mp, nil)
		if !proto.Equal(before, mp) {
			t.Fatal("Model modified its input")
		}
		if err != nil {
			return
		}
		if rep.NodesAfter != len(out.Graph.Node) || rep.NodesAfter > rep.NodesBefore {
			t.Fatalf("report %+v, graph has %d nodes", rep, len(out.Graph.Node))
		}
		_, rep2, err := Model(context.Background(), out, &Options{Only: []string{"remove-dead", "remove-unused-initializers"}})
		if err != nil {
			t.Fatalf("second run: %v", err)
		}
		if rep2.NodesAfter != rep2.NodesBefore || rep2.InitializersAfter != rep2.InitializersBefore {
			t.Fatalf("second run removed more: %+v", rep2)
		}
	})
}

func mustMarshal(f *testing.F, mp *onnxpb.ModelProto) []byte {
	b, err := proto.Marshal(mp)
	if err != nil {
		f.Fatal(err)
	}
	return b
}

// passGraph builds a model from data: each 4-byte group adds one node whose
// operator, inputs (graph values, constants or missing) and output come from the
// bytes, so that every pass meets odd arities, shared values and bad attributes.
func passGraph(data []byte) *onnxpb.ModelProto {
	ops := []string{"Identity", "Dropout", "Transpose", "Reshape", "Flatten", "MatMul", "Add", "Gemm", "Conv", "BatchNormalization", "Relu", "Constant"}
	pool := []string{"x", "v1", "v2", "v3", "w0", "w1", "w2", "w3", ""}
	b := newBuilder("x")
	for _, c := range []struct {
		name  string
		shape []int64
		n     int
	}{{"w0", []int64{2, 2}, 4}, {"w1", []int64{2}, 2}, {"w3", []int64{2, 2, 1, 1}, 4}} {
		tp := graph.FloatTensor(c.name, c.shape, make([]float32, c.n))
		b.g.Initializer = append(b.g.Initializer, tp)
	}
	b.g.Initializer = append(b.g.Initializer, graph.Int64Tensor("w2", []int64{2}, []int64{2, 0}))
	for i := 0; len(data) >= 4 && i < 12; i++ {
		var in []string
		for k := 0; k < int(data[1]%6); k++ {
			in = append(in, pool[(int(data[1])/6+k*int(data[2]))%len(pool)])
		}
		out := []string{pool[1+int(data[3])%3]}
		if data[3]&0x80 != 0 {
			out = nil
		}
		n := &onnxpb.NodeProto{OpType: proto.String(ops[int(data[0])%len(ops)]), Input: in, Output: out}
		switch data[2] % 4 {
		case 0:
			n.Attribute = append(n.Attribute, graph.IntsAttr("perm", []int64{1, 0}))
		case 1:
			n.Attribute = append(n.Attribute, graph.IntsAttr("perm", []int64{int64(data[2]), -1}))
		case 2:
			n.Attribute = append(n.Attribute, graph.IntAttr("transB", 1), graph.FloatAttr("epsilon", 0))
		case 3: // a Constant's value (other operators ignore or reject it)
			n.Attribute = append(n.Attribute, graph.FloatsAttr("value_floats", []float32{1, 2}))
		}
		b.g.Node = append(b.g.Node, n)
		data = data[4:]
	}
	return b.model("v1")
}

// FuzzPasses runs every pass over generated graphs: no panic, input unchanged.
func FuzzPasses(f *testing.F) {
	f.Add([]byte{2, 1, 0, 1, 2, 2, 0, 2, 3, 2, 6, 3})
	f.Add([]byte{5, 2, 4, 1, 6, 2, 3, 2, 9, 5, 1, 1})
	f.Add([]byte{7, 3, 2, 1, 8, 3, 5, 2, 0, 0, 0, 1})
	f.Add([]byte{11, 0, 3, 1, 0, 1, 3, 2, 5, 2, 1, 1}) // Constant v1, Identity of w0, MatMul
	f.Fuzz(func(t *testing.T, data []byte) {
		mp := passGraph(data)
		before := proto.Clone(mp)
		if _, _, err := Model(context.Background(), mp, nil); err != nil && !proto.Equal(before, mp) {
			t.Fatal("Model modified its input")
		}
		if !proto.Equal(before, mp) {
			t.Fatal("Model modified its input")
		}
	})
}
