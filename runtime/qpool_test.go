package runtime

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/refit-ml/refit/tensor"
)

// TestQuantizedPool: DequantizeLinear [-> Relu] -> MaxPool [-> Flatten] ->
// QuantizeLinear with the same parameters runs as one 8-bit pool and gives the bytes
// of the float chain (kept when an intermediate value is a graph output), for uint8
// and int8, with and without Relu, for the 2x2 fast path and padded windows.
func TestQuantizedPool(t *testing.T) {
	r := rand.New(rand.NewPCG(51, 52))
	for _, dt := range []tensor.DType{tensor.U8, tensor.I8} {
		for _, relu := range []bool{false, true} {
			for _, pool := range []map[string]*Attr{
				{"kernel_shape": ints("kernel_shape", 2, 2), "strides": ints("strides", 2, 2)},
				{"kernel_shape": ints("kernel_shape", 3, 3), "pads": ints("pads", 1, 1, 1, 1), "strides": ints("strides", 2, 1)},
			} {
				for _, flatten := range []bool{false, true} {
					x := NewValue(dt, []int64{2, 3, 9, 8})
					b, _ := rawBytes(x)
					for i := range b {
						b[i] = byte(r.Uint32())
					}
					zp := Scalar[uint8](37)
					if dt == tensor.I8 {
						zp = Scalar[int8](-5)
					}
					build := func(expose bool) *Graph {
						g := &Graph{
							Inputs:       []ValueInfo{input("x", dt, 2, 3, 9, 8)},
							Outputs:      []ValueInfo{{Name: "y"}},
							Initializers: map[string]*Value{"s": Scalar[float32](0.0731), "z": zp, "s2": Scalar[float32](0.0731), "z2": zp},
						}
						cur := "d"
						g.Nodes = append(g.Nodes, node("DequantizeLinear", []string{"x", "s", "z"}, []string{"d"}))
						if relu {
							g.Nodes = append(g.Nodes, node("Relu", []string{"d"}, []string{"r"}))
							cur = "r"
						}
						mp := node("MaxPool", []string{cur}, []string{"p"})
						mp.Attrs = pool
						g.Nodes = append(g.Nodes, mp)
						cur = "p"
						if flatten {
							g.Nodes = append(g.Nodes, node("Flatten", []string{"p"}, []string{"f"}))
							cur = "f"
						}
						g.Nodes = append(g.Nodes, node("QuantizeLinear", []string{cur, "s2", "z2"}, []string{"y"}))
						if expose {
							g.Outputs = append(g.Outputs, ValueInfo{Name: "d"})
						}
						return g
					}
					run := func(g *Graph) (*Session, *Value) {
						s, err := NewSession(g, map[string]int64{"": 13}, nil)
						if err != nil {
							t.Fatal(err)
						}
						out, err := s.Run(t.Context(), map[string]*Value{"x": x})
						if err != nil {
							t.Fatal(err)
						}
						return s, out["y"]
					}
					_, want := run(build(true))
					s, got := run(build(false))
					fused := false
					for _, n := range s.Graph().Nodes {
						fused = fused || n.OpType == "QMaxPool"
					}
					if !fused {
						t.Fatalf("%v relu=%v flatten=%v: not fused", dt, relu, flatten)
					}
					gb, _ := rawBytes(got)
					wb, _ := rawBytes(want)
					if !slices.Equal(got.Shape, want.Shape) || !slices.Equal(gb, wb) {
						t.Fatalf("%v relu=%v pool=%v flatten=%v: fused pool differs from the float chain", dt, relu, pool["kernel_shape"].Ints, flatten)
					}
				}
			}
		}
	}
}
