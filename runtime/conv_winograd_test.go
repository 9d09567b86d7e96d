package runtime

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"testing"

	"github.com/refit-ml/refit/internal/blas"
	"github.com/refit-ml/refit/tensor"
)

// convGraph is one 3 x 3 Conv (with bias when bias, then a fused Relu when relu)
// of c channels into m over n images of h x w, padded by pads (top, left, bottom,
// right). Each call makes a new graph (prepared weights belong to a graph's
// nodes); the same seed gives the same weights.
func convGraph(seed uint64, n, c, m, h, w int, pads []int64, bias, relu bool) *Graph {
	r := rand.New(rand.NewPCG(seed, 1))
	wt, _ := FromSlice(randSlice(r, m*c*9), int64(m), int64(c), 3, 3)
	inputs := []string{"x", "w"}
	inits := map[string]*Value{"w": wt}
	if bias {
		b, _ := FromSlice(randSlice(r, m), int64(m))
		inits["b"] = b
		inputs = append(inputs, "b")
	}
	out := "y"
	if relu {
		out = "z"
	}
	nodes := []*Node{node("Conv", inputs, []string{out}, &Attr{Name: "pads", Kind: AttrInts, Ints: pads})}
	if relu {
		nodes = append(nodes, node("Relu", []string{"z"}, []string{"y"}))
	}
	return &Graph{
		Inputs:       []ValueInfo{input("x", tensor.F32, int64(n), int64(c), int64(h), int64(w))},
		Outputs:      []ValueInfo{{Name: "y"}},
		Initializers: inits,
		Nodes:        nodes,
	}
}

// TestConvWinograd runs convolutions through F(2x2) and F(4x4) (forced past the
// cost model) and compares them with the direct path of a NoWinograd session: odd
// sizes, paddings 0 to 2 and asymmetric, channel counts off the panel widths,
// batches, bias and fused Relu, one and two threads.
func TestConvWinograd(t *testing.T) {
	defer func(saved int) { winogradForceTile = saved }(winogradForceTile)
	for k, tc := range []struct {
		n, c, m, h, w int
		pads          []int64
	}{
		{1, 64, 64, 14, 14, []int64{1, 1, 1, 1}},
		{2, 3, 5, 9, 11, []int64{1, 1, 1, 1}},
		{1, 17, 33, 7, 7, []int64{1, 1, 1, 1}},
		{3, 8, 16, 10, 13, []int64{0, 0, 0, 0}},
		{1, 12, 7, 6, 5, []int64{2, 2, 2, 2}},
		{2, 9, 10, 8, 8, []int64{0, 2, 1, 0}},
		{1, 300, 20, 5, 5, []int64{1, 1, 1, 1}},
	} {
		for _, tile := range []int{2, 4} {
			for _, threads := range []int{1, 2} {
				for _, fused := range []bool{false, true} {
					name := fmt.Sprintf("n%d_c%d_m%d_%dx%d_pads%v/F%d/threads=%d/fused=%v", tc.n, tc.c, tc.m, tc.h, tc.w, tc.pads, tile, threads, fused)
					t.Run(name, func(t *testing.T) {
						graph := func() *Graph { return convGraph(uint64(k), tc.n, tc.c, tc.m, tc.h, tc.w, tc.pads, fused, fused) }
						winogradForceTile = tile
						got := runConvOnce(t, graph(), &Options{Threads: threads})
						want := runConvOnce(t, graph(), &Options{Threads: threads, NoWinograd: true})
						if len(got) != len(want) {
							t.Fatalf("%d outputs, want %d", len(got), len(want))
						}
						scale := math.Sqrt(float64(9 * tc.c)) // the outputs' typical magnitude
						worst := 0.0
						for i := range want {
							worst = max(worst, math.Abs(float64(got[i]-want[i])))
						}
						if tol := 5e-6 * scale * float64(tile*tile); !(worst <= tol) {
							t.Fatalf("max |Winograd - direct| = %.3g, want <= %.3g", worst, tol)
						}
					})
				}
			}
		}
	}
}

