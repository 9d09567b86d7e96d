package runtime

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/refit-ml/refit/tensor"
)

// The activations of rssNet, a ResNet-18 stem at batch 16: the input, a 64-channel
// 112x112 feature map, its max-pooled quarter, a 1x1 convolution of that, and a
// small classifier head.
const (
	rssBatch = 16
	rssSide  = 112
)

// rssNet returns the graph and its input.
func rssNet() (*Graph, map[string]*Value) {
	f32 := func(n int, seed float32) *Value {
		v := NewValue(tensor.F32, []int64{int64(n)})
		for i := range v.Float32s() {
			v.Float32s()[i] = seed * float32(i%13-6) / 13
		}
		return v
	}
	shaped := func(v *Value, shape ...int64) *Value { v.Shape = shape; return v }
	ints := func(name string, x ...int64) *Attr { return &Attr{Name: name, Kind: AttrInts, Ints: x} }
	g := &Graph{
		Inputs:  []ValueInfo{input("x", tensor.F32, rssBatch, 3, rssSide, rssSide)},
		Outputs: []ValueInfo{{Name: "logits"}},
		Initializers: map[string]*Value{
			"w1": shaped(f32(64*3*3*3, 0.3), 64, 3, 3, 3), "b1": f32(64, 0.1),
			"w2": shaped(f32(128*64, 0.1), 128, 64, 1, 1), "b2": f32(128, 0.1),
			"fc": shaped(f32(10*128, 0.2), 10, 128), "fcb": f32(10, 0.1),
		},
		Nodes: []*Node{
			node("Conv", []string{"x", "w1", "b1"}, []string{"c1"}, ints("pads", 1, 1, 1, 1)),
			node("Relu", []string{"c1"}, []string{"r1"}),
			node("MaxPool", []string{"r1"}, []string{"p1"}, ints("kernel_shape", 2, 2), ints("strides", 2, 2)),
			node("Conv", []string{"p1", "w2", "b2"}, []string{"c2"}),
			node("Relu", []string{"c2"}, []string{"r2"}),
			node("GlobalAveragePool", []string{"r2"}, []string{"gap"}),
			node("Flatten", []string{"gap"}, []string{"flat"}),
			node("Gemm", []string{"flat", "fc", "fcb"}, []string{"logits"}, &Attr{Name: "transB", Kind: AttrInt, Int: 1}),
		},
	}
	x := NewValue(tensor.F32, []int64{rssBatch, 3, rssSide, rssSide})
	for i := range x.Float32s() {
		x.Float32s()[i] = float32(i%17-8) / 17
	}
	return g, map[string]*Value{"x": x}
}

// TestRunPeakRSSActivations runs a convolutional network whose activations (not its
// weights) take the memory, as ResNet-18 at batch 16 does, several times in a child
// process, and checks its peak resident memory against issue 14's bound: the
// weights plus the largest set of activations live at once plus 64 MiB. Memory the
// buffer pool keeps but cannot reuse, or garbage made on every Run (a graph output
// that takes a pooled feature map's buffer with it), breaks it.
func TestRunPeakRSSActivations(t *testing.T) {
	if os.Getenv("REFIT_TEST_RSS_ACTIVATIONS") != "" {
		g, in := rssNet()
		s, err := NewSession(g, map[string]int64{"": 17}, &Options{Threads: 2})
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		for range 8 {
			if _, err := s.Run(context.Background(), in); err != nil {
				fmt.Println("error:", err)
				os.Exit(1)
			}
		}
		b, err := os.ReadFile("/proc/self/status")
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		i := bytes.Index(b, []byte("VmHWM:"))
		if i < 0 {
			fmt.Println("error: no VmHWM")
			os.Exit(1)
		}
		os.Stdout.Write(b[i:])
		os.Exit(0)
	}
	if testing.Short() {
		t.Skip("runs a 100 MiB network in a child process")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestRunPeakRSSActivations$")
	cmd.Env = append(os.Environ(), "REFIT_TEST_RSS_ACTIVATIONS=1", "GOMAXPROCS=2")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	// The Go runtime may warn first (an unknown GODEBUG cpu option, as the AVX2-only run
	// of scripts/test sets), so look for the line.
	var kib int64
	i := bytes.Index(out, []byte("VmHWM:"))
	if i < 0 {
		t.Fatalf("no VmHWM in the child's output %q", out)
	}
	if _, err := fmt.Sscanf(string(out[i:]), "VmHWM: %d kB", &kib); err != nil {
		t.Fatalf("no VmHWM in the child's output %q: %v", out, err)
	}
	const mib = 1 << 20
	plane := int64(rssBatch) * rssSide * rssSide * 4 // bytes of one channel over the batch
	weights := int64(64*27+64+128*64+128+10*128+10) * 4
	// The largest live set is at the MaxPool: its input (64 channels), its output
	// (64 at a quarter) and the caller's input (3 channels).
	live := 64*plane + 16*plane + 3*plane
	bound := weights + live + 64*mib
	peak := kib << 10
	t.Logf("peak RSS %.1f MiB; weights %.2f MiB, largest live activations %.1f MiB, bound %.1f MiB",
		float64(peak)/mib, float64(weights)/mib, float64(live)/mib, float64(bound)/mib)
	if peak > bound {
		t.Errorf("peak RSS %.1f MiB over the bound %.1f MiB", float64(peak)/mib, float64(bound)/mib)
	}
}
