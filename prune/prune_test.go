package prune

import (
	"context"
	"errors"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/onnx"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/runtime"
	"github.com/refit-ml/refit/tensor"
)

func mnistModel(t *testing.T, name string) *onnxpb.ModelProto {
	t.Helper()
	mp, err := onnx.Load(refit.DirFS(filepath.Join("..", "testdata", "models", "mnist")), name)
	if err != nil {
		t.Fatal(err)
	}
	return mp
}

func TestWeightsSparsity(t *testing.T) {
	mp := mnistModel(t, "mnist_cnn.onnx")
	b, _ := proto.Marshal(mp)
	src, err := onnx.Decode(bytesReader(b), int64(len(b)), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		opts Options
		want float64 // overall sparsity of the selected tensors
	}{
		{"magnitude30", Options{Method: Magnitude, Sparsity: 0.3}, 0.3},
		{"magnitude90", Options{Method: Magnitude, Sparsity: 0.9}, 0.9},
		{"global50", Options{Method: Global, Sparsity: 0.5}, 0.5},
		{"nm24", Options{Method: NM, N: 2, M: 4, Exclude: mustRe(t, "Conv_32")}, 0.5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, rep, err := Weights(src, &tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			var zeros, n int64
			for _, l := range rep.Layers {
				tt := out.Tensor(l.Name)
				f, err := tt.Float32s()
				if err != nil {
					t.Fatal(err)
				}
				if !tt.Shape.Equal(l.Shape) || tt.DType != tensor.F32 {
					t.Errorf("%s: shape %v dtype %v changed", l.Name, tt.Shape, tt.DType)
				}
				z := countZeros(f)
				if z != l.ZerosAfter {
					t.Errorf("%s: report says %d zeros, tensor has %d", l.Name, l.ZerosAfter, z)
				}
				if tc.opts.Method == Magnitude && float64(z) < tc.want*float64(len(f))-1 {
					t.Errorf("%s: sparsity %.3f, want >= %.2f", l.Name, float64(z)/float64(len(f)), tc.want)
				}
				if tc.opts.Method == NM {
					for i := 0; i+4 <= len(f); i += 4 { // axis 1 innermost for Gemm [out, in]
						if len(tt.Shape) == 2 && countZeros(f[i:i+4]) < 2 {
							t.Fatalf("%s: group at %d has %v", l.Name, i, f[i:i+4])
						}
					}
				}
				zeros += z
				n += int64(len(f))
			}
			if got := float64(zeros) / float64(n); got < tc.want-0.001 {
				t.Errorf("sparsity %.4f, want %.2f", got, tc.want)
			}
			orig, _ := src.Tensors[0].Float32s()
			if countZeros(orig) != 0 {
				t.Error("input model was modified")
			}
		})
	}
}

func TestBadOptions(t *testing.T) {
	m := &refit.Model{}
	w, _ := tensor.NewF32("w", tensor.Shape{2, 6}, make([]float32, 12))
	m.Tensors = append(m.Tensors, w)
	for _, o := range []Options{
		{Method: Magnitude, Sparsity: 1},
		{Method: Magnitude, Sparsity: -0.1},
		{Method: NM, N: 2, M: 4}, // 6 % 4 != 0
		{Method: NM, N: 5, M: 4},
	} {
		if _, _, err := Weights(m, &o); !errors.Is(err, ErrOptions) {
			t.Errorf("Weights(%+v) = %v, want ErrOptions", o, err)
		}
	}
	if _, _, err := Structured(context.Background(), mnistModel(t, "mnist_cnn.onnx"), nil, &StructuredOptions{Sparsity: 1}); !errors.Is(err, ErrOptions) {
		t.Errorf("Structured(sparsity 1) = %v, want ErrOptions", err)
	}
}

