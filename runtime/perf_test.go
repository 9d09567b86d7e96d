package runtime

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/refit-ml/refit/tensor"
)

// TestHostileAllocations feeds shapes that ask for terabytes (or overflow): every
// kernel must return an error wrapping ErrTooLarge instead of allocating.
func TestHostileAllocations(t *testing.T) {
	i64 := func(v ...int64) *Value { x, _ := FromSlice(v, int64(len(v))); return x }
	f32 := func(shape []int64, v ...float32) *Value { x, _ := FromSlice(v, shape...); return x }
	huge := int64(1) << 40
	tests := []struct {
		name   string
		op     string
		attrs  []*Attr
		inputs []*Value
	}{
		{"ConstantOfShape", "ConstantOfShape", nil, []*Value{i64(1<<20, 1<<20)}},
		{"OneHot", "OneHot", nil, []*Value{i64(0, 1, 2, 3, 4, 5, 6, 7), i64(1 << 31), f32([]int64{2}, 0, 1)}},
		{"Expand", "Expand", nil, []*Value{f32([]int64{1}, 1), i64(1<<20, 1<<20)}},
		{"Tile", "Tile", nil, []*Value{f32([]int64{2}, 1, 2), i64(huge)}},
		{"Range", "Range", nil, []*Value{Scalar[int64](0), Scalar(huge), Scalar[int64](1)}},
		{"Resize", "Resize", []*Attr{{Name: "mode", Kind: AttrString, String: "nearest"}},
			[]*Value{f32([]int64{1, 1, 2, 2}, 1, 2, 3, 4), nil, f32([]int64{4}, 1, 1, 1e6, 1e6)}},
		{"Conv3D_im2col", "Conv", nil, []*Value{f32([]int64{1, 1, 40, 40, 40}, make([]float32, 40*40*40)...), f32([]int64{1, 1, 20, 20, 20}, make([]float32, 20*20*20)...)}},
		{"ConvTranspose_col", "ConvTranspose", nil, []*Value{f32([]int64{1, 1, 8, 8}, make([]float32, 64)...), f32([]int64{1, 1, 40, 40}, make([]float32, 1600)...)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := &Graph{Outputs: []ValueInfo{{Name: "y"}}}
			feeds := map[string]*Value{}
			var names []string
			for i, v := range tc.inputs {
				if v == nil {
					names = append(names, "")
					continue
				}
				name := fmt.Sprintf("in%d", i)
				names = append(names, name)
				g.Inputs = append(g.Inputs, ValueInfo{Name: name, DType: v.DType})
				feeds[name] = v
			}
			g.Nodes = []*Node{node(tc.op, names, []string{"y"}, tc.attrs...)}
			s, err := NewSession(g, map[string]int64{"": 17}, &Options{MaxElements: 1 << 16})
			if err == nil {
				_, err = s.Run(context.Background(), feeds)
			}
			if !errors.Is(err, ErrTooLarge) {
				t.Fatalf("error = %v, want ErrTooLarge", err)
			}
		})
	}
}

// naiveConv is the definition of Conv for [N, C, spatial...] inputs.
func naiveConv(x, w []float32, xs, ws []int64, bias []float32, group int, strides, dil, padBegin, out []int64) []float32 {
	nd := len(xs) - 2
	N, C, M := int(xs[0]), int(xs[1]), int(ws[0])
	Cg, Mg := C/group, M/group
	on := int(shapeProduct(out))
	kn := int(shapeProduct(ws[2:]))
	in := int(shapeProduct(xs[2:]))
	y := make([]float32, N*M*on)
	oi, ki := make([]int64, nd), make([]int64, nd)
	for n := 0; n < N; n++ {
		for m := 0; m < M; m++ {
			g := m / Mg
			for o := 0; o < on; o++ {
				unravel(o, out, oi)
				var s float64
				if bias != nil {
					s = float64(bias[m])
				}
				for c := 0; c < Cg; c++ {
					for k := 0; k < kn; k++ {
						unravel(k, ws[2:], ki)
						off, ok := 0, true
						for d := 0; d < nd; d++ {
							p := oi[d]*strides[d] - padBegin[d] + ki[d]*dil[d]
							if p < 0 || p >= xs[2+d] {
								ok = false
								break
							}
							off = off*int(xs[2+d]) + int(p)
						}
						if ok {
							s += float64(x[(n*C+g*Cg+c)*in+off]) * float64(w[(m*Cg+c)*kn+k])
						}
					}
				}
				y[(n*M+m)*on+o] = float32(s)
			}
		}
	}
	return y
}

