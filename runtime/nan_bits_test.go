package runtime

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/refit-ml/refit/tensor"
)

// windowMaxBits is the max-pool result every path must give, written independently
// of the kernels: the first NaN of the window in row-major order with its bits
// unchanged, else the last of the window's maximal values (-0 and +0 are equal, so
// the later one wins), -Inf for an empty window. This is ONNX Runtime's Max operator
// folded over the window.
func windowMaxBits(vals []float32) float32 {
	if len(vals) == 0 {
		return float32(math.Inf(-1))
	}
	for _, v := range vals {
		if v != v {
			return v
		}
	}
	best := vals[0]
	for _, v := range vals[1:] {
		if v >= best {
			best = v
		}
	}
	return best
}

// TestMaxPoolBits runs MaxPool (and GlobalMaxPool) over inputs full of NaNs of both
// signs and several payloads (a signaling one too), infinities and zeros of both
// signs, on every kernel path (2x2 stride 2 over whole planes and per row, narrow
// rows, 3x3 stride 2 with padding, other windows, dilations, the indices output),
// and compares every output bit for bit with windowMaxBits: a NaN reaches Relu with
// the sign it had, on the vector paths as in scalar code.
func TestMaxPoolBits(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	specials := []float32{float32(math.NaN()), math.Float32frombits(0xffc00000), math.Float32frombits(0x7fc01234),
		math.Float32frombits(0xffc00003), math.Float32frombits(0x7f800005), float32(math.Inf(1)), float32(math.Inf(-1)),
		0, float32(math.Copysign(0, -1)), 0, float32(math.Copysign(0, -1)), 1}
	type cfg struct {
		k, s, pads, dil []int64
		idx             bool
	}
	cfgs := []cfg{
		{k: []int64{2, 2}, s: []int64{2, 2}, pads: []int64{0, 0, 0, 0}},
		{k: []int64{2, 2}, s: []int64{2, 2}, pads: []int64{1, 1, 1, 1}},
		{k: []int64{3, 3}, s: []int64{2, 2}, pads: []int64{1, 1, 1, 1}},
		{k: []int64{3, 3}, s: []int64{2, 2}, pads: []int64{0, 0, 0, 0}},
		{k: []int64{3, 3}, s: []int64{1, 1}, pads: []int64{1, 1, 1, 1}},
		{k: []int64{2, 3}, s: []int64{1, 2}, pads: []int64{0, 1, 1, 0}},
		{k: []int64{2, 2}, s: []int64{1, 1}, pads: []int64{0, 0, 0, 0}, dil: []int64{2, 2}},
		{k: []int64{2, 2}, s: []int64{2, 2}, pads: []int64{0, 0, 0, 0}, idx: true},
		{k: []int64{3, 3}, s: []int64{2, 2}, pads: []int64{1, 1, 1, 1}, idx: true},
	}
	for _, dims := range [][2]int64{{28, 28}, {12, 40}, {9, 37}, {6, 6}, {4, 10}, {5, 7}, {16, 16}} {
		for _, c := range cfgs {
			name := fmt.Sprintf("%dx%d/k%v_s%v_p%v_d%v_idx%v", dims[0], dims[1], c.k, c.s, c.pads, c.dil, c.idx)
			t.Run(name, func(t *testing.T) {
				H, W := int(dims[0]), int(dims[1])
				shape := []int64{2, 3, dims[0], dims[1]}
				x := randSlice(r, 6*H*W)
				for i := range x {
					if r.IntN(4) == 0 {
						x[i] = specials[r.IntN(len(specials))]
					}
				}
				xv, _ := FromSlice(x, shape...)
				attrs := []*Attr{ints("kernel_shape", c.k...), ints("strides", c.s...), ints("pads", c.pads...)}
				dil := []int64{1, 1}
				if c.dil != nil {
					attrs, dil = append(attrs, ints("dilations", c.dil...)), c.dil
				}
				outs := []string{"y"}
				if c.idx {
					outs = append(outs, "i")
				}
				g := &Graph{Inputs: []ValueInfo{input("x", tensor.F32, shape...)}, Outputs: []ValueInfo{{Name: "y"}},
					Nodes: []*Node{node("MaxPool", []string{"x"}, outs, attrs...)}}
				s, err := NewSession(g, map[string]int64{"": 17}, nil)
				if err != nil {
					t.Fatal(err)
				}
				res, err := s.Run(context.Background(), map[string]*Value{"x": xv})
				if err != nil {
					t.Fatal(err)
				}
				y := res["y"].Data.([]float32)
				OH := int((dims[0]+c.pads[0]+c.pads[2]-dil[0]*(c.k[0]-1)-1)/c.s[0] + 1)
				OW := int((dims[1]+c.pads[1]+c.pads[3]-dil[1]*(c.k[1]-1)-1)/c.s[1] + 1)
				if len(y) != 6*OH*OW {
					t.Fatalf("%d outputs, want %d", len(y), 6*OH*OW)
				}
				var win []float32
				for p := 0; p < 6; p++ {
					src := x[p*H*W : (p+1)*H*W]
					for oh := 0; oh < OH; oh++ {
						for ow := 0; ow < OW; ow++ {
							win = win[:0]
							for kh := 0; kh < int(c.k[0]); kh++ {
								h := oh*int(c.s[0]) - int(c.pads[0]) + kh*int(dil[0])
								for kw := 0; kw < int(c.k[1]); kw++ {
									w := ow*int(c.s[1]) - int(c.pads[1]) + kw*int(dil[1])
									if h >= 0 && h < H && w >= 0 && w < W {
										win = append(win, src[h*W+w])
									}
								}
							}
							want, got := windowMaxBits(win), y[(p*OH+oh)*OW+ow]
							if math.Float32bits(got) != math.Float32bits(want) {
								t.Fatalf("plane %d: y[%d][%d] = %v (%#x), want %v (%#x) from %v", p, oh, ow,
									got, math.Float32bits(got), want, math.Float32bits(want), win)
							}
						}
					}
				}
			})
		}
	}
	t.Run("GlobalMaxPool", func(t *testing.T) {
		for _, n := range []int{1, 3, 8, 17, 64} {
			x := randSlice(r, 4*n)
			for i := range x {
				if r.IntN(4) == 0 {
					x[i] = specials[r.IntN(len(specials))]
				}
			}
			xv, _ := FromSlice(x, 1, 4, int64(n))
			g := &Graph{Inputs: []ValueInfo{input("x", tensor.F32, 1, 4, int64(n))}, Outputs: []ValueInfo{{Name: "y"}},
				Nodes: []*Node{node("GlobalMaxPool", []string{"x"}, []string{"y"})}}
			s, err := NewSession(g, map[string]int64{"": 17}, nil)
			if err != nil {
				t.Fatal(err)
			}
			res, err := s.Run(context.Background(), map[string]*Value{"x": xv})
			if err != nil {
				t.Fatal(err)
			}
			for p, got := range res["y"].Data.([]float32) {
				if want := windowMaxBits(x[p*n : (p+1)*n]); math.Float32bits(got) != math.Float32bits(want) {
					t.Fatalf("n=%d plane %d: %#x, want %#x", n, p, math.Float32bits(got), math.Float32bits(want))
				}
			}
		}
	})
}

