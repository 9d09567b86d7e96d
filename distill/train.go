package distill

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/refit-ml/refit/compare"
	"github.com/refit-ml/refit/format/onnx"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	onnxgraph "github.com/refit-ml/refit/graph"
	"github.com/refit-ml/refit/runtime"
	"github.com/refit-ml/refit/tensor"
)

// ErrIncompatible reports a teacher and student (or data) that do not fit together.
var ErrIncompatible = errors.New("distill: incompatible inputs")

// Data is a dataset held in memory: N examples of Shape[1:] each, and optional labels
// (-1 marks an unlabeled example).
type Data struct {
	X      []float32
	Shape  []int64 // [N, ...]
	Labels []int64 // nil or N entries
}

// Len is the number of examples.
func (d *Data) Len() int {
	if d == nil || len(d.Shape) == 0 {
		return 0
	}
	return int(d.Shape[0])
}

func (d *Data) example() int { return int(tensor.Shape(d.Shape[1:]).Elements()) }

// batch copies the examples idx into one input.
func (d *Data) batch(idx []int) ([]float32, []int64) {
	e := d.example()
	x := make([]float32, 0, len(idx)*e)
	for _, i := range idx {
		x = append(x, d.X[i*e:(i+1)*e]...)
	}
	shape := slices.Clone(d.Shape)
	shape[0] = int64(len(idx))
	return x, shape
}

// Check validates lengths.
func (d *Data) Check() error {
	if len(d.Shape) < 2 {
		return fmt.Errorf("%w: data shape %v: want [N, ...]", ErrIncompatible, d.Shape)
	}
	n, err := tensor.Shape(d.Shape).NumElements()
	if err != nil || n != int64(len(d.X)) {
		return fmt.Errorf("%w: data shape %v does not match %d values", ErrIncompatible, d.Shape, len(d.X))
	}
	if d.Labels != nil && len(d.Labels) != d.Len() {
		return fmt.Errorf("%w: %d labels for %d examples", ErrIncompatible, len(d.Labels), d.Len())
	}
	return nil
}

// Optimizer is the update rule.
type Optimizer int

const (
	Adam Optimizer = iota
	SGD            // with momentum 0.9
)

// Schedule is the learning-rate schedule over epochs.
type Schedule int

const (
	Cosine   Schedule = iota // lr * (1 + cos(pi * epoch / epochs)) / 2
	Constant                 // lr
	Step                     // lr halved every third of the epochs
)

// Options configure Train; zero fields take the documented defaults.
type Options struct {
	Temperature float64 // softening of both distributions; default 4
	// Alpha weighs the distillation loss: loss = Alpha*T²*KL(teacher_T || student_T)
	// + (1-Alpha)*CE(student, label) on labeled examples; unlabeled examples use
	// the distillation term alone. Alpha 0 trains on labels only (no teacher).
	Alpha     float64
	Optimizer Optimizer
	LR        float64 // default 1e-3 (Adam), 0.05 (SGD)
	Schedule  Schedule
	BatchSize int    // default 64
	Epochs    int    // default 10
	Seed      uint64 // shuffling
	Patience  int    // stop after this many epochs without a better held-out score; 0 = never
	// Progress, when set, is called after every epoch.
	Progress func(EpochStats)
}

// EpochStats describe one epoch.
type EpochStats struct {
	Epoch       int     `json:"epoch"`
	Loss        float64 `json:"loss"`
	LR          float64 `json:"lr"`
	ValAccuracy float64 `json:"val_accuracy"` // -1 without held-out labels
	ValLoss     float64 `json:"val_loss"`     // cross-entropy on held-out labels, or KL to the teacher
}

// Result sums up a run.
type Result struct {
	Epochs    []EpochStats `json:"epochs"`
	BestEpoch int          `json:"best_epoch"`
	Accuracy  float64      `json:"val_accuracy"`
	Stopped   bool         `json:"early_stopped"`
}

// Logits runs a session over data in batches and returns the [N, classes] outputs.
func Logits(ctx context.Context, s *runtime.Session, d *Data, batch int) ([]float32, int, error) {
	if len(s.Inputs()) != 1 || len(s.Outputs()) != 1 {
		return nil, 0, fmt.Errorf("%w: teacher must have one input and one output", ErrIncompatible)
	}
	in := s.Inputs()[0].Name
	var out []float32
	classes := 0
	for lo := 0; lo < d.Len(); lo += batch {
		idx := make([]int, 0, batch)
		for i := lo; i < min(lo+batch, d.Len()); i++ {
			idx = append(idx, i)
		}
		x, shape := d.batch(idx)
		v, err := runtime.FromSlice(x, shape...)
		if err != nil {
			return nil, 0, err
		}
		res, err := s.Run(ctx, map[string]*runtime.Value{in: v})
		if err != nil {
			return nil, 0, fmt.Errorf("teacher: %w", err)
		}
		y := res[s.Outputs()[0].Name]
		if y == nil || len(y.Shape) != 2 || y.Float32s() == nil {
			return nil, 0, fmt.Errorf("%w: teacher output must be float32 [N, classes]", ErrIncompatible)
		}
		classes = int(y.Shape[1])
		out = append(out, y.Float32s()...)
	}
	return out, classes, nil
}

