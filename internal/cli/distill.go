package cli

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/distill"
	"github.com/refit-ml/refit/format/onnx"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/format/safetensors"
	"github.com/refit-ml/refit/runtime"
)

func init() { commands = append(commands, newDistillCmd) }

type distillOptions struct {
	teacher, student, data, val, out string
	opt                              distill.Options
	optimizer, schedule              string
	labels                           int
	force, asJSON                    bool
	report                           string         // --report FILE
	rep                              *pendingReport // its pending file
}

func newDistillCmd(e *env) *cobra.Command {
	var o distillOptions
	cmd := &cobra.Command{
		Use:   "distill --teacher T.onnx --student S.onnx --data DATA.npz --out OUT.onnx",
		Short: "Train an ONNX student on the CPU to match a teacher's softened outputs and the labels",
		Long: `Distill trains the student (ONNX; a smaller network or a structurally pruned teacher)
on DATA (.npz with an input array named like the student's input, or "input", and
optionally "label"; label -1 marks unlabeled examples) to match the teacher's outputs
softened by --temperature (KL), mixed with cross-entropy on labels by --alpha.
It writes the best epoch's student (by --val accuracy) as OUT.onnx and its weights as
OUT.safetensors. --alpha 0 trains on labels only (no teacher needed).`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runWithReport(e, o.report, o.force, &o.rep, cardReport("distill", "refit distill", o.student, o.out),
				func() error { return runDistill(e, &o) }, o.teacher, o.student, o.data, o.val, o.out,
				strings.TrimSuffix(o.out, filepath.Ext(o.out))+".safetensors")
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.teacher, "teacher", "", "teacher model (.onnx)")
	f.StringVar(&o.student, "student", "", "student model to train (.onnx)")
	f.StringVar(&o.data, "data", "", "training data (.npz)")
	f.StringVar(&o.val, "val", "", "held-out data (.npz with labels) for accuracy, best epoch and early stopping")
	f.StringVar(&o.out, "out", "", "trained student (.onnx); weights also go to the same name with .safetensors")
	f.Float64Var(&o.opt.Temperature, "temperature", 4, "softmax temperature of the distillation loss")
	f.Float64Var(&o.opt.Alpha, "alpha", 0.5, "weight of the distillation loss on labeled examples (0 = labels only)")
	f.StringVar(&o.optimizer, "optimizer", "adam", "adam or sgd (momentum 0.9)")
	f.Float64Var(&o.opt.LR, "lr", 0, "learning rate (default 1e-3 adam, 0.05 sgd)")
	f.StringVar(&o.schedule, "schedule", "cosine", "learning-rate schedule: cosine, constant or step")
	f.IntVar(&o.opt.BatchSize, "batch-size", 64, "examples per step")
	f.IntVar(&o.opt.Epochs, "epochs", 10, "passes over the data")
	f.Uint64Var(&o.opt.Seed, "seed", 1, "shuffling seed")
	f.IntVar(&o.opt.Patience, "patience", 0, "stop after this many epochs without a better held-out score (0 = never)")
	f.IntVar(&o.labels, "labels", -1, "use only the first N labels of --data; the rest count as unlabeled")
	f.BoolVar(&o.force, "force", false, "overwrite existing outputs")
	f.BoolVar(&o.asJSON, "json", false, "print the result as JSON")
	reportFlag(f, &o.report)
	return cmd
}

func loadDistillData(path, input string, opts *refit.DecodeOptions) (*distill.Data, error) {
	m, err := refit.OpenWith(path, opts)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	d, err := distill.FromModel(m, input)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return d, nil
}