// runConvOnce runs g's session on fixed random inputs and returns its output.
func runConvOnce(t *testing.T, g *Graph, opts *Options) []float32 {
	t.Helper()
	sess, err := NewSession(g, map[string]int64{"": 17}, opts)
	if err != nil {
		t.Fatal(err)
	}
	in, err := RandomInputs(sess, 7, nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := sess.Run(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	return out["y"].Data.([]float32)
}

// TestConvWinogradOptOut checks that NoWinograd and REFIT_CONV_WINOGRAD=0 keep the
// direct path (bit for bit the same output) and that the cost model picks the
// transforms for ResNet's 512-channel maps and not for few channels.
func TestConvWinogradOptOut(t *testing.T) {
	if os.Getenv("REFIT_CONV_WINOGRAD") != "" {
		t.Skip("REFIT_CONV_WINOGRAD is set")
	}
	if winogradTile(16, 512, 512, 7, 7) == 0 {
		t.Errorf("winogradTile(batch 16, 512 -> 512 channels, 7 x 7) = 0, want a tile")
	}
	if m := winogradTile(1, 3, 8, 32, 32); m != 0 {
		t.Errorf("winogradTile(3 -> 8 channels) = %d, want 0", m)
	}
	if m := winogradTile(1, 512, 512, 7, 7); m != 0 {
		t.Errorf("winogradTile(batch 1, 512 -> 512 channels, 7 x 7) = %d, want 0 (four tiles)", m)
	}
	defer func(saved int) { winogradForceTile = saved }(winogradForceTile)
	winogradForceTile = 4
	graph := func() *Graph { return convGraph(9, 1, 16, 16, 9, 9, []int64{1, 1, 1, 1}, true, true) }
	direct := runConvOnce(t, graph(), &Options{NoWinograd: true})
	t.Setenv("REFIT_CONV_WINOGRAD", "0")
	env := runConvOnce(t, graph(), nil)
	for i := range direct {
		if math.Float32bits(direct[i]) != math.Float32bits(env[i]) {
			t.Fatalf("REFIT_CONV_WINOGRAD=0: y[%d] = %v, NoWinograd gives %v", i, env[i], direct[i])
		}
	}
	t.Setenv("REFIT_CONV_WINOGRAD", "")
	wino := runConvOnce(t, graph(), nil)
	same := true
	for i := range direct {
		same = same && direct[i] == wino[i]
	}
	if same {
		t.Errorf("forced Winograd gives the direct path's output bit for bit: was it used?")
	}
}

// TestConvWinogradAllowance runs three chained 48 -> 48 channel convolutions
// (forced to prefer F(4x4)) with small allowances: each convolution gets F(4x4),
// F(2x2) or the direct path as what is left allows, the Winograd weights prepared
// stay within the allowance, and the output matches the direct path's. An
// unlimited allowance gives every convolution F(4x4); REFIT_CONV_WINOGRAD_MIB=0
// none.
func TestConvWinogradAllowance(t *testing.T) {
	if os.Getenv("REFIT_CONV_WINOGRAD") != "" || os.Getenv("REFIT_CONV_WINOGRAD_MIB") != "" {
		t.Skip("REFIT_CONV_WINOGRAD or REFIT_CONV_WINOGRAD_MIB is set")
	}
	defer func(saved int) { winogradForceTile = saved }(winogradForceTile)
	winogradForceTile = 4
	const c, layers = 48, 3 // 48: a multiple of every micro-kernel's rows
	graph := func() *Graph {
		r := rand.New(rand.NewPCG(5, 1))
		g := &Graph{
			Inputs:       []ValueInfo{input("x", tensor.F32, 2, c, 12, 12)},
			Outputs:      []ValueInfo{{Name: "y"}},
			Initializers: map[string]*Value{},
		}
		for i := range layers {
			w, _ := FromSlice(randSlice(r, c*c*9), c, c, 3, 3)
			for j := range w.Data.([]float32) {
				w.Data.([]float32)[j] *= 0.2 // keep the activations near 1
			}
			name, in, out := fmt.Sprintf("w%d", i), fmt.Sprintf("h%d", i), fmt.Sprintf("h%d", i+1)
			if i == 0 {
				in = "x"
			}
			if i == layers-1 {
				out = "y"
			}
			g.Initializers[name] = w
			g.Nodes = append(g.Nodes, node("Conv", []string{in, name}, []string{out},
				&Attr{Name: "pads", Kind: AttrInts, Ints: []int64{1, 1, 1, 1}}))
		}
		return g
	}
	run := func(opts *Options) ([]float32, *Session) {
		t.Helper()
		g := graph()
		sess, err := NewSession(g, map[string]int64{"": 17}, opts)
		if err != nil {
			t.Fatal(err)
		}
		in, err := RandomInputs(sess, 7, nil)
		if err != nil {
			t.Fatal(err)
		}
		for range 2 { // the second run reuses the first run's choices
			out, err := sess.Run(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			if y := out["y"].Data.([]float32); len(y) != 2*c*12*12 {
				t.Fatalf("%d outputs", len(y))
			}
		}
		out, _ := sess.Run(context.Background(), in)
		return out["y"].Data.([]float32), sess
	}
	tiles := func(s *Session) []int {
		var m []int
		for _, n := range s.graph.Nodes {
			m = append(m, s.winograd.tiles[n])
		}
		return m
	}
	direct := 4 * 9 * int64(c) * c
	extra4, extra2 := blas.WinogradBytes(4, c, c)-direct, blas.WinogradBytes(2, c, c)-direct
	want, _ := run(&Options{NoWinograd: true})
	for _, tc := range []struct {
		allowance int64
		tiles     []int
	}{
		// F(4x4) takes at most a quarter of what is left, then F(2x2).
		{4 * extra4, []int{4, 2, 2}},
		{extra2 + extra2/2, []int{2, 0, 0}},
		{extra2 - 1, []int{0, 0, 0}},
	} {
		got, sess := run(&Options{WinogradMemory: tc.allowance})
		if m := tiles(sess); !slices.Equal(m, tc.tiles) {
			t.Errorf("tiles %v with an allowance of %d bytes (F(4x4) takes %d more, F(2x2) %d), want %v", m, tc.allowance, extra4, extra2, tc.tiles)
		}
		var n int64
		for _, m := range tiles(sess) {
			n += int64(min(m, 1))
		}
		if p := sess.winograd.packed; p-n*direct > tc.allowance {
			t.Errorf("Winograd weights of %d bytes prepared for %d convolutions, allowance %d over the direct path's %d each", p, n, tc.allowance, direct)
		}
		worst := 0.0
		for i := range want {
			worst = max(worst, math.Abs(float64(got[i]-want[i])))
		}
		if !(worst <= 1e-3) {
			t.Errorf("allowance %d: max |Winograd - direct| = %.3g", tc.allowance, worst)
		}
	}
	if _, sess := run(&Options{WinogradMemory: -1}); !slices.Equal(tiles(sess), []int{4, 4, 4}) {
		t.Errorf("tiles %v with an unlimited allowance, want [4 4 4]", tiles(sess))
	}
	t.Setenv("REFIT_CONV_WINOGRAD_MIB", "0")
	env, sess := run(nil)
	if m := tiles(sess); !slices.Equal(m, []int{0, 0, 0}) || sess.winograd.packed != 0 {
		t.Errorf("REFIT_CONV_WINOGRAD_MIB=0: tiles %v, %d bytes prepared", m, sess.winograd.packed)
	}
	for i := range want {
		if math.Float32bits(env[i]) != math.Float32bits(want[i]) {
			t.Fatalf("REFIT_CONV_WINOGRAD_MIB=0: y[%d] = %v, the direct path gives %v", i, env[i], want[i])
		}
	}
}
