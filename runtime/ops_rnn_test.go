package runtime

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

func randValue(t testing.TB, r *rand.Rand, shape ...int64) *Value {
	n := 1
	for _, d := range shape {
		n *= int(d)
	}
	return mustValue(t, randSlice(r, n), shape...)
}

// rnnORTCases covers directions, layouts, sequence lengths, initial states, peepholes,
// linear_before_reset, clip and non-default activations.
func rnnORTCases(t testing.TB) []ortCase {
	r := rand.New(rand.NewPCG(11, 12))
	const T, B, I, H = 4, 3, 5, 6
	var cases []ortCase
	for _, op := range []string{"RNN", "GRU", "LSTM"} {
		G := map[string]int64{"RNN": 1, "GRU": 3, "LSTM": 4}[op]
		for _, dir := range []string{"forward", "reverse", "bidirectional"} {
			for _, layout := range []int{0, 1} {
				for _, variant := range []string{"plain", "full"} {
					D := int64(1)
					if dir == "bidirectional" {
						D = 2
					}
					x := randValue(t, r, T, B, I)
					if layout == 1 {
						x = randValue(t, r, B, T, I)
					}
					attrs := map[string]any{"hidden_size": H, "direction": dir}
					if layout == 1 {
						attrs["layout"] = 1
					}
					ins := []*Value{x, randValue(t, r, D, G*H, I), randValue(t, r, D, G*H, H)}
					if variant == "full" {
						h0 := randValue(t, r, D, B, H)
						if layout == 1 {
							h0 = randValue(t, r, B, D, H)
						}
						ins = append(ins, randValue(t, r, D, 2*G*H), mustValue(t, []int32{4, 2, 3}, B), h0)
						attrs["clip"] = float32(2.5)
						switch op {
						case "GRU":
							attrs["linear_before_reset"] = 1
						case "LSTM":
							c0 := randValue(t, r, D, B, H)
							if layout == 1 {
								c0 = randValue(t, r, B, D, H)
							}
							ins = append(ins, c0, randValue(t, r, D, 3*H))
						case "RNN":
							acts := []string{"Relu"}
							if D == 2 {
								acts = append(acts, "HardSigmoid")
								attrs["activation_alpha"] = []float32{0.3}
								attrs["activation_beta"] = []float32{0.4}
							}
							attrs["activations"] = acts
						}
					}
					outs := 2
					if op == "LSTM" {
						outs = 3
					}
					cases = append(cases, ortCase{name: fmt.Sprintf("%s/%s/layout%d/%s", op, dir, layout, variant), op: op, opset: 14, attrs: attrs, inputs: ins, outputs: outs})
				}
			}
		}
	}
	return cases
}

func TestRNNAgainstORT(t *testing.T) {
	var cases []ortCase
	for _, c := range rnnORTCases(t) {
		if c.attrs["layout"] == nil { // ONNX Runtime's CPU kernels are time-major only
			cases = append(cases, c)
		}
	}
	runORTCases(t, cases)
}

// TestRNNLayoutBatchMajor checks layout=1 against layout=0 on transposed data.
func TestRNNLayoutBatchMajor(t *testing.T) {
	for _, c := range rnnORTCases(t) {
		if c.attrs["layout"] == nil {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			attrs := map[string]*Attr{}
			for k, v := range c.attrs {
				switch x := v.(type) {
				case int:
					attrs[k] = intAttr(int64(x))
				case float32:
					attrs[k] = floatAttr(x)
				case string:
					attrs[k] = stringAttr(x)
				case []float32:
					attrs[k] = floatsAttr(x...)
				case []string:
					attrs[k] = &Attr{Kind: AttrStrings, Strings: x}
				}
			}
			batchMajor, err := runOp("", c.op, 14, attrs, c.outputs, c.inputs...)
			if err != nil {
				t.Fatal(err)
			}
			delete(attrs, "layout")
			ins := append([]*Value(nil), c.inputs...)
			ins[0] = transposeForTest(ins[0], []int{1, 0, 2})
			for _, i := range []int{5, 6} { // initial_h, initial_c
				if i < len(ins) && ins[i] != nil {
					ins[i] = transposeForTest(ins[i], []int{1, 0, 2})
				}
			}
			timeMajor, err := runOp("", c.op, 14, attrs, c.outputs, ins...)
			if err != nil {
				t.Fatal(err)
			}
			checks := []*Value{transposeForTest(timeMajor[0], []int{2, 0, 1, 3})}
			for _, v := range timeMajor[1:] {
				checks = append(checks, transposeForTest(v, []int{1, 0, 2}))
			}
			for k, want := range checks {
				if err := allClose(batchMajor[k], want, 0, 0); err != nil {
					t.Fatalf("output %d: %v", k, err)
				}
			}
		})
	}
}

func transposeForTest(v *Value, perm []int) *Value {
	shape := make([]int64, len(perm))
	for i, p := range perm {
		shape[i] = v.Shape[p]
	}
	out := NewValue(v.DType, shape)
	st := stridesOf(v.Shape)
	coord := make([]int, len(perm))
	for i := 0; i < out.Len(); i++ {
		r := i
		for d := len(shape) - 1; d >= 0; d-- {
			coord[d] = r % int(shape[d])
			r /= int(shape[d])
		}
		off := 0
		for d, p := range perm {
			off += coord[d] * st[p]
		}
		copyAt(out.Data, i, v.Data, off, 1)
	}
	return out
}

func TestRNNErrors(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	x := randValue(t, r, 2, 1, 3)
	for _, tc := range []struct {
		name  string
		attrs map[string]*Attr
		ins   []*Value
	}{
		{"W shape", map[string]*Attr{"hidden_size": intAttr(4)}, []*Value{x, randValue(t, r, 1, 4, 2), randValue(t, r, 1, 4, 4)}},
		{"direction", map[string]*Attr{"hidden_size": intAttr(4), "direction": stringAttr("sideways")}, []*Value{x, randValue(t, r, 1, 4, 3), randValue(t, r, 1, 4, 4)}},
		{"sequence_lens too long", map[string]*Attr{"hidden_size": intAttr(4)}, []*Value{x, randValue(t, r, 1, 4, 3), randValue(t, r, 1, 4, 4), nil, mustValue(t, []int32{3}, 1)}},
		{"activation", map[string]*Attr{"hidden_size": intAttr(4), "activations": {Kind: AttrStrings, Strings: []string{"Cosine"}}}, []*Value{x, randValue(t, r, 1, 4, 3), randValue(t, r, 1, 4, 4)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := runOp("", "RNN", 14, tc.attrs, 2, tc.ins...); err == nil {
				t.Fatal("RNN accepted bad input")
			}
		})
	}
}