func runDistill(e *env, o *distillOptions) error {
	if o.student == "" || o.data == "" || o.out == "" {
		return usageError{fmt.Errorf("--student, --data and --out are required")}
	}
	switch o.optimizer {
	case "adam":
		o.opt.Optimizer = distill.Adam
	case "sgd":
		o.opt.Optimizer = distill.SGD
	default:
		return usageError{fmt.Errorf("--optimizer %q: want adam or sgd", o.optimizer)}
	}
	switch o.schedule {
	case "cosine":
		o.opt.Schedule = distill.Cosine
	case "constant":
		o.opt.Schedule = distill.Constant
	case "step":
		o.opt.Schedule = distill.Step
	default:
		return usageError{fmt.Errorf("--schedule %q: want cosine, constant or step", o.schedule)}
	}
	if o.opt.Alpha < 0 || o.opt.Alpha > 1 {
		return usageError{fmt.Errorf("--alpha %g is outside [0, 1]", o.opt.Alpha)}
	}
	if o.opt.Alpha > 0 && o.teacher == "" {
		return usageError{fmt.Errorf("--teacher is required unless --alpha 0")}
	}
	// Both outputs are checked and opened before training and committed together
	// after both are written, so a refused or failed run leaves neither behind.
	st := strings.TrimSuffix(o.out, filepath.Ext(o.out)) + ".safetensors"
	if sameFile(st, o.out) {
		return usageError{fmt.Errorf("--out %s: want an .onnx name (the weights go to %s)", o.out, st)}
	}
	outs, err := createDistillOutputs(e.ctx, o.out, st, o.force)
	if err != nil {
		return err
	}
	defer outs.abort()
	if err := notONNX(o.student); err != nil {
		return err
	}
	student, sfs, err := loadONNX(e.ctx, o.student)
	if err != nil {
		return err
	}
	input := "input"
	if ins := student.GetGraph().GetInput(); len(ins) > 0 {
		input = ins[0].GetName()
	}
	train, err := loadDistillData(o.data, input, &refit.DecodeOptions{MaxMemory: int64(e.maxMemory)})
	if err != nil {
		return err
	}
	if o.labels >= 0 {
		train = train.KeepLabels(o.labels)
	}
	var val *distill.Data
	if o.val != "" {
		if val, err = loadDistillData(o.val, input, &refit.DecodeOptions{MaxMemory: int64(e.maxMemory)}); err != nil {
			return err
		}
	}
	var teacher *runtime.Session
	if o.opt.Alpha > 0 {
		if teacher, _, err = loadSession(o.teacher); err != nil {
			return err
		}
	}
	bar := newCountProgress(e, "epochs", o.opt.Epochs)
	o.opt.Progress = func(s distill.EpochStats) {
		acc := "-"
		if s.ValAccuracy >= 0 {
			acc = fmt.Sprintf("%.2f%%", 100*s.ValAccuracy)
		}
		bar.message(fmt.Sprintf("loss %.4f  lr %.2g  held-out accuracy %s", s.Loss, s.LR, acc))
		bar.step()
	}
	trained, res, err := distill.Train(e.ctx, teacher, student, sfs, train, val, &o.opt)
	bar.done()
	if err != nil {
		return err
	}
	ws, err := distill.Weights(trained, nil)
	if err != nil {
		return err
	}
	if err := writeBuffered(outs.weights, func(bw *bufio.Writer) error {
		return safetensors.Encode(bw, &refit.Model{Format: "safetensors", Tensors: ws}, nil)
	}); err != nil {
		return err
	}
	if err := writeBuffered(outs.model, func(bw *bufio.Writer) error { return onnx.WriteModel(bw, trained, nil) }); err != nil {
		return err
	}
	if err := outs.commit(); err != nil {
		return err
	}
	if o.rep != nil {
		r, err := distillReport(o, st, res)
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
	for _, s := range res.Epochs {
		acc := "-"
		if s.ValAccuracy >= 0 {
			acc = fmt.Sprintf("%.2f%%", 100*s.ValAccuracy)
		}
		fmt.Fprintf(e.stdout, "epoch %d: loss %.4f, held-out accuracy %s\n", s.Epoch, s.Loss, acc)
	}
	acc := ""
	if res.Accuracy >= 0 {
		acc = fmt.Sprintf(" (held-out accuracy %.2f%%)", 100*res.Accuracy)
	}
	stopped := ""
	if res.Stopped {
		stopped = ", stopped early"
	}
	fmt.Fprintf(e.stdout, "best epoch %d%s%s; wrote %s and %s\n", res.BestEpoch, acc, stopped, o.out, st)
	return nil
}

// distillOutputs are the student model (.onnx) and its weights (.safetensors),
// written to pending files and committed together.
type distillOutputs struct {
	model, weights *refit.PendingFile
	weightsExisted bool
}

// createDistillOutputs refuses existing outputs unless force, and opens both
// pending files.
func createDistillOutputs(ctx context.Context, model, weights string, force bool) (*distillOutputs, error) {
	o := &distillOutputs{}
	if _, err := os.Lstat(weights); err == nil {
		o.weightsExisted = true
	}
	var err error
	if o.model, err = refit.CreatePendingContext(ctx, model, force); err != nil {
		return nil, err
	}
	if o.weights, err = refit.CreatePendingContext(ctx, weights, force); err != nil {
		o.model.Abort()
		return nil, err
	}
	return o, nil
}

// commit renames the weights into place, then the model. If the model's rename
// fails, weights that did not exist before are removed again; weights that
// replaced an existing file (--force) cannot be restored. Either way no new
// model is left without its weights.
func (o *distillOutputs) commit() error {
	if err := o.weights.Commit(); err != nil {
		return err
	}
	if err := o.model.Commit(); err != nil {
		if !o.weightsExisted {
			os.Remove(o.weights.Target())
		}
		return err
	}
	return nil
}

// abort discards whatever was not committed.
func (o *distillOutputs) abort() {
	o.weights.Abort()
	o.model.Abort()
}

// createONNX writes mp to a pending file for out, which the caller verifies and
// commits (or aborts).
func createONNX(e *env, out string, force bool, mp *onnxpb.ModelProto) (*refit.PendingFile, error) {
	pf, err := refit.CreatePendingContext(e.ctx, out, force)
	if err != nil {
		return nil, err
	}
	if err := writeBuffered(pf, func(w *bufio.Writer) error { return onnx.WriteModel(w, mp, nil) }); err != nil {
		pf.Abort()
		return nil, err
	}
	return pf, nil
}

// writeBuffered writes through a buffer to pf without committing it.
func writeBuffered(pf *refit.PendingFile, fn func(*bufio.Writer) error) error {
	bw := bufio.NewWriterSize(pf, 1<<20)
	if err := fn(bw); err != nil {
		return err
	}
	return bw.Flush()
}