func shapeProduct(s []int64) int64 {
	p := int64(1)
	for _, d := range s {
		p *= d
	}
	return p
}

func unravel(i int, dims []int64, idx []int64) {
	for d := len(dims) - 1; d >= 0; d-- {
		idx[d] = int64(i) % dims[d]
		i /= int(dims[d])
	}
}

func ints(name string, v ...int64) *Attr { return &Attr{Name: name, Kind: AttrInts, Ints: v} }

func nearlyEqual(t *testing.T, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d values, want %d", len(got), len(want))
	}
	for i := range got {
		if math.Abs(float64(got[i]-want[i])) > tol*(1+math.Abs(float64(want[i]))) {
			t.Fatalf("element %d = %v, want %v", i, got[i], want[i])
		}
	}
}

// TestConvKernelPaths checks every convolution path (1x1 GEMM, implicit im2col in 1-D and
// 2-D, explicit im2col in 3-D, grouped, depthwise, fused Relu) against the
// definition, with the weights as a cached initializer (run twice) and as an input.
func TestConvKernelPaths(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	tests := []struct {
		name               string
		x, w               []int64
		group              int
		strides, dil, pads []int64
		bias, relu         bool
	}{
		{"1x1", []int64{2, 8, 5, 7}, []int64{12, 8, 1, 1}, 1, []int64{1, 1}, []int64{1, 1}, []int64{0, 0, 0, 0}, true, false},
		{"1x1s2", []int64{1, 8, 9, 7}, []int64{12, 8, 1, 1}, 1, []int64{2, 2}, []int64{1, 1}, []int64{0, 0, 0, 0}, false, true},
		{"3x3pad", []int64{2, 5, 11, 13}, []int64{20, 5, 3, 3}, 1, []int64{1, 1}, []int64{1, 1}, []int64{1, 1, 1, 1}, true, true},
		{"7x7s2", []int64{1, 3, 23, 20}, []int64{16, 3, 7, 7}, 1, []int64{2, 2}, []int64{1, 1}, []int64{3, 2, 3, 1}, true, true},
		{"dilated", []int64{1, 4, 12, 12}, []int64{6, 4, 3, 3}, 1, []int64{1, 2}, []int64{2, 3}, []int64{2, 0, 1, 3}, false, false},
		{"asym_pad_batch", []int64{2, 3, 9, 8}, []int64{5, 3, 3, 2}, 1, []int64{1, 1}, []int64{2, 1}, []int64{2, 0, 1, 1}, true, false},
		{"grouped", []int64{3, 8, 9, 9}, []int64{12, 2, 3, 3}, 4, []int64{1, 1}, []int64{1, 1}, []int64{1, 1, 1, 1}, true, true},
		{"depthwise", []int64{2, 6, 10, 9}, []int64{6, 1, 3, 3}, 6, []int64{2, 1}, []int64{1, 1}, []int64{1, 0, 1, 2}, true, true},
		{"depthwise_dil", []int64{1, 4, 10, 9}, []int64{4, 1, 3, 2}, 4, []int64{1, 2}, []int64{2, 2}, []int64{2, 1, 1, 1}, false, true},
		{"1d", []int64{2, 4, 30}, []int64{6, 4, 5}, 1, []int64{3}, []int64{1}, []int64{2, 1}, true, false},
		{"1d_depthwise", []int64{2, 4, 30}, []int64{4, 1, 5}, 4, []int64{1}, []int64{2}, []int64{2, 2}, true, true},
		{"3d", []int64{1, 3, 5, 6, 7}, []int64{4, 3, 2, 3, 2}, 1, []int64{1, 2, 1}, []int64{1, 1, 2}, []int64{1, 0, 1, 0, 1, 1}, true, true},
		{"batch32_small", []int64{32, 1, 8, 8}, []int64{4, 1, 3, 3}, 1, []int64{1, 1}, []int64{1, 1}, []int64{1, 1, 1, 1}, true, true},
		// 7 x 7 outputs: blas.SgemmShiftedT when the weights are constant.
		{"7x7_transposed", []int64{2, 24, 7, 7}, []int64{40, 24, 3, 3}, 1, []int64{1, 1}, []int64{1, 1}, []int64{1, 1, 1, 1}, true, true},
		{"7x7s2_transposed", []int64{1, 16, 14, 14}, []int64{35, 16, 3, 3}, 1, []int64{2, 2}, []int64{1, 1}, []int64{1, 1, 1, 1}, false, false},
		{"7x7_1x1s2_transposed", []int64{3, 16, 14, 14}, []int64{33, 16, 1, 1}, 1, []int64{2, 2}, []int64{1, 1}, []int64{0, 0, 0, 0}, true, false},
	}
	for _, tc := range tests {
		for _, constW := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/const=%v", tc.name, constW), func(t *testing.T) {
				x := randSlice(r, int(shapeProduct(tc.x)))
				w := randSlice(r, int(shapeProduct(tc.w)))
				var bias []float32
				nd := len(tc.x) - 2
				out := make([]int64, nd)
				for d := 0; d < nd; d++ {
					ext := (tc.w[2+d]-1)*tc.dil[d] + 1
					out[d] = (tc.x[2+d]+tc.pads[d]+tc.pads[nd+d]-ext)/tc.strides[d] + 1
				}
				xv, _ := FromSlice(x, tc.x...)
				wv, _ := FromSlice(w, tc.w...)
				g := &Graph{Inputs: []ValueInfo{input("x", tensor.F32, tc.x...)}, Outputs: []ValueInfo{{Name: "y"}}, Initializers: map[string]*Value{}}
				feeds := map[string]*Value{"x": xv}
				if constW {
					g.Initializers["w"] = wv
				} else {
					g.Inputs = append(g.Inputs, input("w", tensor.F32, tc.w...))
					feeds["w"] = wv
				}
				ins := []string{"x", "w"}
				if tc.bias {
					bias = randSlice(r, int(tc.w[0]))
					bv, _ := FromSlice(bias, tc.w[0])
					g.Initializers["b"] = bv
					ins = append(ins, "b")
				}
				convOut := "y"
				if tc.relu {
					convOut = "c"
				}
				g.Nodes = []*Node{node("Conv", ins, []string{convOut}, ints("strides", tc.strides...), ints("dilations", tc.dil...), ints("pads", tc.pads...), &Attr{Name: "group", Kind: AttrInt, Int: int64(tc.group)})}
				if tc.relu {
					g.Nodes = append(g.Nodes, node("Relu", []string{"c"}, []string{"y"}))
				}
				want := naiveConv(x, w, tc.x, tc.w, bias, tc.group, tc.strides, tc.dil, tc.pads[:nd], out)
				if tc.relu {
					for i, v := range want {
						want[i] = max(v, 0)
					}
				}
				s, err := NewSession(g, map[string]int64{"": 17}, nil)
				if err != nil {
					t.Fatal(err)
				}
				if tc.relu && len(s.Graph().Nodes) != 1 {
					t.Errorf("Conv+Relu left %d nodes, want 1 (fused)", len(s.Graph().Nodes))
				}
				for run := 0; run < 2; run++ {
					res, err := s.Run(context.Background(), feeds)
					if err != nil {
						t.Fatal(err)
					}
					y := res["y"]
					if !slices.Equal(y.Shape, append([]int64{tc.x[0], tc.w[0]}, out...)) {
						t.Fatalf("shape %v, want output spatial %v", y.Shape, out)
					}
					nearlyEqual(t, y.Data.([]float32), want, 1e-4)
				}
			})
		}
	}
}

