package ort

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/refit-ml/refit/format/onnx"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/graph"
	"github.com/refit-ml/refit/internal/testtool"
	"github.com/refit-ml/refit/runtime"
)

// TestSpecialValues runs Relu, Clip, Max, Min and MaxPool on NaNs of both signs and
// several payloads (a signaling one too), zeros of both signs and infinities through
// ONNX Runtime and Refit's runtime, and requires the same bits. The elementwise
// operators agree on everything. ONNX Runtime's MaxPool does not: which NaN or which
// zero of a window it returns depends on where the window lies in MLAS's vectors (a
// NaN is often dropped), so MaxPool is compared on inputs without NaNs and -0,
// duplicates and infinities included; Refit's fold is PoolMax, ONNX Runtime's Max.
func TestSpecialValues(t *testing.T) {
	nodeModules := requireNode(t)
	specials := []float32{float32(math.NaN()), math.Float32frombits(0xffc00000), math.Float32frombits(0x7fc01234),
		math.Float32frombits(0xffc00003), math.Float32frombits(0x7f800005), float32(math.Inf(1)), float32(math.Inf(-1)),
		0, float32(math.Copysign(0, -1)), 1, -1, 0.25, -0.25, 7, -7}
	r := rand.New(rand.NewPCG(21, 22))
	var a, b []float32
	for _, x := range specials {
		for _, y := range specials {
			a, b = append(a, x), append(b, y)
		}
	}
	pairs := int64(len(a))
	pool := make([]float32, 2*3*28*28)
	for i := range pool {
		pool[i] = float32(r.IntN(9)-4) * 0.5 // many duplicates, +0 only
		if r.IntN(25) == 0 {
			pool[i] = float32(math.Inf(2*r.IntN(2) - 1))
		}
	}
	vi := func(name string, shape ...int64) *onnxpb.ValueInfoProto {
		return graph.ValueInfo(name, graph.ElemFloat, shape, nil)
	}
	type tc struct {
		name   string
		nodes  []*onnxpb.NodeProto
		inputs map[string]*runtime.Value
	}
	av, _ := runtime.FromSlice(a, 1, pairs)
	bv, _ := runtime.FromSlice(b, 1, pairs)
	pv, _ := runtime.FromSlice(pool, 2, 3, 28, 28)
	scalar := func(v float32) *runtime.Value { return runtime.Scalar(v) }
	maxPool := func(k, s, p int64) []*onnxpb.NodeProto {
		return []*onnxpb.NodeProto{graph.NewNode("MaxPool", "", []string{"x"}, []string{"y"},
			graph.IntsAttr("kernel_shape", []int64{k, k}), graph.IntsAttr("strides", []int64{s, s}), graph.IntsAttr("pads", []int64{p, p, p, p}))}
	}
	cases := []tc{
		{"Relu", []*onnxpb.NodeProto{graph.NewNode("Relu", "", []string{"x"}, []string{"y"})}, map[string]*runtime.Value{"x": av}},
		{"Clip_0_6", []*onnxpb.NodeProto{graph.NewNode("Clip", "", []string{"x", "lo", "hi"}, []string{"y"})},
			map[string]*runtime.Value{"x": av, "lo": scalar(0), "hi": scalar(6)}},
		{"Clip_-0.5_0.5", []*onnxpb.NodeProto{graph.NewNode("Clip", "", []string{"x", "lo", "hi"}, []string{"y"})},
			map[string]*runtime.Value{"x": av, "lo": scalar(-0.5), "hi": scalar(0.5)}},
		{"Max", []*onnxpb.NodeProto{graph.NewNode("Max", "", []string{"x", "z"}, []string{"y"})}, map[string]*runtime.Value{"x": av, "z": bv}},
		{"Min", []*onnxpb.NodeProto{graph.NewNode("Min", "", []string{"x", "z"}, []string{"y"})}, map[string]*runtime.Value{"x": av, "z": bv}},
		{"MaxPool_2x2s2", maxPool(2, 2, 0), map[string]*runtime.Value{"x": pv}},
		{"MaxPool_3x3s2p1", maxPool(3, 2, 1), map[string]*runtime.Value{"x": pv}},
		{"MaxPool_3x3s1p1", maxPool(3, 1, 1), map[string]*runtime.Value{"x": pv}},
	}
	dir := t.TempDir()
	var jobs []ortJob
	var models []*onnxpb.ModelProto
	for i, c := range cases {
		g := &onnxpb.GraphProto{Name: proto.String(c.name), Node: c.nodes, Output: []*onnxpb.ValueInfoProto{vi("y")}}
		for _, name := range sortedKeys(c.inputs) {
			g.Input = append(g.Input, vi(name, c.inputs[name].Shape...))
		}
		mp := graph.Model(g, "refit-test", 17)
		p := filepath.Join(dir, fmt.Sprintf("m%d.onnx", i))
		if err := onnx.WriteModelFile(p, mp, nil); err != nil {
			t.Fatal(err)
		}
		sub := filepath.Join(dir, fmt.Sprint(i))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, ortJob{Model: p, Inputs: writeInputs(t, sub, c.inputs), Outputs: filepath.Join(sub, "out")})
		models = append(models, mp)
	}
	want := runORT(t, nodeModules, jobs)
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, _, err := runRefit(models[i], dir, c.inputs)
			if err != nil {
				t.Fatal(err)
			}
			g, w := got["y"], want[i]["y"]
			if g == nil || w == nil || g.Len() != w.Len() {
				t.Fatalf("Refit gave %v, ONNX Runtime %v", g, w)
			}
			gd, wd := g.Data.([]float32), w.Data.([]float32)
			bad := 0
			for j := range gd {
				if math.Float32bits(gd[j]) != math.Float32bits(wd[j]) {
					if bad < 5 {
						in := ""
						if c.inputs["z"] != nil {
							in = fmt.Sprintf(" (inputs %#x, %#x)", math.Float32bits(a[j]), math.Float32bits(b[j]))
						} else if c.inputs["x"] == av {
							in = fmt.Sprintf(" (input %#x)", math.Float32bits(a[j]))
						}
						t.Errorf("y[%d] = %#x, ONNX Runtime %#x%s", j, math.Float32bits(gd[j]), math.Float32bits(wd[j]), in)
					}
					bad++
				}
			}
			if bad > 0 {
				t.Errorf("%d of %d outputs differ", bad, len(gd))
			}
		})
	}
}

// requireNode skips (or fails under REFIT_REQUIRE_TOOLS=1) without node and
// onnxruntime-node; it returns NODE_PATH.
func requireNode(t *testing.T) string {
	t.Helper()
	nodeModules := testtool.NodeModules(t, "onnxruntime-node")
	if _, err := exec.LookPath("node"); err != nil {
		if os.Getenv("REFIT_REQUIRE_TOOLS") == "1" {
			t.Fatalf("node is required (REFIT_REQUIRE_TOOLS=1): %v", err)
		}
		t.Skipf("skipping: node not on PATH (%v)", err)
	}
	return nodeModules
}
