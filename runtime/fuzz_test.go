package runtime

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/tensor"
)

// FuzzLoadRun decodes a model, loads it and runs it on random inputs: whatever the
// bytes, Load and Run must return (an error is fine) without panicking, and without
// allocating beyond the session's MaxElements.
func FuzzLoadRun(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "models", "*.onnx"))
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		mp := &onnxpb.ModelProto{}
		if proto.Unmarshal(b, mp) != nil {
			return
		}
		opts := &Options{MaxElements: 1 << 16, MaxMemory: 64 << 20, MaxIterations: 10000}
		if len(b)%2 == 1 {
			opts.IntArith = SaturatingPairsArith // rewrites QDQ products (emulate_qdq.go)
		}
		s, err := Load(mp, nil, opts)
		if err != nil {
			return
		}
		in, err := RandomInputs(s, 1, &RandomOptions{DefaultDim: 2})
		if err != nil {
			return
		}
		for _, v := range in {
			if v.Len() > 1<<16 {
				return
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, _ = s.Run(ctx, in)
	})
}

// fuzzOps are the operators FuzzKernels drives, with their input kinds: 'f' a float
// tensor, 'i' an int64 tensor (indices, shapes, axes: often out of range on purpose).
var fuzzOps = []struct {
	op     string
	inputs string
}{
	{"Relu", "f"}, {"Softmax", "f"}, {"LogSoftmax", "f"}, {"Hardmax", "f"}, {"Transpose", "f"},
	{"Flatten", "f"}, {"Squeeze", "fi"}, {"Unsqueeze", "fi"}, {"ArgMax", "f"}, {"ReduceSum", "fi"},
	{"ReduceMean", "f"}, {"ReduceLogSumExp", "f"}, {"GlobalAveragePool", "f"}, {"MaxPool", "f"},
	{"AveragePool", "f"}, {"LpPool", "f"}, {"LRN", "f"}, {"Split", "fi"}, {"Tile", "fi"},
	{"Add", "ff"}, {"Pow", "ff"}, {"MatMul", "ff"}, {"Concat", "ff"}, {"Gather", "fi"},
	{"GatherElements", "fi"}, {"GatherND", "fi"}, {"Expand", "fi"}, {"Reshape", "fi"},
	{"PRelu", "ff"}, {"Conv", "ff"}, {"ConvTranspose", "ff"}, {"Gemm", "fff"}, {"Slice", "fiii"},
	{"Pad", "fi"}, {"ScatterElements", "fif"}, {"ScatterND", "fif"}, {"BatchNormalization", "fffff"},
	{"InstanceNormalization", "fff"}, {"LayerNormalization", "ff"}, {"GroupNormalization", "fff"},
	{"Range", "fff"}, {"ConstantOfShape", "i"}, {"Clip", "fff"}, {"Where", "fff"}, {"Mod", "ff"},
	{"CumSum", "fi"}, {"DepthToSpace", "f"}, {"Trilu", "f"},
	{"NegativeLogLikelihoodLoss", "fif"}, {"SoftmaxCrossEntropyLoss", "fif"}, {"SplitToSequence", "fi"},
	{"TfIdfVectorizer", "i"}, {"MaxUnpool", "fi"},
}

// FuzzKernels runs single nodes on fuzzed shapes, values and attributes. Kernels must
// validate their inputs: an error is fine, a recovered panic is a bug.
func FuzzKernels(f *testing.F) {
	f.Add([]byte{0, 2, 3, 4, 1, 2, 3, 4, 5, 6, 7, 8})
	f.Add([]byte{29, 4, 1, 2, 5, 5, 1, 1, 3, 3, 0, 0, 1, 1})
	f.Add([]byte{32, 2, 4, 4, 1, 0, 2, 1, 2, 255, 254})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < 2 {
			return
		}
		next := func() int {
			if len(b) == 0 {
				return 0
			}
			v := int(b[0])
			b = b[1:]
			return v
		}
		spec := fuzzOps[next()%len(fuzzOps)]
		if _, ok := lookupOp("", spec.op, 17); !ok {
			return // another family's op, not registered in this build
		}
		opset := []int64{9, 11, 13, 17}[next()%4]
		rank := next() % 5
		shape := make([]int64, rank)
		for i := range shape {
			shape[i] = int64(next() % 5)
		}
		g := &Graph{Outputs: []ValueInfo{{Name: "y"}}, Initializers: map[string]*Value{}}
		n := &Node{Name: "n", OpType: spec.op, Outputs: []string{"y"}, Attrs: map[string]*Attr{}}
		for i, kind := range spec.inputs {
			name := string(rune('a' + i))
			s := shape
			if next()%3 == 0 { // sometimes a different shape
				s = make([]int64, next()%4)
				for j := range s {
					s[j] = int64(next() % 4)
				}
			}
			cnt, _ := numElements(s)
			var v *Value
			if kind == 'i' {
				d := make([]int64, cnt)
				for j := range d {
					d[j] = int64(int8(next()))
				}
				v = &Value{DType: tensor.I64, Shape: s, Data: d}
			} else {
				d := make([]float32, cnt)
				for j := range d {
					d[j] = float32(int8(next())) / 16
				}
				v = &Value{DType: tensor.F32, Shape: s, Data: d}
			}
			g.Initializers[name] = v
			g.Inputs = append(g.Inputs, ValueInfo{Name: name})
			n.Inputs = append(n.Inputs, name)
		}
		for _, a := range []string{"axis", "keepdims", "group", "transA", "transB", "blocksize", "upper", "batch_dims", "num_groups", "size"} {
			if next()%2 == 0 {
				n.Attrs[a] = &Attr{Name: a, Kind: AttrInt, Int: int64(int8(next())) % 5}
			}
		}
		for _, a := range []string{"perm", "axes", "kernel_shape", "pads", "strides", "dilations", "split", "starts", "ends"} {
			if next()%3 == 0 {
				vals := make([]int64, next()%5)
				for j := range vals {
					vals[j] = int64(int8(next())) % 4
				}
				n.Attrs[a] = &Attr{Name: a, Kind: AttrInts, Ints: vals}
			}
		}
		g.Nodes = []*Node{n}
		s, err := NewSession(g, map[string]int64{"": opset}, &Options{NoFolding: true, MaxElements: 1 << 16})
		if err != nil {
			return
		}
		in := map[string]*Value{}
		for _, vi := range g.Inputs {
			in[vi.Name] = g.Initializers[vi.Name]
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err = s.Run(ctx, in)
		if kp := (*KernelPanicError)(nil); errors.As(err, &kp) {
			t.Fatalf("%s (opset %d): %v", spec.op, opset, err)
		}
	})
}