// naivePool is MaxPool / AveragePool over [N, C, H, W] by definition.
func naivePool(x []float32, xs []int64, k, s, padB, padE []int64, out []int64, isMax, includePad bool) []float32 {
	N, C, H, W := int(xs[0]), int(xs[1]), int(xs[2]), int(xs[3])
	OH, OW := int(out[0]), int(out[1])
	y := make([]float32, N*C*OH*OW)
	for p := 0; p < N*C; p++ {
		for oh := 0; oh < OH; oh++ {
			for ow := 0; ow < OW; ow++ {
				best, sum, cnt, padCnt := float32(math.Inf(-1)), 0.0, 0, 0
				for i := 0; i < int(k[0]); i++ {
					for j := 0; j < int(k[1]); j++ {
						h, w := oh*int(s[0])-int(padB[0])+i, ow*int(s[1])-int(padB[1])+j
						if h >= -int(padB[0]) && h < H+int(padE[0]) && w >= -int(padB[1]) && w < W+int(padE[1]) {
							padCnt++
						}
						if h < 0 || h >= H || w < 0 || w >= W {
							continue
						}
						v := x[(p*H+h)*W+w]
						best = max(best, v)
						sum += float64(v)
						cnt++
					}
				}
				o := &y[(p*OH+oh)*OW+ow]
				switch {
				case isMax:
					*o = best
				case includePad:
					*o = float32(sum / float64(max(padCnt, 1)))
				default:
					*o = float32(sum / float64(max(cnt, 1)))
				}
			}
		}
	}
	return y
}

