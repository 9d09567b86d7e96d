package cli

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"

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

// writeConvertedGraph writes a converted ONNX graph and checks that it loads and runs
// in Refit's runtime on seeded random inputs before renaming it into place.
func writeConvertedGraph(e *env, mp *onnxpb.ModelProto, res *convertResult, out string, o *convertOptions) error {
	pf, err := refit.CreatePendingContext(e.ctx, out, o.force)
	if err != nil {
		return err
	}
	defer pf.Abort()
	bw := bufio.NewWriterSize(pf, 1<<20)
	if err := onnx.WriteModel(bw, mp, nil); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
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
		if _, err := s.Run(e.ctx, inputs); err != nil {
			return fmt.Errorf("verify: the converted graph does not run: %w", err)
		}
	}
	if err := pf.Commit(); err != nil {
		return err
	}
	res.Files = []string{out}
	res.Tensors = len(mp.GetGraph().GetInitializer())
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