func (o *Options) defaults() {
	if o.Temperature <= 0 {
		o.Temperature = 4
	}
	if o.LR <= 0 {
		o.LR = 1e-3
		if o.Optimizer == SGD {
			o.LR = 0.05
		}
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 64
	}
	if o.Epochs <= 0 {
		o.Epochs = 10
	}
}

// Train fits the student (an ONNX model) to the teacher's softened outputs and the
// labels of train, and returns the trained student as a new ModelProto (weights
// replaced, graph unchanged; the input is not modified). teacher may be nil when
// Alpha is 0. val (may be nil) picks the best epoch and drives early stopping.
func Train(ctx context.Context, teacher *runtime.Session, student *onnxpb.ModelProto, fsys fs.FS, train, val *Data, opts *Options) (_ *onnxpb.ModelProto, _ *Result, err error) {
	defer func() {
		if r := recover(); r != nil { // a kernel bug must not take the process down
			err = fmt.Errorf("distill: internal error: %v", r)
		}
	}()
	o := Options{}
	if opts != nil {
		o = *opts
	}
	o.defaults()
	if o.Alpha < 0 || o.Alpha > 1 || math.IsNaN(o.Alpha) {
		return nil, nil, fmt.Errorf("%w: alpha %g is outside [0, 1]", ErrIncompatible, o.Alpha)
	}
	if err := train.Check(); err != nil {
		return nil, nil, fmt.Errorf("train data: %w", err)
	}
	if val != nil {
		if err := val.Check(); err != nil {
			return nil, nil, fmt.Errorf("held-out data: %w", err)
		}
	}
	g, err := compile(student, fsys)
	if err != nil {
		return nil, nil, err
	}
	if err := checkInput(student, train); err != nil {
		return nil, nil, err
	}
	// One forward pass on a single example checks the shapes and gives the classes.
	x0, s0 := train.batch([]int{0})
	y0, err := g.forward(x0, s0)
	if err != nil {
		return nil, nil, err
	}
	if len(y0.shape) != 2 {
		return nil, nil, fmt.Errorf("%w: student output has shape %v, want [N, classes] logits", ErrIncompatible, y0.shape)
	}
	classes := int(y0.shape[1])
	var soft []float32
	if o.Alpha > 0 {
		if teacher == nil {
			return nil, nil, fmt.Errorf("%w: alpha %g needs a teacher", ErrIncompatible, o.Alpha)
		}
		tl, tc, err := Logits(ctx, teacher, train, 256)
		if err != nil {
			return nil, nil, err
		}
		if tc != classes {
			return nil, nil, fmt.Errorf("%w: teacher has %d outputs per example, student %d", ErrIncompatible, tc, classes)
		}
		soft = tl
	}
	for _, l := range train.Labels {
		if l >= int64(classes) {
			return nil, nil, fmt.Errorf("%w: label %d but only %d classes", ErrIncompatible, l, classes)
		}
	}
	if val != nil {
		if !slices.Equal(val.Shape[1:], train.Shape[1:]) {
			return nil, nil, fmt.Errorf("%w: held-out examples have shape %v, training examples %v", ErrIncompatible, val.Shape[1:], train.Shape[1:])
		}
		for _, l := range val.Labels {
			if l >= int64(classes) {
				return nil, nil, fmt.Errorf("%w: held-out label %d but only %d classes", ErrIncompatible, l, classes)
			}
		}
	}
	// Examples that carry a signal: labeled ones, plus all when distilling.
	var pool []int
	for i := 0; i < train.Len(); i++ {
		if soft != nil || (train.Labels != nil && train.Labels[i] >= 0) {
			pool = append(pool, i)
		}
	}
	if len(pool) == 0 {
		return nil, nil, fmt.Errorf("%w: no labeled examples and no teacher", ErrIncompatible)
	}
	var valSoft []float32
	if val != nil && teacher != nil && val.Labels == nil {
		if valSoft, _, err = Logits(ctx, teacher, val, 256); err != nil {
			return nil, nil, err
		}
	}
	rng := rand.New(rand.NewPCG(o.Seed, 0xd157))
	res := &Result{BestEpoch: -1}
	best := math.Inf(-1)
	var bestWeights map[string][]float32
	step := 0
	for ep := 0; ep < o.Epochs; ep++ {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		lr := o.lr(ep)
		rng.Shuffle(len(pool), func(i, j int) { pool[i], pool[j] = pool[j], pool[i] })
		var total float64
		for lo := 0; lo < len(pool); lo += o.BatchSize {
			idx := pool[lo:min(lo+o.BatchSize, len(pool))]
			x, shape := train.batch(idx)
			y, err := g.forward(x, shape)
			if err != nil {
				return nil, nil, err
			}
			dy := make([]float32, len(y.data))
			for r, i := range idx {
				lab := int64(-1)
				if train.Labels != nil {
					lab = train.Labels[i]
				}
				var t []float32
				if soft != nil {
					t = soft[i*classes : (i+1)*classes]
				}
				total += lossGrad(dy[r*classes:(r+1)*classes], y.data[r*classes:(r+1)*classes], t, lab, o.Alpha, o.Temperature, len(idx))
			}
			g.backward(dy)
			step++
			g.update(o.Optimizer, lr, step)
		}
		st := EpochStats{Epoch: ep + 1, Loss: total / float64(len(pool)), LR: lr, ValAccuracy: -1}
		score := -st.Loss
		if val != nil {
			acc, vloss, err := evaluate(g, val, valSoft, classes, o.Temperature)
			if err != nil {
				return nil, nil, err
			}
			st.ValAccuracy, st.ValLoss = acc, vloss
			score = -vloss
			if acc >= 0 {
				score = acc
			}
		}
		res.Epochs = append(res.Epochs, st)
		if o.Progress != nil {
			o.Progress(st)
		}
		if score > best {
			best, res.BestEpoch, res.Accuracy = score, ep+1, st.ValAccuracy
			bestWeights = g.snapshot()
		} else if o.Patience > 0 && ep+1-res.BestEpoch >= o.Patience {
			res.Stopped = true
			break
		}
	}
	out := proto.Clone(student).(*onnxpb.ModelProto)
	if err := writeBack(out, g, bestWeights); err != nil {
		return nil, nil, err
	}
	return out, res, nil
}