func TestPoolPaths(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	tests := []struct {
		name       string
		x, k, s    []int64
		pads       []int64
		ceil       bool
		includePad bool
	}{
		{"2x2s2", []int64{3, 4, 8, 10}, []int64{2, 2}, []int64{2, 2}, []int64{0, 0, 0, 0}, false, false},
		{"2x2s2_odd", []int64{1, 2, 7, 9}, []int64{2, 2}, []int64{2, 2}, []int64{0, 0, 0, 0}, false, false},
		{"2x2s2_oddH", []int64{2, 3, 7, 10}, []int64{2, 2}, []int64{2, 2}, []int64{0, 0, 0, 0}, false, false},
		{"2x2s2_mnist", []int64{4, 16, 28, 28}, []int64{2, 2}, []int64{2, 2}, []int64{0, 0, 0, 0}, false, false},
		{"3x3s2pad", []int64{1, 3, 12, 11}, []int64{3, 3}, []int64{2, 2}, []int64{1, 1, 1, 1}, false, false},
		{"3x3s2pad_wide", []int64{2, 3, 13, 40}, []int64{3, 3}, []int64{2, 2}, []int64{1, 1, 1, 1}, false, false},
		{"3x3s2_ceil", []int64{1, 2, 9, 37}, []int64{3, 3}, []int64{2, 2}, []int64{0, 1, 0, 0}, true, false},
		{"3x3s1pad_incl", []int64{2, 2, 6, 7}, []int64{3, 3}, []int64{1, 1}, []int64{1, 2, 1, 0}, false, true},
		{"ceil", []int64{1, 2, 7, 8}, []int64{3, 2}, []int64{2, 3}, []int64{0, 1, 1, 0}, true, false},
		{"ceil_incl", []int64{1, 2, 7, 8}, []int64{3, 3}, []int64{2, 2}, []int64{1, 1, 1, 1}, true, true},
		{"wide", []int64{1, 1, 5, 40}, []int64{1, 5}, []int64{1, 4}, []int64{0, 2, 0, 2}, false, false},
	}
	for _, tc := range tests {
		for _, op := range []string{"MaxPool", "AveragePool"} {
			t.Run(tc.name+"/"+op, func(t *testing.T) {
				x := randSlice(r, int(shapeProduct(tc.x)))
				xv, _ := FromSlice(x, tc.x...)
				attrs := []*Attr{ints("kernel_shape", tc.k...), ints("strides", tc.s...), ints("pads", tc.pads...)}
				if tc.ceil {
					attrs = append(attrs, &Attr{Name: "ceil_mode", Kind: AttrInt, Int: 1})
				}
				if tc.includePad {
					attrs = append(attrs, &Attr{Name: "count_include_pad", Kind: AttrInt, Int: 1})
				}
				g := &Graph{Inputs: []ValueInfo{input("x", tensor.F32, tc.x...)}, Outputs: []ValueInfo{{Name: "y"}},
					Nodes: []*Node{node(op, []string{"x"}, []string{"y"}, attrs...)}}
				s, err := NewSession(g, map[string]int64{"": 17}, nil)
				if err != nil {
					t.Fatal(err)
				}
				res, err := s.Run(context.Background(), map[string]*Value{"x": xv})
				if err != nil {
					t.Fatal(err)
				}
				y := res["y"]
				out := y.Shape[2:]
				// Output size by the spec's formula.
				for d := 0; d < 2; d++ {
					span := tc.x[2+d] + tc.pads[d] + tc.pads[2+d] - tc.k[d]
					o := span/tc.s[d] + 1
					if tc.ceil {
						o = (span+tc.s[d]-1)/tc.s[d] + 1
						if (o-1)*tc.s[d] >= tc.x[2+d]+tc.pads[d] {
							o--
						}
					}
					if out[d] != o {
						t.Fatalf("output %v, want dim %d = %d", y.Shape, d, o)
					}
				}
				want := naivePool(x, tc.x, tc.k, tc.s, tc.pads[:2], tc.pads[2:], out, op == "MaxPool", tc.includePad)
				nearlyEqual(t, y.Data.([]float32), want, 1e-5)
			})
		}
	}
}

