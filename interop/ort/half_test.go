package ort

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/refit-ml/refit/format/onnx"
	"github.com/refit-ml/refit/graph/half"
	"github.com/refit-ml/refit/runtime"
	"github.com/refit-ml/refit/tensor"
)

// halfTol bounds the error of a half-precision model relative to the largest output
// magnitude (at least 1): float16 keeps 11 significant bits, bfloat16 8.
var halfTol = map[tensor.DType]float64{tensor.F16: 1e-2, tensor.BF16: 6e-2}

// TestHalfPrecision converts every model to float16 (package half, float32 I/O kept)
// and checks that ONNX Runtime runs it and agrees with ORT on the float32 model, that
// Refit's runtime agrees with both, and that onnx.checker accepts it. bfloat16 output
// runs in Refit only: ONNX Runtime's CPU provider has no bfloat16 kernels.
func TestHalfPrecision(t *testing.T) {
	nodeModules := requireTools(t)
	for _, m := range models(t) {
		t.Run(m.Name, func(t *testing.T) {
			mp, err := onnx.Load(os.DirFS(m.dir), m.File)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			paths := map[tensor.DType]string{}
			for _, d := range []tensor.DType{tensor.F16, tensor.BF16} {
				hm, rep, err := half.Model(context.Background(), mp, os.DirFS(m.dir), &half.Options{DType: d})
				if err != nil {
					t.Fatalf("half.Model(%v): %v", d, err)
				}
				t.Logf("%v: %d initializers, %d constants, %d Casts, %d kept nodes, %d clamped", d, rep.Initializers, rep.Constants, rep.Casts, len(rep.Kept), rep.Clamped)
				if len(rep.Untyped) > 0 {
					t.Errorf("%v: untyped inputs of kept nodes: %v", d, rep.Untyped)
				}
				paths[d] = filepath.Join(dir, d.String()+".onnx")
				writeModel(t, paths[d], hm)
			}
			checkModels(t, []variant{{name: "f16", path: paths[tensor.F16]}})
			in := inputs(t, m, mp)
			inFiles := writeInputs(t, dir, in)
			outs := runORT(t, nodeModules, []ortJob{
				{Model: m.path(), Inputs: inFiles, Outputs: filepath.Join(dir, "out-f32")},
				{Model: paths[tensor.F16], Inputs: inFiles, Outputs: filepath.Join(dir, "out-f16")},
			})
			want, ortHalf := outs[0], outs[1]
			checkHalf(t, "ort(f16) vs ort(f32)", tensor.F16, m.Classifier, ortHalf, want)
			for _, d := range []tensor.DType{tensor.F16, tensor.BF16} {
				hp, err := onnx.Load(os.DirFS(dir), filepath.Base(paths[d]))
				if err != nil {
					t.Fatal(err)
				}
				got, _, err := runRefit(hp, dir, in)
				if err != nil {
					t.Fatalf("refit(%v): %v", d, err)
				}
				checkHalf(t, fmt.Sprintf("refit(%v) vs ort(f32)", d), d, m.Classifier, got, want)
				if d == tensor.F16 {
					checkHalf(t, "refit(f16) vs ort(f16)", d, m.Classifier, got, ortHalf)
				}
				if m.mnist {
					checkMNISTAccuracy(t, m.dir, got["logits"])
				}
			}
		})
	}
}

// checkHalf compares outputs within halfTol[d] of the largest reference magnitude and,
// for classifiers, top-1 where the reference's best two logits are clearly apart.
func checkHalf(t *testing.T, label string, d tensor.DType, classifier bool, got, want map[string]*runtime.Value) {
	t.Helper()
	for _, name := range sortedKeys(want) {
		g := got[name]
		if g == nil {
			t.Errorf("%s: output %q missing", label, name)
			continue
		}
		a, err := compare(g, want[name])
		if err != nil {
			t.Errorf("%s: output %q: %v", label, name, err)
			continue
		}
		scale := math.Max(1, maxMagnitude(want[name]))
		t.Logf("%s: output %q: max abs err %.3g (max |ref| %.3g), top-1 %d/%d", label, name, a.maxAbs, scale, a.top1, a.rows)
		if a.maxAbs > halfTol[d]*scale {
			t.Errorf("%s: output %q: max abs err %.3g > %g x %.3g", label, name, a.maxAbs, halfTol[d], scale)
		}
		if classifier {
			w, gv := want[name].AsFloat64s(), g.AsFloat64s()
			cols := int(want[name].Shape[len(want[name].Shape)-1])
			for r := 0; r+cols <= len(w); r += cols {
				if margin(w[r:r+cols]) > 4*halfTol[d]*scale && argmax(w[r:r+cols]) != argmax(gv[r:r+cols]) {
					t.Errorf("%s: output %q row %d: top-1 differs with a clear winner", label, name, r/cols)
				}
			}
		}
	}
}
