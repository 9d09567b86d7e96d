package cli

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing/fstest"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/gguf"
	"github.com/refit-ml/refit/format/onnx"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/graph/half"
	"github.com/refit-ml/refit/hf"
	"github.com/refit-ml/refit/llm/onnxexport"
	"github.com/refit-ml/refit/runtime"
	"github.com/refit-ml/refit/tensor"
)

type llmONNXResult struct {
	Input         string   `json:"input"`
	Output        string   `json:"output"`
	From          string   `json:"from"`
	Architecture  string   `json:"architecture"`
	Layout        string   `json:"layout"`
	MaxPositions  int      `json:"max_positions"`
	Weights       string   `json:"weights"`
	Nodes         int      `json:"nodes"`
	Initializers  int      `json:"initializers"`
	MatMulNBits   int      `json:"matmul_nbits"`
	Bytes         int64    `json:"bytes_written"`
	Files         []string `json:"files"`
	Verified      bool     `json:"verified"`
	VerifySkipped string   `json:"verify_skipped,omitempty"`
	MaxAbs        float64  `json:"decode_max_abs_diff"`
	LogitScale    float64  `json:"logit_scale"`
}

// isGGUF reports whether the file in starts like a GGUF file (a few bytes read).
func isGGUF(in string) bool {
	f, err := refit.OpenFile(in)
	if err != nil {
		return false
	}
	defer f.Close()
	return gguf.Sniff(f, f.Size())
}

// llmToONNX handles convert of a decoder LLM (a Hugging Face folder or a GGUF file)
// to .onnx: package onnxexport writes the graph. It reports false when IN is not an
// LLM or OUT is not ONNX, leaving the conversion to the general path.
func llmToONNX(e *env, in, out string, enc *refit.Format, o *convertOptions) (bool, error) {
	if enc.Name != "onnx" || o.weights != "" {
		return false, nil
	}
	var (
		m    *refit.Model
		from string
		err  error
	)
	if st, serr := os.Stat(in); serr == nil && st.IsDir() {
		fsys := refit.DirFS(in)
		if !hf.IsHFFolder(fsys) {
			return false, nil
		}
		if m, err = hf.ConvertHF(e.ctx, fsys, &hf.ConvertOptions{DType: tensor.F32, NoTokenizer: true}); err != nil {
			return true, err
		}
		from = hfFormat
	} else {
		if !isGGUF(in) { // only GGUF files name an LLM architecture: the general path decodes the rest
			return false, nil
		}
		if m, err = openCheckpoint(in, &refit.DecodeOptions{MaxMemory: e.maxMemory.runtimeBytes()}); err != nil {
			return false, nil // the general path reports it
		}
		from = m.Format
	}
	defer m.Close()
	if !onnxexport.IsLLM(m) {
		return false, nil
	}
	opts := &onnxexport.Options{}
	halfType, bits := tensor.Invalid, 0
	switch strings.ToLower(o.dtype) {
	case "int4", "q4":
		bits, opts.Weights = 4, onnxexport.Int4
	case "int8", "q8":
		bits, opts.Weights = 8, onnxexport.Int8
	}
	opts.Threads = e.threads
	if o.dtype != "" && bits == 0 {
		d, err := parseCastType("--dtype", o.dtype)
		if err != nil {
			return true, err
		}
		switch d {
		case tensor.F32:
			opts.Weights = onnxexport.Float32
		case tensor.F16, tensor.BF16:
			halfType = d
		default:
			return true, usageError{fmt.Errorf("an LLM written as ONNX takes --dtype f32 (every weight float32), f16 or bf16 (the graph in half precision), int4 or int8 (every matrix quantized afresh to MatMulNBits), or no --dtype (GGUF Q4_0/Q4_1/Q8_0 kept as MatMulNBits)")}
		}
	}
	om, err := onnxexport.Export(e.ctx, m, opts)
	if err != nil {
		return true, err
	}
	switch {
	case halfType != tensor.Invalid:
		return true, llmInMemory(e, in, out, om, o, func(mp *onnxpb.ModelProto) (*onnxpb.ModelProto, string, error) {
			hm, rep, err := half.Model(e.ctx, mp, nil, &half.Options{DType: halfType, HalfIO: o.halfIO, Keep: o.keepOps,
				KeepNodes: append(onnxexport.FloatNodes(mp), o.keepNodes...)})
			if err != nil {
				return nil, "", err
			}
			return hm, fmt.Sprintf("%v: %d initializers converted, %d Casts inserted", halfType, rep.Initializers, rep.Casts), nil
		})

	}
	mp := om.Source.(*onnx.Source).Proto()
	maxPos, _ := strconv.Atoi(om.Metadata.String("refit.llm.max_positions"))
	res := &llmONNXResult{Input: in, Output: out, From: from, Architecture: m.Metadata.String("general.architecture"),
		Layout: onnxexport.Layout, MaxPositions: maxPos, Weights: opts.Weights.String(), Nodes: len(mp.GetGraph().GetNode()),
		Initializers: len(mp.GetGraph().GetInitializer())}
	for _, n := range mp.GetGraph().GetNode() {
		if n.GetOpType() == "MatMulNBits" {
			res.MatMulNBits++
		}
	}
	// The weights are computed as they are written, one at a time, into external
	// data when the model needs it (over 2 GiB, or --external-data).
	po, err := refit.CreatePendingOutput(e.ctx, out, false, o.force)
	if err != nil {
		return true, err
	}
	defer po.Abort()
	var total int64
	for _, t := range om.Tensors {
		total += t.Size()
	}
	bar := newProgress(e, "write", total)
	create := func(name string) (io.WriteCloser, error) {
		w, err := po.Create(name)
		if err != nil || bar.bar == nil {
			return w, err
		}
		return progressWriter{bar.writer(w), w}, nil
	}
	err = enc.EncodeTo(create, om, &refit.EncodeOptions{Name: filepath.Base(out), ExternalData: o.externalData})
	bar.done()
	if err != nil {
		return true, err
	}
	res.Bytes = po.Size()
	// Running the graph holds its weights about three times (the loaded model, the
	// runtime's packed matrices, activations; measured 1.5 GiB for 520 MiB): past the
	// memory budget the check is skipped, the output kept, and the reason said.
	budget := e.maxMemory.runtimeBytes()
	if budget == 0 {
		budget = refit.DefaultMaxMemory()
	}
	if need := 3 * res.Bytes; !o.noVerify && need > budget {
		res.VerifySkipped = fmt.Sprintf("running the graph needs about %s, more than the memory budget %s (--max-memory)", humanBytes(need), humanBytes(budget))
	} else if !o.noVerify {
		phaseStarted("verify")
		names := po.Names()
		written, err := onnx.Load(refit.DirFS(po.Dir()), names[len(names)-1])
		if err != nil {
			return true, fmt.Errorf("verify: re-reading the ONNX graph: %w", err)
		}
		c, err := onnxexport.Verify(e.ctx, written, nil, &runtime.Options{Threads: e.threads, MaxMemory: e.maxMemory.runtimeBytes()})
		if err != nil {
			return true, err
		}
		res.Verified, res.MaxAbs, res.LogitScale = true, c.MaxAbs, c.Scale
	}
	files, err := po.Commit()
	if err != nil {
		return true, err
	}
	res.Files = files
	if o.asJSON {
		return true, writeJSON(e.stdout, res)
	}
	w := e.stdout
	fmt.Fprintf(w, "%s (%s %s) -> %s (onnx, %s weights, %d MatMulNBits): %d nodes, %d initializers, %s written\n",
		in, from, res.Architecture, out, res.Weights, res.MatMulNBits, res.Nodes, res.Initializers, humanBytes(res.Bytes))
	fmt.Fprintf(w, "layout: %s; positions up to %d\n", res.Layout, res.MaxPositions)
	if res.Verified {
		fmt.Fprintf(w, "verified: runs in Refit's runtime; a token decoded from the cache matches a full prefill (max abs diff %.3g, logit scale %.3g)\n", res.MaxAbs, res.LogitScale)
	} else if res.VerifySkipped != "" {
		fmt.Fprintf(w, "verification skipped: %s\n", res.VerifySkipped)
	} else {
		fmt.Fprintln(w, "verification skipped")
	}
	return true, nil
}