func (o *Options) lr(ep int) float64 {
	switch o.Schedule {
	case Constant:
		return o.LR
	case Step:
		third := max(1, o.Epochs/3)
		return o.LR * math.Pow(0.5, float64(ep/third))
	}
	return o.LR * (1 + math.Cos(math.Pi*float64(ep)/float64(o.Epochs))) / 2
}

// checkInput compares the data's example shape with the student's declared input.
func checkInput(mp *onnxpb.ModelProto, d *Data) error {
	for _, in := range mp.GetGraph().GetInput() {
		dims := in.GetType().GetTensorType().GetShape().GetDim()
		if dims == nil {
			continue
		}
		if len(dims) != len(d.Shape) {
			return fmt.Errorf("%w: data examples have shape %v, student input %q has rank %d", ErrIncompatible, d.Shape, in.GetName(), len(dims))
		}
		for i, dm := range dims[1:] {
			if v := dm.GetDimValue(); v > 0 && v != d.Shape[i+1] {
				return fmt.Errorf("%w: data shape %v does not match student input %q dimension %d = %d", ErrIncompatible, d.Shape, in.GetName(), i+1, v)
			}
		}
		return nil
	}
	return nil
}

// lossGrad adds the gradient of one example's loss with respect to the logits s
// (divided by batch) to dst and returns the loss.
func lossGrad(dst, s, t []float32, label int64, alpha, temp float64, batch int) float64 {
	inv := 1 / float64(batch)
	loss := 0.0
	hardW, softW := 1-alpha, alpha
	if label < 0 {
		hardW, softW = 0, 1
	}
	if t == nil {
		softW = 0
		hardW = 1
	}
	if softW > 0 {
		ps := softmaxT(s, temp)
		pt := softmaxT(t, temp)
		kl := 0.0
		for i := range ps {
			if pt[i] > 0 {
				kl += pt[i] * (math.Log(pt[i]) - math.Log(math.Max(ps[i], 1e-30)))
			}
			// d(T² KL)/ds = T (ps - pt)
			dst[i] += float32(softW * temp * (ps[i] - pt[i]) * inv)
		}
		loss += softW * temp * temp * kl
	}
	if hardW > 0 && label >= 0 {
		p := softmaxT(s, 1)
		loss += hardW * -math.Log(math.Max(p[label], 1e-30))
		for i := range p {
			g := p[i]
			if int64(i) == label {
				g--
			}
			dst[i] += float32(hardW * g * inv)
		}
	}
	return loss
}

