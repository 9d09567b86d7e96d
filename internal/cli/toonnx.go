package cli

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/onnx"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/format/tfgraph"
	"github.com/refit-ml/refit/format/tfjs"
	"github.com/refit-ml/refit/format/tflite"
	"github.com/refit-ml/refit/keras2onnx"
	"github.com/refit-ml/refit/runtime"
	"github.com/refit-ml/refit/tf2onnx"
)

// graphToONNX converts the graph of a TensorFlow-family model (Keras layers from .h5,
// .keras or a TF.js layers model; a TF.js graph model; a TFLite model) to ONNX. It
// reports false when src carries no graph Refit can convert.
func graphToONNX(ctx context.Context, in string, src *refit.Model) (*onnxpb.ModelProto, bool, error) {
	if _, ok := src.Source.(*tflite.File); ok {
		f, err := refit.OpenMapped(in)
		if err != nil {
			return nil, true, err
		}
		defer f.Close()
		mp, err := tf2onnx.TFLite(ctx, f, f.Size(), nil)
		return mp, true, err
	}
	if _, ok := src.Source.(*tfgraph.File); ok { // frozen GraphDef or SavedModel
		mp, err := tf2onnx.TFGraph(ctx, src, nil)
		return mp, true, err
	}
	if src.Metadata.String("tfjs.format") == tfjs.GraphFormat {
		fsys, name := refit.DirFS(in), tfjs.DefaultName
		if st, err := os.Stat(in); err == nil && !st.IsDir() {
			fsys, name = refit.FileFS(in)
		}
		mp, err := tf2onnx.TFJSGraph(ctx, fsys, name, nil)
		return mp, true, err
	}
	if refit.KerasConfig(src) != "" {
		mp, err := keras2onnx.ConvertModel(src, nil)
		return mp, true, err
	}
	return nil, false, nil
}

// graphResult is convert's result for a graph converted to ONNX: the operators of
// the graph and the outputs of the verification run.
type graphResult struct {
	*convertResult
	Nodes   int           `json:"nodes"`
	Ops     []opCount     `json:"ops"`
	Outputs []graphOutput `json:"run_outputs,omitempty"`
}

type opCount struct {
	Op    string `json:"op"`
	Nodes int    `json:"nodes"`
}

// graphOutput is one output of the verification run on seeded random inputs.
type graphOutput struct {
	Name  string  `json:"name"`
	DType string  `json:"dtype"`
	Shape []int64 `json:"shape"`
	// Min and Max are over the finite values of a float32 output; NonFinite counts
	// its NaN and infinite values.
	Min       float64 `json:"min"`
	Max       float64 `json:"max"`
	NonFinite int64   `json:"non_finite"`
}

// opsOf counts g's nodes per operator type, most frequent first.
func opsOf(g *onnxpb.GraphProto) []opCount {
	n := map[string]int{}
	for _, node := range g.GetNode() {
		n[node.GetOpType()]++
	}
	var ops []opCount
	for op, c := range n {
		ops = append(ops, opCount{op, c})
	}
	slices.SortFunc(ops, func(a, b opCount) int { return cmp.Or(b.Nodes-a.Nodes, strings.Compare(a.Op, b.Op)) })
	return ops
}

// graphOutputs summarizes a run's outputs in the session's output order.
func graphOutputs(s *runtime.Session, out map[string]*runtime.Value) []graphOutput {
	var r []graphOutput
	for _, info := range s.Outputs() {
		v := out[info.Name]
		if v == nil {
			continue
		}
		o := graphOutput{Name: info.Name, DType: v.DType.String(), Shape: v.Shape, Min: math.Inf(1), Max: math.Inf(-1)}
		for _, x := range v.Float32s() {
			f := float64(x)
			if math.IsNaN(f) || math.IsInf(f, 0) {
				o.NonFinite++
				continue
			}
			o.Min, o.Max = min(o.Min, f), max(o.Max, f)
		}
		if o.Min > o.Max { // no finite float32 value
			o.Min, o.Max = 0, 0
		}
		r = append(r, o)
	}
	return r
}

// writeConvertedGraph writes a converted ONNX graph and checks that it loads and runs
// in Refit's runtime on seeded random inputs before renaming it into place.
func writeConvertedGraph(e *env, mp *onnxpb.ModelProto, cres *convertResult, out string, o *convertOptions) error {
	res := &graphResult{convertResult: cres, Nodes: len(mp.GetGraph().GetNode()), Ops: opsOf(mp.GetGraph())}
	pf, err := createONNX(e, out, o.force, mp)
	if err != nil {
		return err
	}
	defer pf.Abort()
	if st, err := pf.Stat(); err == nil {
		res.Bytes = st.Size()
	}
	if !o.noVerify {
		written, err := onnx.Load(refit.DirFS(filepath.Dir(pf.Name())), filepath.Base(pf.Name()))
		if err != nil {
			return fmt.Errorf("verify: re-reading the ONNX graph: %w", err)
		}
		s, err := runtime.Load(written, nil, nil)
		if err != nil {
			return fmt.Errorf("verify: the converted graph does not load: %w", err)
		}
		inputs, err := runtime.RandomInputs(s, 1, nil)
		if err != nil {
			return fmt.Errorf("verify: %w", err)
		}
		outs, err := s.Run(e.ctx, inputs)
		if err != nil {
			return fmt.Errorf("verify: the converted graph does not run: %w", err)
		}
		res.Verified = true
		res.Outputs = graphOutputs(s, outs)
	}
	if err := pf.Commit(); err != nil {
		return err
	}
	res.Files = []string{out}
	res.Tensors = len(mp.GetGraph().GetInitializer())
	if o.rep != nil {
		r, err := graphReport(res, mp)
		if err != nil {
			return err
		}
		if err := o.rep.finish(r, res); err != nil {
			return err
		}
	}
	if o.asJSON {
		return writeJSON(e.stdout, res)
	}
	fmt.Fprintf(e.stdout, "%s (%s graph) -> %s (onnx): %d nodes, %d initializers, %s written\n",
		res.Input, res.From, out, len(mp.GetGraph().GetNode()), res.Tensors, humanBytes(res.Bytes))
	if !o.noVerify {
		fmt.Fprintln(e.stdout, "verified: the ONNX graph loads and runs in Refit's runtime")
	}
	return nil
}
