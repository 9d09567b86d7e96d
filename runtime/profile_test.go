package runtime

import (
	"strings"
	"testing"

	"github.com/refit-ml/refit/tensor"
)

func TestProfile(t *testing.T) {
	g := &Graph{
		Inputs:  []ValueInfo{input("x", tensor.F32, 2, 3)},
		Outputs: []ValueInfo{{Name: "z"}},
		Nodes: []*Node{
			{Name: "relu", OpType: "Relu", Inputs: []string{"x"}, Outputs: []string{"y"}},
			{OpType: "Neg", Inputs: []string{"y"}, Outputs: []string{"z"}},
		},
	}
	x, _ := FromSlice([]float32{1, -2, 3, -4, 5, -6}, 2, 3)
	plain, err := NewSession(g, map[string]int64{"": 17}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if plain.Profile() != nil {
		t.Fatal("Profile without Options.Profile is not nil")
	}
	s, err := NewSession(g, map[string]int64{"": 17}, &Options{Profile: true})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := s.Run(t.Context(), map[string]*Value{"x": x}); err != nil {
			t.Fatal(err)
		}
	}
	p := s.Profile()
	if p.Runs != 3 || len(p.Nodes) != 2 || p.Total <= 0 {
		t.Fatalf("profile %+v, want 3 runs of 2 nodes", p)
	}
	names := map[string]bool{}
	for _, n := range p.Nodes {
		if n.Calls != 3 {
			t.Errorf("node %s: %d calls, want 3", n.Node, n.Calls)
		}
		names[n.Node+"/"+n.OpType] = true
	}
	if !names["relu/Relu"] || !names["output z/Neg"] {
		t.Errorf("nodes %v", names)
	}
	if p.Kernels() > p.Total {
		t.Errorf("kernels %v exceed the total %v", p.Kernels(), p.Total)
	}
	if ops := p.ByOpType(); len(ops) != 2 || ops[0].Calls != 3 {
		t.Errorf("by op type %+v", ops)
	}
	var b strings.Builder
	if err := p.WriteTable(&b, 1); err != nil {
		t.Fatal(err)
	}
	if out := b.String(); !strings.Contains(out, "Relu") || !strings.Contains(out, "(1 more nodes)") || !strings.Contains(out, "total (3 runs)") {
		t.Errorf("table:\n%s", out)
	}
	s.ResetProfile()
	if p := s.Profile(); p.Runs != 0 || len(p.Nodes) != 0 {
		t.Errorf("after ResetProfile: %+v", p)
	}
}