func TestStructured(t *testing.T) {
	for _, name := range []string{"mnist_cnn.onnx", "mnist_cnn_bn.onnx"} {
		t.Run(name, func(t *testing.T) {
			mp := mnistModel(t, name)
			before := proto.Clone(mp)
			out, rep, err := Structured(context.Background(), mp, nil, &StructuredOptions{Sparsity: 0.5})
			if err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(before, mp) {
				t.Error("input model was modified")
			}
			if len(rep.Layers) != 3 || rep.ParamsAfter*3 > rep.ParamsBefore {
				t.Errorf("report %+v: want 3 layers and < 1/3 of the parameters", rep)
			}
			// Each layer compares its original tensor with its final one: conv2 and fc1
			// also lose input columns to the layers cut before them.
			want := []struct{ before, after tensor.Shape }{
				{tensor.Shape{16, 1, 3, 3}, tensor.Shape{8, 1, 3, 3}},
				{tensor.Shape{32, 16, 3, 3}, tensor.Shape{16, 8, 3, 3}},
				{tensor.Shape{64, 1568}, tensor.Shape{32, 784}},
			}
			for i, l := range rep.Layers {
				if i >= len(want) {
					break
				}
				w := want[i]
				if !l.Shape.Equal(w.before) || !l.NewShape.Equal(w.after) ||
					l.Params != w.before.Elements() || l.NewParams != w.after.Elements() {
					t.Errorf("%s: %v (%d) -> %v (%d), want %v -> %v", l.Name, l.Shape, l.Params, l.NewShape, l.NewParams, w.before, w.after)
				}
				if l.SparsityAfter != 0.5 {
					t.Errorf("%s: sparsity %g, want 0.5 of the output channels", l.Name, l.SparsityAfter)
				}
			}
			var sum int64
			for _, l := range rep.Layers {
				sum += l.Params - l.NewParams
			}
			if removed := rep.ParamsBefore - rep.ParamsAfter; sum > removed {
				t.Errorf("layers report %d parameters removed, model lost only %d", sum, removed)
			}
			s, err := runtime.Load(out, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			in, _ := runtime.RandomInputs(s, 1, &runtime.RandomOptions{DefaultDim: 3})
			res, err := s.Run(context.Background(), in)
			if err != nil {
				t.Fatalf("pruned model does not run: %v", err)
			}
			if y := res["logits"]; y == nil || y.Shape[0] != 3 || y.Shape[1] != 10 {
				t.Errorf("logits %v", y)
			}
		})
	}
}

// TestStructuredResidualAdd checks that an Add of two pruned activations stops
// with the node named.
func TestStructuredResidualAdd(t *testing.T) {
	mp := mnistModel(t, "mnist_cnn.onnx")
	g := mp.Graph
	// relu2 = Relu(conv2); add: Relu(conv2) + conv2 output
	var convOut string
	for _, n := range g.Node {
		if n.GetName() == "/conv2/Conv" {
			convOut = n.Output[0]
		}
	}
	for _, n := range g.Node {
		if n.GetOpType() == "Relu" && n.Input[0] == convOut {
			add := &onnxpb.NodeProto{Name: proto.String("residual"), OpType: proto.String("Add"),
				Input: []string{convOut, n.Output[0]}, Output: []string{"res_out"}}
			for _, m := range g.Node {
				for i, in := range m.Input {
					if in == n.Output[0] {
						m.Input[i] = "res_out"
					}
				}
			}
			g.Node = append(g.Node, add)
			break
		}
	}
	// keep topological order: move the Add right after the Relu
	nodes := g.Node
	add := nodes[len(nodes)-1]
	var ordered []*onnxpb.NodeProto
	for _, n := range nodes[:len(nodes)-1] {
		ordered = append(ordered, n)
		if n.GetOpType() == "Relu" && n.Input[0] == convOut {
			ordered = append(ordered, add)
		}
	}
	g.Node = ordered
	_, _, err := Structured(context.Background(), mp, nil, &StructuredOptions{Sparsity: 0.5})
	if !errors.Is(err, ErrUnrepairable) {
		t.Fatalf("Structured = %v, want ErrUnrepairable", err)
	}
	t.Log(err)
}

// TestUnchanged: a run that prunes nothing reports each candidate's reason and
// Unchanged wraps ErrNothingPruned; one layer pruned is enough for nil.
func TestUnchanged(t *testing.T) {
	w, _ := tensor.NewF32("w", tensor.Shape{2, 2}, []float32{1, -2, 3, -4})
	b, _ := tensor.NewF32("b", tensor.Shape{2}, []float32{1, 2})
	ids, _ := tensor.FromBytes("ids", tensor.I32, tensor.Shape{2, 1}, make([]byte, 8))
	m := &refit.Model{Tensors: []*tensor.Tensor{w, b, ids}}
	_, rep, err := Weights(m, &Options{Sparsity: 0.5, Exclude: regexp.MustCompile("^w$")})
	if err != nil {
		t.Fatal(err)
	}
	want := []Skipped{{Name: "w", Reason: "matched by --exclude"}, {Name: "ids", Reason: "not floating point (I32)"}}
	if !slices.Equal(rep.Skipped, want) {
		t.Errorf("Skipped = %+v, want %+v (b, rank 1, is no candidate)", rep.Skipped, want)
	}
	if err := rep.Unchanged(); !errors.Is(err, ErrNothingPruned) {
		t.Errorf("Unchanged = %v, want ErrNothingPruned", err)
	}
	if _, rep, err = Weights(m, &Options{Sparsity: 0.5}); err != nil || rep.Unchanged() != nil {
		t.Errorf("Weights = %+v, %v; want w pruned and Unchanged nil", rep, err)
	}
	_, rep, err = Structured(context.Background(), mnistModel(t, "mnist_cnn.onnx"), nil, &StructuredOptions{Sparsity: 0.5, Exclude: regexp.MustCompile("conv|fc1")})
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.Unchanged(); !errors.Is(err, ErrNothingPruned) || len(rep.Skipped) != 4 {
		t.Errorf("Structured excluding all: Unchanged = %v, skipped %+v; want ErrNothingPruned and 4 nodes", err, rep.Skipped)
	}
}