// llmInMemory writes an exported LLM after a whole-graph rewrite (to half precision),
// checked as llmToONNX checks float32 graphs. The
// float32 graph is built in memory, so it must stay under 2 GiB.
func llmInMemory(e *env, in, out string, om *refit.Model, o *convertOptions, rewrite func(*onnxpb.ModelProto) (*onnxpb.ModelProto, string, error)) error {
	var buf bytes.Buffer
	if err := onnx.Encode(&buf, om, nil); err != nil {
		return err
	}
	mp, err := onnx.Load(fstest.MapFS{"model.onnx": {Data: buf.Bytes()}}, "model.onnx")
	if err != nil {
		return err
	}
	buf = bytes.Buffer{}
	rm, summary, err := rewrite(mp)
	if err != nil {
		return err
	}
	pf, err := createONNX(e, out, o.force, rm)
	if err != nil {
		return err
	}
	defer pf.Abort()
	var c *onnxexport.Check
	if !o.noVerify {
		phaseStarted("verify")
		if c, err = onnxexport.Verify(e.ctx, rm, nil, &runtime.Options{Threads: e.threads, MaxMemory: e.maxMemory.runtimeBytes()}); err != nil {
			return err
		}
	}
	if err := pf.Commit(); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s (%s) -> %s (onnx, %s)\nlayout: %s\n", in, om.Metadata.String("refit.llm.architecture"), out, summary, onnxexport.Layout)
	if c != nil {
		fmt.Fprintf(e.stdout, "verified: runs in Refit's runtime; a token decoded from the cache matches a full prefill (max abs diff %.3g, logit scale %.3g)\n", c.MaxAbs, c.Scale)
	}
	return nil
}
