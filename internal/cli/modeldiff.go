package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/pflag"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/compare"
	"github.com/refit-ml/refit/format/numpy"
	"github.com/refit-ml/refit/format/onnx"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/runtime"
	"github.com/refit-ml/refit/tensor"
)

// runInputs are the flags that choose inputs for running models.
type runInputs struct {
	inputs []string // name=file.npy
	data   string   // .npz dataset
	seed   uint64
	batch  int64
	shapes []string // --shape name=1x3x48x320
}

func (r *runInputs) flags(f *pflag.FlagSet) {
	f.StringArrayVar(&r.inputs, "input", nil, "model input as name=file.npy (repeatable)")
	f.StringVar(&r.data, "data", "", ".npz file whose arrays are model inputs (by name); an array named label(s) gives accuracy")
	f.Uint64Var(&r.seed, "seed", 1, "seed for random inputs when none are given")
	f.Int64Var(&r.batch, "batch", 1, "size of symbolic dimensions of random inputs")
	f.StringArrayVar(&r.shapes, "shape", nil, shapeUsage)
}

// runnable reports whether path names a model Refit can execute.
func runnable(path string) bool { return strings.EqualFold(filepath.Ext(inputBase(path)), ".onnx") }

// loadSession reads an ONNX model (external data resolved) and prepares it to run.
func loadSession(path string) (*runtime.Session, *onnxpb.ModelProto, error) {
	return loadSessionOptions(path, nil)
}

// loadSessionOptions is loadSession with runtime options (nil: defaults).
func loadSessionOptions(path string, opts *runtime.Options) (*runtime.Session, *onnxpb.ModelProto, error) {
	if err := notONNX(path); err != nil {
		return nil, nil, err
	}
	mp, fsys, err := loadONNX(context.Background(), path)
	if err != nil {
		return nil, nil, err
	}
	s, err := runtime.Load(mp, fsys, opts)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, mp, nil
}

