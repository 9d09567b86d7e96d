package runtime

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/refit-ml/refit/format/onnx/onnxpb"
)

// runThreads runs g with feeds at each thread count and fails unless every output is
// byte-identical to the single-threaded one.
func runThreads(t *testing.T, name string, newSession func(*Options) (*Session, error), feeds func(*Session) map[string]*Value) {
	t.Helper()
	var want map[string][]byte
	for _, threads := range []int{1, 2, 3, 4} {
		s, err := newSession(&Options{Threads: threads})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out, err := s.Run(context.Background(), feeds(s))
		if err != nil {
			t.Fatalf("%s: Run with Threads %d: %v", name, threads, err)
		}
		got := map[string][]byte{}
		for k, v := range out {
			got[k] = slices.Clone(v.Bytes())
		}
		if want == nil {
			want = got
			continue
		}
		for k, w := range want {
			if !bytes.Equal(got[k], w) {
				t.Errorf("%s: output %q with Threads %d differs from Threads 1", name, k, threads)
			}
		}
	}
}

// TestThreadsDoNotChangeOutputs runs the fixture models, and single large nodes of the
// parallel kernels, at 1 to 4 threads: the outputs must be identical bytes.
func TestThreadsDoNotChangeOutputs(t *testing.T) {
	models, _ := filepath.Glob(filepath.Join("testdata", "models", "*.onnx"))
	more, _ := filepath.Glob(filepath.Join("..", "testdata", "models", "mnist", "*.onnx"))
	models = append(models, more...)
	if len(models) < 2 {
		t.Fatalf("found %d fixture models, want the runtime and MNIST fixtures", len(models))
	}
	for _, path := range models {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		mp := &onnxpb.ModelProto{}
		if err := proto.Unmarshal(b, mp); err != nil {
			t.Fatal(err)
		}
		var in map[string]*Value
		runThreads(t, filepath.Base(path), func(o *Options) (*Session, error) { return Load(mp, nil, o) },
			func(s *Session) map[string]*Value {
				if in == nil {
					if in, err = RandomInputs(s, 7, &RandomOptions{DefaultDim: 16}); err != nil {
						t.Fatal(err)
					}
				}
				return in
			})
	}

	r := rand.New(rand.NewPCG(3, 4))
	rnd := func(shape ...int64) *Value {
		n := int64(1)
		for _, d := range shape {
			n *= d
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = r.Float32()*2 - 1
		}
		x, _ := FromSlice(v, shape...)
		return x
	}
	ints := func(v ...int64) []int64 { return v }
	nodes := []struct {
		op     string
		inputs []*Value
		attrs  []*Attr
	}{
		{"MatMul", []*Value{rnd(4, 96, 300), rnd(300, 200)}, nil},
		{"Gemm", []*Value{rnd(200, 300), rnd(300, 150), rnd(150)}, nil},
		{"Conv", []*Value{rnd(2, 16, 40, 40), rnd(32, 16, 3, 3), rnd(32)}, []*Attr{{Name: "pads", Kind: AttrInts, Ints: ints(1, 1, 1, 1)}}},
		{"Conv", []*Value{rnd(2, 16, 40, 40), rnd(16, 1, 3, 3)}, []*Attr{{Name: "group", Kind: AttrInt, Int: 16}}},
		{"MaxPool", []*Value{rnd(2, 16, 40, 40)}, []*Attr{{Name: "kernel_shape", Kind: AttrInts, Ints: ints(3, 3)}}},
		{"GlobalAveragePool", []*Value{rnd(4, 64, 20, 20)}, nil},
		{"Softmax", []*Value{rnd(300, 500)}, nil},
		{"Add", []*Value{rnd(64, 100, 30), rnd(100, 1)}, nil},
		{"Tanh", []*Value{rnd(200, 500)}, nil},
		{"ReduceSum", []*Value{rnd(64, 300, 20)}, []*Attr{{Name: "axes", Kind: AttrInts, Ints: ints(1)}}},
		{"Transpose", []*Value{rnd(64, 300, 20)}, []*Attr{{Name: "perm", Kind: AttrInts, Ints: ints(2, 0, 1)}}},
		{"CumSum", []*Value{rnd(64, 300, 20), i64s(1)}, nil},
		{"InstanceNormalization", []*Value{rnd(4, 32, 50, 50), rnd(32), rnd(32)}, nil},
	}
	for _, tc := range nodes {
		g, feeds := oneNode(tc.op, tc.inputs, tc.attrs...)
		g.Initializers = map[string]*Value{}
		runThreads(t, tc.op, func(o *Options) (*Session, error) {
			o.NoFolding = true
			return NewSession(g, map[string]int64{"": 17}, o)
		}, func(*Session) map[string]*Value { return feeds })
	}
}

func init() {
	Register(Op{Domain: "test.refit", Type: "Threads", Since: 1, Kernel: func(c *Call) ([]*Value, error) {
		v, err := FromSlice([]int64{int64(c.Threads())}, 1)
		return []*Value{v}, err
	}})
}

// TestOptionsThreadsReachKernels checks that a kernel sees the session's thread count.
func TestOptionsThreadsReachKernels(t *testing.T) {
	g := &Graph{Outputs: []ValueInfo{{Name: "y"}}, Nodes: []*Node{{Name: "n", OpType: "Threads", Domain: "test.refit", Outputs: []string{"y"}}}}
	for _, threads := range []int{1, 3, 7} {
		s, err := NewSession(g, map[string]int64{"": 17, "test.refit": 1}, &Options{Threads: threads, NoFolding: true})
		if err != nil {
			t.Fatal(err)
		}
		out, err := s.Run(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := out["y"].Int64s()[0]; got != int64(threads) {
			t.Errorf("Options.Threads %d: kernel saw %d", threads, got)
		}
	}
}