// TestPreparedWeights checks the per-node packed-weight cache: an initializer that
// is also a graph input is never cached (a fed value wins), and one session runs
// correctly from several goroutines (go test -race).
func TestPreparedWeights(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	const m, k, n = 7, 33, 19
	a, b1, b2 := randSlice(r, m*k), randSlice(r, k*n), randSlice(r, k*n)
	av, _ := FromSlice(a, m, k)
	bv1, _ := FromSlice(b1, k, n)
	bv2, _ := FromSlice(b2, k, n)
	want := func(b []float32) []float32 {
		c := make([]float32, m*n)
		naiveGemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n)
		return c
	}
	for _, op := range []string{"MatMul", "Gemm"} {
		t.Run(op+"/overridable", func(t *testing.T) {
			g := &Graph{Inputs: []ValueInfo{input("a", tensor.F32, m, k), input("b", tensor.F32, k, n)}, Outputs: []ValueInfo{{Name: "y"}},
				Initializers: map[string]*Value{"b": bv1}, Nodes: []*Node{node(op, []string{"a", "b"}, []string{"y"})}}
			s, err := NewSession(g, map[string]int64{"": 17}, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				feeds map[string]*Value
				want  []float32
			}{
				{map[string]*Value{"a": av}, want(b1)},
				{map[string]*Value{"a": av, "b": bv2}, want(b2)},
				{map[string]*Value{"a": av}, want(b1)},
			} {
				res, err := s.Run(context.Background(), tc.feeds)
				if err != nil {
					t.Fatal(err)
				}
				nearlyEqual(t, res["y"].Data.([]float32), tc.want, 1e-4)
			}
		})
		t.Run(op+"/concurrent", func(t *testing.T) {
			g := &Graph{Inputs: []ValueInfo{input("a", tensor.F32, m, k)}, Outputs: []ValueInfo{{Name: "y"}},
				Initializers: map[string]*Value{"b": bv1}, Nodes: []*Node{node(op, []string{"a", "b"}, []string{"y"})}}
			s, err := NewSession(g, map[string]int64{"": 17}, nil)
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			errs := make(chan error, 8)
			for range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					res, err := s.Run(context.Background(), map[string]*Value{"a": av})
					if err != nil {
						errs <- err
						return
					}
					got, w := res["y"].Data.([]float32), want(b1)
					for i := range got {
						if math.Abs(float64(got[i]-w[i])) > 1e-4*(1+math.Abs(float64(w[i]))) {
							errs <- fmt.Errorf("element %d = %v, want %v", i, got[i], w[i])
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})
	}
}

// TestReluFusionKeepsSharedOutput: a Conv output read by Relu and by another node
// (or a graph output) is not fused.
func TestReluFusionKeepsSharedOutput(t *testing.T) {
	w, _ := FromSlice([]float32{1, -1}, 2, 1, 1, 1)
	for _, tc := range []struct {
		name    string
		outputs []ValueInfo
		nodes   []*Node
	}{
		{"graph_output", []ValueInfo{{Name: "c"}, {Name: "y"}}, []*Node{node("Conv", []string{"x", "w"}, []string{"c"}), node("Relu", []string{"c"}, []string{"y"})}},
		{"second_reader", []ValueInfo{{Name: "y"}, {Name: "z"}}, []*Node{node("Conv", []string{"x", "w"}, []string{"c"}), node("Relu", []string{"c"}, []string{"y"}), node("Neg", []string{"c"}, []string{"z"})}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := &Graph{Inputs: []ValueInfo{input("x", tensor.F32, 1, 1, 1, 2)}, Outputs: tc.outputs,
				Initializers: map[string]*Value{"w": w}, Nodes: tc.nodes}
			s, err := NewSession(g, map[string]int64{"": 17}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Graph().Nodes) != len(tc.nodes) {
				t.Fatalf("%d nodes after load, want %d (no fusion)", len(s.Graph().Nodes), len(tc.nodes))
			}
			xv, _ := FromSlice([]float32{2, -3}, 1, 1, 1, 2)
			res, err := s.Run(context.Background(), map[string]*Value{"x": xv})
			if err != nil {
				t.Fatal(err)
			}
			nearlyEqual(t, res["y"].Data.([]float32), []float32{2, 0, 0, 3}, 0)
			if c, ok := res["c"]; ok {
				nearlyEqual(t, c.Data.([]float32), []float32{2, -3, -2, 3}, 0)
			}
			if z, ok := res["z"]; ok {
				nearlyEqual(t, z.Data.([]float32), []float32{-2, 3, 2, -3}, 0)
			}
		})
	}
}

