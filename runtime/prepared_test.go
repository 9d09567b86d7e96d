package runtime

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	goruntime "runtime"
	"slices"
	"testing"

	"github.com/refit-ml/refit/internal/blas"
	"github.com/refit-ml/refit/tensor"
)

// convAnySize is a 3x3, pad-1 Conv over c channels whose input height and width are
// symbolic, so one session runs it at several sizes.
func convAnySize(r *rand.Rand, c int) *Graph {
	w, _ := FromSlice(randSlice(r, c*c*9), int64(c), int64(c), 3, 3)
	return &Graph{
		Inputs: []ValueInfo{{Name: "x", DType: tensor.F32, HasShape: true,
			Dims: []Dim{{Size: 1}, {Size: int64(c)}, {Size: -1, Param: "h"}, {Size: -1, Param: "w"}}}},
		Outputs:      []ValueInfo{{Name: "y"}},
		Initializers: map[string]*Value{"w": w},
		Nodes: []*Node{node("Conv", []string{"x", "w"}, []string{"y"},
			&Attr{Name: "pads", Kind: AttrInts, Ints: []int64{1, 1, 1, 1}})},
	}
}

// TestPreparedPerLayout runs a 256-channel 3x3 Conv at 7x7 (transposed tiles), 28x28
// (plain packing) and 7x7 again in one session: each packing is built once, so after
// the first round a Run allocates little more than its output, not the 2.4 MB of
// packed weights; results match sessions that only ever ran one size.
func TestPreparedPerLayout(t *testing.T) {
	const c = 256
	r := rand.New(rand.NewPCG(7, 8))
	g := convAnySize(r, c)
	s, err := NewSession(g, map[string]int64{"": 17}, nil)
	if err != nil {
		t.Fatal(err)
	}
	inputs := map[int]*Value{}
	for _, hw := range []int{7, 28} {
		inputs[hw] = mustValue(t, randSlice(r, c*hw*hw), 1, c, int64(hw), int64(hw))
	}
	want := map[int][]float32{}
	for hw, x := range inputs {
		fresh, err := NewSession(convAnySize(rand.New(rand.NewPCG(7, 8)), c), map[string]int64{"": 17}, nil)
		if err != nil {
			t.Fatal(err)
		}
		out, err := fresh.Run(context.Background(), map[string]*Value{"x": x})
		if err != nil {
			t.Fatal(err)
		}
		want[hw] = out["y"].Data.([]float32)
	}
	run := func(hw int) {
		t.Helper()
		out, err := s.Run(context.Background(), map[string]*Value{"x": inputs[hw]})
		if err != nil {
			t.Fatal(err)
		}
		if got := out["y"].Data.([]float32); !slices.Equal(got, want[hw]) {
			t.Fatalf("%dx%d after other sizes: result differs from a fresh session's", hw, hw)
		}
	}
	for range 2 { // warm up: both layouts built, pool sized
		run(7)
		run(28)
	}
	// Kernels without the transposed tiles (purego) use one packing for both sizes.
	prepBytes, layouts := int64(0), 0
	if sl := g.Nodes[0].prep.slots.Load(); sl != nil {
		for _, slot := range *sl {
			if slot.src != nil {
				prepBytes += stateBytes(reflect.ValueOf(slot.data), map[uintptr]bool{})
				layouts++
			}
		}
	}
	if layouts == 0 || prepBytes < int64(layouts)*4*c*c*9 {
		t.Errorf("node keeps %d bytes of prepared weights in %d layouts, want at least %d each", prepBytes, layouts, 4*c*c*9)
	}
	if used := s.budget.inUse(); used < prepBytes {
		t.Errorf("budget charges %d bytes, less than the %d of prepared weights", used, prepBytes)
	}
	for _, hw := range []int{7, 28, 7, 28} {
		goruntime.GC()
		out := uint64(4 * c * hw * hw)
		if got := allocatedDuring(func() { run(hw) }); got > out+256<<10 {
			t.Errorf("%dx%d run after warm-up allocated %d bytes; its output takes %d", hw, hw, got, out)
		}
	}
}

// TestStateBytes counts the backing arrays a prepared state reaches, once each.
func TestStateBytes(t *testing.T) {
	w := make([]float32, 64*9)
	p := blas.PackA(false, 64, 9, w, 9)
	got := stateBytes(reflect.ValueOf([]*blas.PackedA{p, p}), map[uintptr]bool{})
	if got < 4*64*9 || got > 4*64*9+1024 {
		t.Errorf("stateBytes of a 64x9 packing listed twice = %d, want about %d", got, 4*64*9)
	}
}

// TestPreparedConcurrentLayouts runs one session from several goroutines at two
// sizes at once, so both layouts are built while other Runs read them (run it with
// -race); every result must match a fresh session's.
func TestPreparedConcurrentLayouts(t *testing.T) {
	const c = 64
	r := rand.New(rand.NewPCG(9, 10))
	s, err := NewSession(convAnySize(r, c), map[string]int64{"": 17}, nil)
	if err != nil {
		t.Fatal(err)
	}
	inputs, want := map[int]*Value{}, map[int][]float32{}
	for _, hw := range []int{7, 20} {
		inputs[hw] = mustValue(t, randSlice(r, c*hw*hw), 1, c, int64(hw), int64(hw))
		fresh, err := NewSession(convAnySize(rand.New(rand.NewPCG(9, 10)), c), map[string]int64{"": 17}, nil)
		if err != nil {
			t.Fatal(err)
		}
		out, err := fresh.Run(context.Background(), map[string]*Value{"x": inputs[hw]})
		if err != nil {
			t.Fatal(err)
		}
		want[hw] = out["y"].Data.([]float32)
	}
	errs := make(chan error, 8)
	for i := range 8 {
		go func() {
			hw := []int{7, 20}[i%2]
			out, err := s.Run(context.Background(), map[string]*Value{"x": inputs[hw]})
			if err == nil && !slices.Equal(out["y"].Data.([]float32), want[hw]) {
				err = fmt.Errorf("%dx%d: result differs from a fresh session's", hw, hw)
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