// loadSessionMapped is loadSessionOptions with the weights left in the model's
// files (onnx.LoadMapped): they are not copied into the process unless a kernel
// packs them. Closing release unmaps the files; the session must not be used after.
func loadSessionMapped(path string, opts *runtime.Options) (*runtime.Session, io.Closer, error) {
	if err := notONNX(path); err != nil {
		return nil, nil, err
	}
	fsys, base := refit.FileFS(path)
	mp, files, err := onnx.LoadMapped(fsys, base)
	if err != nil {
		return nil, nil, err
	}
	if mp, err = prepareONNX(context.Background(), mp); err != nil {
		files.Close()
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	s, err := runtime.Load(mp, fsys, opts)
	if err != nil {
		files.Close()
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, files, nil
}

// inputSet is what a model is run on: its inputs, plus labels when the data has them.
type inputSet struct {
	values map[string]*runtime.Value
	labels []int64
	source string // "1 random input (seed 1)", "data.npz", ...
	// randomRows is the number of random rows the set was made of (0: real data).
	randomRows int64
	// shapes are the shapes of random inputs, with the dimensions Refit chose;
	// declared maps input names to their declared dims, for error messages.
	shapes   []runtime.InputShape
	declared map[string]string
}

// randomNote says that numbers were measured on random inputs and how to measure
// them on data instead (dataFlag names the command's data flag); "" for real data.
func randomNote(source string, randomRows int64, dataFlag string) string {
	if randomRows == 0 {
		return ""
	}
	return fmt.Sprintf("note: measured on %s, not on real data: errors and top-1 agreement on random inputs say little about accuracy; give %s", source, dataFlag)
}

// gather builds the inputs of s from --input files, a --data archive, or random values.
func (r *runInputs) gather(s *runtime.Session) (*inputSet, error) {
	set := &inputSet{values: map[string]*runtime.Value{}}
	want := map[string]bool{}
	for _, in := range s.Inputs() {
		want[in.Name] = true
	}
	if r.data != "" {
		m, err := refit.Open(r.data)
		if err != nil {
			return nil, err
		}
		defer m.Close()
		for _, t := range m.Tensors {
			switch {
			case want[t.Name]:
				v, err := runtime.FromTensor(t)
				if err != nil {
					return nil, fmt.Errorf("%s: %s: %w", r.data, t.Name, err)
				}
				set.values[t.Name] = v
			case t.Name == "label" || t.Name == "labels":
				f, err := t.Float32s()
				if err != nil {
					return nil, err
				}
				for _, x := range f {
					set.labels = append(set.labels, int64(x))
				}
			}
		}
		set.source = r.data
	}
	for _, spec := range r.inputs {
		name, file, ok := strings.Cut(spec, "=")
		if !ok || name == "" || file == "" {
			return nil, usageError{fmt.Errorf("--input %q: want name=file.npy", spec)}
		}
		if !want[name] {
			return nil, usageError{fmt.Errorf("--input %q: the model has no input %q", spec, name)}
		}
		t, err := readArray(file)
		if err != nil {
			return nil, err
		}
		v, err := runtime.FromTensor(t)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		set.values[name] = v
		set.source = "files"
	}
	shapes, err := parseShapes(r.shapes, s)
	if err != nil {
		return nil, err
	}
	if len(set.values) > 0 && shapes != nil {
		return nil, usageError{fmt.Errorf("--shape shapes random inputs; with --input or --data the arrays' own shapes are used")}
	}
	if len(set.values) == 0 {
		ro := &runtime.RandomOptions{DefaultDim: r.batch, Shapes: shapes}
		if set.shapes, err = runtime.InputShapes(s, ro); err != nil {
			if errors.Is(err, runtime.ErrInputShape) {
				return nil, usageError{fmt.Errorf("--shape: %w", err)}
			}
			return nil, err
		}
		set.declared = map[string]string{}
		for _, in := range s.Inputs() {
			set.declared[in.Name] = in.DeclaredShape()
		}
		rnd, err := runtime.RandomInputs(s, r.seed, ro)
		if err != nil {
			return nil, err
		}
		set.values = rnd
		set.randomRows = 1
		for _, v := range rnd {
			if len(v.Shape) > 0 {
				set.randomRows = max(1, v.Shape[0])
			}
			break
		}
		noun := "random input"
		if set.randomRows != 1 {
			noun += "s"
		}
		set.source = fmt.Sprintf("%d %s (seed %d)", set.randomRows, noun, r.seed)
	}
	for name := range want {
		if set.values[name] == nil {
			return nil, usageError{fmt.Errorf("no value for model input %q (use --input %s=file.npy)", name, name)}
		}
	}
	return set, nil
}

func readArray(path string) (*tensor.Tensor, error) {
	f, err := refit.OpenMapped(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	t, err := numpy.ReadNPY(f, f.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	b, err := t.Bytes() // copy out of the mapping before it closes
	if err != nil {
		return nil, err
	}
	return tensor.FromBytes(t.Name, t.DType, t.Shape, b)
}

type modelDiff struct {
	A        string               `json:"a"`
	B        string               `json:"b"`
	Inputs   string               `json:"inputs"`
	Outputs  []compare.OutputDiff `json:"outputs"`
	MaxAbs   float64              `json:"max_abs_error"`
	MinCos   float64              `json:"min_cosine"`
	Exceeded bool                 `json:"tolerance_exceeded"`
	// RandomInputs counts the random rows the comparison ran on (0: real data).
	RandomInputs int64   `json:"random_inputs,omitempty"`
	dataFlag     string  // the command's flag for real data, when not --data
	Verdict      verdict `json:"verdict"`
	// Histograms spread each output's element errors (diff only).
	Histograms []errorHistogram `json:"error_histograms,omitempty"`
}

func runModelDiff(e *env, pa, pb string, o *diffOptions) error {
	sa, _, err := loadSession(pa)
	if err != nil {
		return err
	}
	sb, _, err := loadSession(pb)
	if err != nil {
		return err
	}
	set, err := o.run.gather(sa)
	if err != nil {
		return err
	}
	rep, outA, outB, err := runOutputTensors(e.ctx, sa, sb, set, &runBars{e, "run A", "run B"})
	if err != nil {
		return err
	}
	r := newModelDiff(rep, set)
	r.Histograms = errorHistograms(outA, outB)
	r.A, r.B = pa, pb
	r.Exceeded = o.tolerance >= 0 && r.MaxAbs > o.tolerance
	r.Verdict = modelVerdict(r, o)
	if err := o.writeModelReport(r); err != nil {
		return err
	}
	if o.asJSON {
		if err := writeJSON(e.stdout, r); err != nil {
			return err
		}
	} else {
		printModelDiff(e, r)
		r.Verdict.print(e.stdout)
	}
	return r.Verdict.exit()
}

// modelVerdict fails on outputs that could not be compared and on an error beyond
// --tolerance.
func modelVerdict(r *modelDiff, o *diffOptions) verdict {
	v := verdict{Pass: true, Reasons: []string{}}
	for _, d := range r.Outputs {
		if d.Note != "" {
			v.fail("output %s: %s", d.Name, d.Note)
		}
	}
	if len(v.Reasons) == 0 && o.tolerance >= 0 && r.MaxAbs > o.tolerance {
		v.fail("max abs error %.3g exceeds --tolerance %g", r.MaxAbs, o.tolerance)
	}
	if o.tolerance >= 0 {
		v.Summary = fmt.Sprintf("%d outputs within --tolerance %g (max abs error %.3g)", len(r.Outputs), o.tolerance, r.MaxAbs)
	} else {
		v.Summary = fmt.Sprintf("%d outputs compared, max abs error %.3g, min cosine %.6f (no --tolerance given)", len(r.Outputs), r.MaxAbs, r.MinCos)
	}
	return v
}

// diffSessions runs both sessions on the same inputs and compares outputs by name
// (by position when the names differ).
func diffSessions(e *env, sa, sb *runtime.Session, set *inputSet) (*modelDiff, error) {
	r, err := runOutputs(e.ctx, sa, sb, set, &runBars{e, "run input", "run output"})
	if err != nil {
		return nil, err
	}
	return newModelDiff(r, set), nil
}

// runOutputs runs both sessions on set and compares their outputs (compare.Outputs).
// With bars, each model's runs show as a bar.
func runOutputs(ctx context.Context, sa, sb *runtime.Session, set *inputSet, bars *runBars) (*compare.OutputsReport, error) {
	r, _, _, err := runOutputTensors(ctx, sa, sb, set, bars)
	return r, err
}

// runBars names the bars of the two models' runs.
type runBars struct {
	e    *env
	a, b string
}

// of makes the bar of one model's runs.
func (r *runBars) of(label string) func(runs int) *countProgress {
	return func(runs int) *countProgress { return newCountProgress(r.e, label, runs) }
}

// runOutputTensors is runOutputs that also returns both runs' outputs.
func runOutputTensors(ctx context.Context, sa, sb *runtime.Session, set *inputSet, bars *runBars) (*compare.OutputsReport, []*tensor.Tensor, []*tensor.Tensor, error) {
	var barA, barB func(int) *countProgress
	if bars != nil {
		barA, barB = bars.of(bars.a), bars.of(bars.b)
	}
	outA, err := runRowsShown(ctx, sa, set.values, barA)
	if err != nil {
		return nil, nil, nil, explainShapes(fmt.Errorf("running A: %w", err), set)
	}
	inB, err := inputsFor(sb, set.values)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("inputs of B: %w", err)
	}
	outB, err := runRowsShown(ctx, sb, inB, barB)
	if err != nil {
		return nil, nil, nil, explainShapes(fmt.Errorf("running B: %w", err), set)
	}
	ta, tb := outputTensors(sa, outA), outputTensors(sb, outB)
	return compare.Outputs(ta, tb, set.labels), ta, tb, nil
}

func newModelDiff(r *compare.OutputsReport, set *inputSet) *modelDiff {
	return &modelDiff{Inputs: set.source, RandomInputs: set.randomRows, Outputs: r.Outputs, MaxAbs: r.MaxAbs, MinCos: r.MinCos}
}

// outputTensors lists a run's outputs in the session's output order, as tensors; an
// output the run did not produce is left out.
func outputTensors(s *runtime.Session, out map[string]*runtime.Value) []*tensor.Tensor {
	var ts []*tensor.Tensor
	for _, info := range s.Outputs() {
		v := out[info.Name]
		if v == nil {
			continue
		}
		t, err := v.Tensor(info.Name)
		if err != nil { // not a tensor type (strings ...): compared as not numeric
			t = &tensor.Tensor{Name: info.Name, Shape: tensor.Shape(v.Shape)}
		}
		ts = append(ts, t)
	}
	return ts
}

func printModelDiff(e *env, r *modelDiff) {
	w := e.stdout
	on := r.Inputs + " inputs"
	if r.RandomInputs > 0 {
		on = r.Inputs
	}
	fmt.Fprintf(w, "%s vs %s on %s: max abs error %.3g, min cosine %.6f\n", r.A, r.B, on, r.MaxAbs, r.MinCos)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "OUTPUT\tSHAPE\tMAX ABS\tMAX REL\tCOSINE\tTOP-1 AGREE\tKL\tACCURACY A/B")
	for _, d := range r.Outputs {
		if d.Note != "" {
			fmt.Fprintf(tw, "%s\t%v\t%s\t\t\t\t\t\n", d.Name, d.Shape, d.Note)
			continue
		}
		fmt.Fprintf(tw, "%s\t%v\t%.3g\t%.3g\t%.6f\t%s\t%s\t%s\n", d.Name, d.Shape, d.MaxAbs, d.MaxRel, d.Cosine,
			pct(d.Top1), sci(d.KL), accuracy(d.AccuracyA, d.AccuracyB))
	}
	tw.Flush()
	if note := randomNote(r.Inputs, r.RandomInputs, cmp.Or(r.dataFlag, "--data FILE.npz")); note != "" {
		fmt.Fprintln(w, note)
	}
}

func pct(p *float64) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprintf("%.2f%%", 100**p)
}

func sci(p *float64) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprintf("%.3g", *p)
}

func accuracy(a, b *float64) string {
	if a == nil || b == nil {
		return "-"
	}
	return fmt.Sprintf("%.2f%% / %.2f%%", 100**a, 100**b)
}
