package runtime

import (
	"math"
	"testing"
)

func TestLosses(t *testing.T) {
	// logp rows: [-1, -2, -3], [-0.5, -1.5, -2.5]; targets 2 and 0; weights 1, 2, 3.
	logp := mustValue(t, []float32{-1, -2, -3, -0.5, -1.5, -2.5}, 2, 3)
	target := mustValue(t, []int64{2, 0}, 2)
	weight := mustValue(t, []float32{1, 2, 3}, 3)
	for _, tc := range []struct {
		name  string
		attrs map[string]*Attr
		ins   []*Value
		want  []float64
	}{
		{"none", map[string]*Attr{"reduction": stringAttr("none")}, []*Value{logp, target}, []float64{3, 0.5}},
		{"sum", map[string]*Attr{"reduction": stringAttr("sum")}, []*Value{logp, target}, []float64{3.5}},
		{"mean", nil, []*Value{logp, target}, []float64{1.75}},
		{"weighted mean", nil, []*Value{logp, target, weight}, []float64{(9 + 0.5) / 4}},
		{"ignored", map[string]*Attr{"ignore_index": intAttr(2)}, []*Value{logp, target, weight}, []float64{0.5}},
		{"ignored negative", map[string]*Attr{"ignore_index": intAttr(-1), "reduction": stringAttr("sum")}, []*Value{logp, mustValue(t, []int64{-1, 0}, 2)}, []float64{0.5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runOp("", "NegativeLogLikelihoodLoss", 13, tc.attrs, 1, tc.ins...)
			if err != nil {
				t.Fatal(err)
			}
			got := out[0].AsFloat64s()
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i := range got {
				if math.Abs(got[i]-tc.want[i]) > 1e-6 {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
			}
		})
	}
	t.Run("softmax cross entropy", func(t *testing.T) {
		scores := mustValue(t, []float32{0, 0, 0, 1, 2, 3}, 2, 3)
		out, err := runOp("", "SoftmaxCrossEntropyLoss", 13, map[string]*Attr{"reduction": stringAttr("none")}, 2, scores, target)
		if err != nil {
			t.Fatal(err)
		}
		lse := math.Log(math.Exp(1) + math.Exp(2) + math.Exp(3))
		want := []float64{math.Log(3), lse - 1}
		got := out[0].AsFloat64s()
		for i := range want {
			if math.Abs(got[i]-want[i]) > 1e-6 {
				t.Fatalf("loss %v, want %v", got, want)
			}
		}
		if lp := out[1].AsFloat64s(); math.Abs(lp[5]-(3-lse)) > 1e-6 {
			t.Fatalf("log_prob %v", lp)
		}
	})
	for _, tc := range []struct {
		name string
		op   string
		ins  []*Value
	}{
		{"target out of range", "NegativeLogLikelihoodLoss", []*Value{logp, mustValue(t, []int64{3, 0}, 2)}},
		{"target shape", "NegativeLogLikelihoodLoss", []*Value{logp, mustValue(t, []int64{0}, 1)}},
		{"float target", "NegativeLogLikelihoodLoss", []*Value{logp, mustValue(t, []float32{0, 0}, 2)}},
		{"weight shape", "SoftmaxCrossEntropyLoss", []*Value{logp, target, mustValue(t, []float32{1}, 1)}},
		{"rank 1", "SoftmaxCrossEntropyLoss", []*Value{mustValue(t, []float32{1, 2}, 2), target}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := runOp("", tc.op, 13, nil, 1, tc.ins...); err == nil {
				t.Fatal("accepted bad input")
			}
		})
	}
}

func TestBatchNormTraining(t *testing.T) {
	// One channel, values 1..4: batch mean 2.5, variance 1.25.
	x := mustValue(t, []float32{1, 2, 3, 4}, 2, 1, 2)
	one := func(v float32) *Value { return mustValue(t, []float32{v}, 1) }
	attrs := map[string]*Attr{"training_mode": intAttr(1), "epsilon": floatAttr(0)}
	out, err := runOp("", "BatchNormalization", 15, attrs, 3, x, one(2), one(1), one(0), one(1))
	if err != nil {
		t.Fatal(err)
	}
	k := 2 / math.Sqrt(1.25)
	for i, v := range out[0].Float32s() {
		if want := (float64(i+1)-2.5)*k + 1; math.Abs(float64(v)-want) > 1e-5 {
			t.Fatalf("Y[%d] = %v, want %v", i, v, want)
		}
	}
	if m, v := out[1].Float32s()[0], out[2].Float32s()[0]; math.Abs(float64(m)-0.25) > 1e-6 || math.Abs(float64(v)-1.025) > 1e-6 {
		t.Fatalf("running mean %v var %v, want 0.25 1.025", m, v)
	}
	if _, err := runOp("", "BatchNormalization", 15, attrs, 3, x, one(2), one(1), mustValue(t, []float32{0, 0}, 2), one(1)); err == nil {
		t.Fatal("accepted a mean of the wrong length")
	}
}