// runOne runs a graph of nodes with float input x (and initializers) and returns y.
func runOne(t *testing.T, x *Value, inits map[string]*Value, nodes ...*Node) []float32 {
	t.Helper()
	g := &Graph{Inputs: []ValueInfo{input("x", tensor.F32, x.Shape...)}, Outputs: []ValueInfo{{Name: "y"}},
		Initializers: inits, Nodes: nodes}
	s, err := NewSession(g, map[string]int64{"": 17}, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Run(context.Background(), map[string]*Value{"x": x})
	if err != nil {
		t.Fatal(err)
	}
	return res["y"].Data.([]float32)
}

// TestReluClipBits checks Relu and Clip bit for bit against ONNX Runtime's
// definitions (Relu: v < 0 ? 0 : v; Clip: raised to min, then lowered to max), which
// keep -0 and NaNs of either sign as they are: the Relu operator, and the Relu fused
// into a Conv or a MatMul+Add, give the same bits as the product alone followed by
// that definition.
func TestReluClipBits(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	specials := []float32{float32(math.NaN()), math.Float32frombits(0xffc00000), math.Float32frombits(0x7fc01234),
		math.Float32frombits(0xffc00003), math.Float32frombits(0x7f800005), float32(math.Inf(1)), float32(math.Inf(-1)),
		0, float32(math.Copysign(0, -1)), 1, -1, 0.25, -0.25}
	relu := func(v float32) float32 {
		if v < 0 {
			return 0
		}
		return v
	}
	check := func(t *testing.T, got, base []float32, f func(float32) float32) {
		t.Helper()
		for i, v := range base {
			if want := f(v); math.Float32bits(got[i]) != math.Float32bits(want) {
				t.Fatalf("[%d]: %#x, want %#x (from %#x)", i, math.Float32bits(got[i]), math.Float32bits(want), math.Float32bits(v))
			}
		}
	}
	x := randSlice(r, 2*8*9*9)
	for i := range x {
		if r.IntN(3) == 0 {
			x[i] = specials[r.IntN(len(specials))]
		}
	}
	xv, _ := FromSlice(x, 2, 8, 9, 9)
	t.Run("Relu", func(t *testing.T) {
		check(t, runOne(t, xv, nil, node("Relu", []string{"x"}, []string{"y"})), x, relu)
	})
	for _, b := range [][2]float32{{0, 6}, {-0.5, 0.5}, {float32(math.NaN()), 1}, {1, -1}} {
		t.Run(fmt.Sprintf("Clip_%v_%v", b[0], b[1]), func(t *testing.T) {
			inits := map[string]*Value{"lo": Scalar(b[0]), "hi": Scalar(b[1])}
			got := runOne(t, xv, inits, node("Clip", []string{"x", "lo", "hi"}, []string{"y"}))
			check(t, got, x, func(v float32) float32 {
				if v < b[0] {
					v = b[0]
				}
				if v > b[1] {
					v = b[1]
				}
				return v
			})
		})
	}
	// Products: the bias puts NaNs of both signs and -0 into some channels, besides
	// the NaNs the inputs carry through.
	w := randSlice(r, 16*8*3*3)
	bias := randSlice(r, 16)
	bias[3], bias[5], bias[7] = math.Float32frombits(0xffc00000), math.Float32frombits(0x7fc01234), float32(math.Copysign(0, -1))
	wv, _ := FromSlice(w, 16, 8, 3, 3)
	bv, _ := FromSlice(bias, 16)
	conv := func(out string) *Node {
		return node("Conv", []string{"x", "w", "b"}, []string{out}, ints("kernel_shape", 3, 3), ints("pads", 1, 1, 1, 1))
	}
	t.Run("Conv+Relu", func(t *testing.T) {
		inits := map[string]*Value{"w": wv, "b": bv}
		base := runOne(t, xv, inits, conv("y"))
		check(t, runOne(t, xv, inits, conv("c"), node("Relu", []string{"c"}, []string{"y"})), base, relu)
	})
	for _, tile := range []int{4, 2} {
		t.Run(fmt.Sprintf("Conv+Relu_Winograd_F%d", tile), func(t *testing.T) {
			winogradForceTile = tile
			defer func() { winogradForceTile = 0 }()
			inits := map[string]*Value{"w": wv, "b": bv}
			base := runOne(t, xv, inits, conv("y"))
			check(t, runOne(t, xv, inits, conv("c"), node("Relu", []string{"c"}, []string{"y"})), base, relu)
		})
	}
	t.Run("MatMul+Add+Relu", func(t *testing.T) {
		m := randSlice(r, 9*16)
		mv, _ := FromSlice(m, 9, 16)
		inits := map[string]*Value{"m": mv, "b": bv}
		mm := node("MatMul", []string{"x", "m"}, []string{"p"})
		base := runOne(t, xv, inits, mm, node("Add", []string{"p", "b"}, []string{"y"}))
		check(t, runOne(t, xv, inits, mm, node("Add", []string{"p", "b"}, []string{"s"}), node("Relu", []string{"s"}, []string{"y"})), base, relu)
	})
}