func softmaxT(v []float32, temp float64) []float64 {
	m := math.Inf(-1)
	for _, x := range v {
		m = math.Max(m, float64(x)/temp)
	}
	out := make([]float64, len(v))
	sum := 0.0
	for i, x := range v {
		out[i] = math.Exp(float64(x)/temp - m)
		sum += out[i]
	}
	for i := range out {
		out[i] /= sum
	}
	return out
}

// evaluate returns accuracy (-1 without labels) and the held-out loss.
func evaluate(g *graph, d *Data, soft []float32, classes int, temp float64) (float64, float64, error) {
	correct, labeled := 0, 0
	loss := 0.0
	for lo := 0; lo < d.Len(); lo += 256 {
		idx := make([]int, 0, 256)
		for i := lo; i < min(lo+256, d.Len()); i++ {
			idx = append(idx, i)
		}
		x, shape := d.batch(idx)
		y, err := g.forward(x, shape)
		if err != nil {
			return 0, 0, err
		}
		for r, i := range idx {
			row := y.data[r*classes : (r+1)*classes]
			if d.Labels != nil && d.Labels[i] >= 0 {
				labeled++
				if compare.Argmax(row) == int(d.Labels[i]) {
					correct++
				}
				p := softmaxT(row, 1)
				loss -= math.Log(math.Max(p[d.Labels[i]], 1e-30))
			} else if soft != nil {
				tmp := make([]float32, classes)
				loss += lossGrad(tmp, row, soft[i*classes:(i+1)*classes], -1, 1, temp, 1)
			}
		}
	}
	if labeled == 0 {
		return -1, loss / float64(max(1, d.Len())), nil
	}
	return float64(correct) / float64(labeled), loss / float64(labeled), nil
}

// Accuracy runs the student on d and returns top-1 accuracy on its labels.
func Accuracy(student *onnxpb.ModelProto, fsys fs.FS, d *Data) (float64, error) {
	g, err := compile(student, fsys)
	if err != nil {
		return 0, err
	}
	y, err := g.forward(d.batch([]int{0}))
	if err != nil {
		return 0, err
	}
	acc, _, err := evaluate(g, d, nil, int(y.shape[1]), 1)
	return acc, err
}

const (
	beta1, beta2, adamEps = 0.9, 0.999, 1e-8
	momentum              = 0.9
)

// update applies one optimizer step to every trainable parameter.
func (g *graph) update(opt Optimizer, lr float64, step int) {
	c1 := 1 - math.Pow(beta1, float64(step))
	c2 := 1 - math.Pow(beta2, float64(step))
	for _, name := range g.order {
		p := g.params[name]
		if !p.trainable || p.v.grad == nil {
			continue
		}
		if p.m == nil {
			p.m = make([]float32, len(p.v.data))
			p.s = make([]float32, len(p.v.data))
		}
		for i, gr := range p.v.grad {
			switch opt {
			case SGD:
				p.m[i] = momentum*p.m[i] + gr
				p.v.data[i] -= float32(lr) * p.m[i]
			default:
				p.m[i] = beta1*p.m[i] + (1-beta1)*gr
				p.s[i] = beta2*p.s[i] + (1-beta2)*gr*gr
				mh := float64(p.m[i]) / c1
				vh := float64(p.s[i]) / c2
				p.v.data[i] -= float32(lr * mh / (math.Sqrt(vh) + adamEps))
			}
		}
	}
}

func (g *graph) snapshot() map[string][]float32 {
	s := map[string][]float32{}
	for name, p := range g.params {
		if p.trainable {
			s[name] = slices.Clone(p.v.data)
		}
	}
	return s
}

// writeBack replaces the student's float initializers with the trained values.
func writeBack(mp *onnxpb.ModelProto, g *graph, weights map[string][]float32) error {
	e := onnxgraph.NewEditor(mp.Graph)
	for _, tp := range mp.Graph.Initializer {
		w, ok := weights[tp.GetName()]
		if !ok {
			continue
		}
		t, err := tensor.NewF32(tp.GetName(), g.params[tp.GetName()].v.shape, w)
		if err != nil {
			return err
		}
		np, err := onnx.TensorToProto(t)
		if err != nil {
			return err
		}
		e.SetInitializer(np)
	}
	return nil
}

// Weights returns the float initializers of mp as float32 tensors (for safetensors).
func Weights(mp *onnxpb.ModelProto, fsys fs.FS) ([]*tensor.Tensor, error) {
	var out []*tensor.Tensor
	for _, tp := range mp.GetGraph().GetInitializer() {
		t, err := onnx.TensorFromProto(tp, fsys)
		if err != nil {
			return nil, err
		}
		if t.DType == tensor.F32 {
			out = append(out, t)
		}
	}
	return out, nil
}