// TestAddReluFusion: Add followed by Relu becomes one node and computes the same.
func TestAddReluFusion(t *testing.T) {
	for _, tc := range []struct {
		name  string
		a, b  any
		want  any
		dtype tensor.DType
	}{
		{"float32", []float32{1, -2, 3, -4}, []float32{-2, 1, 0.5, 5}, []float32{0, 0, 3.5, 1}, tensor.F32},
		{"int32", []int32{1, -2, 3, -4}, []int32{-2, 1, 0, 5}, []int32{0, 0, 3, 1}, tensor.I32},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := &Graph{Inputs: []ValueInfo{input("a", tc.dtype, 4), input("b", tc.dtype, 4)}, Outputs: []ValueInfo{{Name: "y"}},
				Nodes: []*Node{node("Add", []string{"a", "b"}, []string{"s"}), node("Relu", []string{"s"}, []string{"y"})}}
			s, err := NewSession(g, map[string]int64{"": 17}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if n := len(s.Graph().Nodes); n != 1 {
				t.Fatalf("%d nodes after load, want 1 (fused)", n)
			}
			av, _ := FromSlice(tc.a, 4)
			bv, _ := FromSlice(tc.b, 4)
			res, err := s.Run(context.Background(), map[string]*Value{"a": av, "b": bv})
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(res["y"].Data); got != fmt.Sprint(tc.want) {
				t.Fatalf("y = %s, want %v", got, tc.want)
			}
		})
	}
}
