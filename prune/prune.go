package prune

import (
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/tensor"
)

// ErrOptions reports invalid options (sparsity out of range, N:M not dividing a dimension).
var ErrOptions = errors.New("prune: invalid options")

// Method selects how weights are chosen for removal.
type Method int

const (
	Magnitude Method = iota // per tensor: the smallest |w| of each tensor
	Global                  // one threshold across all selected tensors
	NM                      // N:M semi-structured: N kept of every M along the input dimension
	Structure               // remove whole channels (ONNX graphs; see Structured)
)

var methodNames = []string{"magnitude", "global", "nm", "structured"}

func (m Method) String() string {
	if m >= 0 && int(m) < len(methodNames) {
		return methodNames[m]
	}
	return fmt.Sprintf("Method(%d)", int(m))
}

// ParseMethod parses a Method name as printed by String.
func ParseMethod(s string) (Method, error) {
	if i := slices.Index(methodNames, s); i >= 0 {
		return Method(i), nil
	}
	return 0, fmt.Errorf("%w: unknown method %q (want magnitude, global, nm or structured)", ErrOptions, s)
}

// Score ranks weights and channels.
type Score int

const (
	L1 Score = iota // |w|, or the sum of |w| over a group
	L2              // w², or the Euclidean norm of a group
)

func (s Score) String() string {
	if s == L2 {
		return "l2"
	}
	return "l1"
}

// ParseScore parses "l1" or "l2".
func ParseScore(s string) (Score, error) {
	switch s {
	case "l1", "":
		return L1, nil
	case "l2":
		return L2, nil
	}
	return 0, fmt.Errorf("%w: unknown score %q (want l1 or l2)", ErrOptions, s)
}

// Options configure Weights. The zero value prunes nothing (sparsity 0).
type Options struct {
	Method   Method
	Sparsity float64 // fraction of elements to zero, in [0, 1); ignored by NM
	N, M     int     // NM: keep N of every M (default 2:4)
	Score    Score
	// Include and Exclude select tensors by name; nil Include means every float
	// tensor of rank >= 2 (weights, not biases or norms).
	Include, Exclude *regexp.Regexp
	// InputAxis gives the input dimension of a weight for NM; nil means axis 1 for
	// rank >= 2 ([out, in, ...] as in PyTorch), which suits most checkpoints.
	InputAxis func(t *tensor.Tensor) int
	// Progress, when set, is called after each selected tensor is pruned with the
	// count done and the count selected, on the calling goroutine.
	Progress func(done, total int)
}

func (o *Options) check() error {
	if o.Sparsity < 0 || o.Sparsity >= 1 || math.IsNaN(o.Sparsity) {
		return fmt.Errorf("%w: sparsity %g is outside [0, 1)", ErrOptions, o.Sparsity)
	}
	if o.Method == NM {
		if o.N < 0 || o.M <= 0 || o.N > o.M {
			return fmt.Errorf("%w: N:M %d:%d (want 0 <= N <= M, M > 0)", ErrOptions, o.N, o.M)
		}
	}
	if o.Method == Structure {
		return fmt.Errorf("%w: structured pruning works on ONNX graphs (use Structured)", ErrOptions)
	}
	return nil
}

// LayerReport describes one tensor before and after pruning.
type LayerReport struct {
	Name          string       `json:"name"`
	Shape         tensor.Shape `json:"shape"`
	NewShape      tensor.Shape `json:"new_shape,omitempty"` // structured pruning
	Params        int64        `json:"params"`
	NewParams     int64        `json:"new_params"`
	ZerosBefore   int64        `json:"zeros_before"`
	ZerosAfter    int64        `json:"zeros_after"`
	SparsityAfter float64      `json:"sparsity_after"`
}

// Report sums up a pruning run.
type Report struct {
	Method        string        `json:"method"`
	Layers        []LayerReport `json:"layers"`
	ParamsBefore  int64         `json:"params_before"` // all tensors of the model
	ParamsAfter   int64         `json:"params_after"`
	NonzeroBefore int64         `json:"nonzero_before"`
	NonzeroAfter  int64         `json:"nonzero_after"`
	// Skipped lists the candidates left unchanged and why: weight tensors (rank >= 2)
	// not pruned, or for structured pruning the Conv/Gemm/MatMul nodes not cut.
	Skipped []Skipped `json:"skipped"`
}

// Selected reports whether Weights would consider t under o.
func (o *Options) Selected(t *tensor.Tensor) bool {
	return o.skipReason(t) == ""
}

// notWeight is skipReason's answer for tensors that are not candidates at all:
// rank below 2 (biases, norm scales, scalars) or empty.
const notWeight = "-"

// skipReason says why Weights leaves t alone: "" when it prunes t, notWeight when t
// is no weight matrix, else a reason for the report.
func (o *Options) skipReason(t *tensor.Tensor) string {
	if len(t.Shape) < 2 || t.NumElements() == 0 {
		return notWeight
	}
	if t.DType.Quantized() {
		return fmt.Sprintf("block-quantized (%v): prune the float model before quantizing", t.DType)
	}
	if !t.DType.Float() {
		return fmt.Sprintf("not floating point (%v)", t.DType)
	}
	if o.Include != nil && !o.Include.MatchString(t.Name) {
		return "not matched by --include"
	}
	if o.Exclude != nil && o.Exclude.MatchString(t.Name) {
		return "matched by --exclude"
	}
	return ""
}

// Skipped is a candidate (a weight tensor, or an ONNX node for structured pruning)
// that a run left unchanged, and why.
type Skipped struct {
	Name   string `json:"name"`
	OpType string `json:"op_type,omitempty"` // structured pruning: the node's operator
	Reason string `json:"reason"`
}

// ErrNothingPruned reports a run that changed no weight (Report.Unchanged).
var ErrNothingPruned = errors.New("prune: nothing pruned")

// Unchanged returns nil when the run pruned at least one layer, else an error
// wrapping ErrNothingPruned that says why: no candidates, or each candidate's reason.
func (r *Report) Unchanged() error {
	if len(r.Layers) > 0 {
		return nil
	}
	if len(r.Skipped) == 0 {
		what := "float weight tensors of rank 2 or more"
		if r.Method == Structure.String() {
			what = "Conv, Gemm or MatMul nodes with a weight initializer"
		}
		return fmt.Errorf("%w: the model has no %s (%d parameters in all)", ErrNothingPruned, what, r.ParamsBefore)
	}
	return fmt.Errorf("%w: every candidate was skipped: %s", ErrNothingPruned, SkipSummary(r.Skipped, 8))
}

// SkipSummary lists up to limit skipped candidates with their reasons, then how many
// more there are.
func SkipSummary(skipped []Skipped, limit int) string {
	var parts []string
	for i, s := range skipped {
		if i == limit {
			parts = append(parts, fmt.Sprintf("and %d more", len(skipped)-limit))
			break
		}
		parts = append(parts, s.Name+": "+s.Reason)
	}
	return strings.Join(parts, "; ")
}

// Weights prunes the float weights of m and returns a new model with the same tensor
// names, dtypes and shapes, and a report. m is not modified; tensors left alone are
// shared, pruned ones compute their bytes lazily when read.
func Weights(m *refit.Model, opts *Options) (*refit.Model, *Report, error) {
	return WeightsContext(context.Background(), m, opts)
}

// WeightsContext is Weights that stops between tensors once ctx is done; the pruned
// tensors it returns fail to compute after that too.
func WeightsContext(ctx context.Context, m *refit.Model, opts *Options) (*refit.Model, *Report, error) {
	o := Options{}
	if opts != nil {
		o = *opts
	}
	if o.Method == NM && o.N == 0 && o.M == 0 {
		o.N, o.M = 2, 4
	}
	if err := o.check(); err != nil {
		return nil, nil, err
	}
	rep := &Report{Method: o.Method.String(), Skipped: []Skipped{}}
	var sel []int
	for i, t := range m.Tensors {
		n := t.NumElements()
		rep.ParamsBefore += n
		switch why := o.skipReason(t); why {
		case "":
			sel = append(sel, i)
		case notWeight:
		default:
			rep.Skipped = append(rep.Skipped, Skipped{Name: t.Name, Reason: why})
		}
	}
	// A global threshold is the k-th smallest score over every selected element;
	// ties at the threshold are zeroed in tensor order until k is reached.
	var globalT float32
	var tiesLeft int64
	if o.Method == Global {
		// The k-th smallest magnitude over every selected element, found by counting
		// (two passes, one tensor in memory at a time) rather than by sorting them all.
		var total int64
		for _, i := range sel {
			total += m.Tensors[i].NumElements()
		}
		k := int64(math.Round(o.Sparsity * float64(total)))
		if k > 0 {
			key, below, err := kthMagnitude(k, func(fn func([]float32)) error {
				for _, i := range sel {
					if err := ctx.Err(); err != nil {
						return err
					}
					v, err := m.Tensors[i].Float32s()
					if err != nil {
						return fmt.Errorf("prune: %s: %w", m.Tensors[i].Name, err)
					}
					fn(v)
				}
				return nil
			})
			if err != nil {
				return nil, nil, err
			}
			globalT = math.Float32frombits(key)
			tiesLeft = k - below
		} else {
			globalT = -1
		}
	}
	out := slices.Clone(m.Tensors)
	for _, i := range sel {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		t := m.Tensors[i]
		var prune func(dst, src []float32) error
		switch o.Method {
		case Magnitude:
			k := int(math.Round(o.Sparsity * float64(t.NumElements())))
			prune = func(dst, src []float32) error { MagnitudeKernel(dst, src, k); return nil }
		case Global:
			ties := tiesLeft
			var used int64
			prune = func(dst, src []float32) error {
				used = ThresholdKernel(dst, src, globalT, ties)
				return nil
			}
			// Apply once now to learn how many ties this tensor takes.
			src, err := t.Float32s()
			if err != nil {
				return nil, nil, fmt.Errorf("prune: %s: %w", t.Name, err)
			}
			prune(make([]float32, len(src)), src)
			tiesLeft -= used
			fixed := ties
			prune = func(dst, src []float32) error { ThresholdKernel(dst, src, globalT, fixed); return nil }
		case NM:
			axis := 1
			if o.InputAxis != nil {
				axis = o.InputAxis(t)
			}
			outer, dim, inner, err := split(t.Shape, axis)
			if err != nil {
				return nil, nil, err
			}
			if dim%int64(o.M) != 0 {
				return nil, nil, fmt.Errorf("%w: %s: M=%d does not divide input dimension %d (axis %d of %v)", ErrOptions, t.Name, o.M, dim, axis, t.Shape)
			}
			n, mm := o.N, o.M
			prune = func(dst, src []float32) error {
				NMKernel(dst, src, int(outer), int(dim), int(inner), n, mm)
				return nil
			}
		}
		nt, lr, err := apply(ctx, t, prune)
		if err != nil {
			return nil, nil, err
		}
		out[i] = nt
		rep.Layers = append(rep.Layers, lr)
		if o.Progress != nil {
			o.Progress(len(rep.Layers), len(sel))
		}
	}
	res := m.Derive(out)
	rep.ParamsAfter = rep.ParamsBefore
	rep.NonzeroBefore, rep.NonzeroAfter = rep.ParamsBefore, rep.ParamsBefore
	for _, l := range rep.Layers {
		rep.NonzeroBefore -= l.ZerosBefore
		rep.NonzeroAfter -= l.ZerosAfter
	}
	return res, rep, nil
}

// apply prunes t once to fill the report and returns a lazy tensor that prunes again
// when read, so the pruned values are not held in memory.
func apply(ctx context.Context, t *tensor.Tensor, prune func(dst, src []float32) error) (*tensor.Tensor, LayerReport, error) {
	src, err := t.Float32s()
	if err != nil {
		return nil, LayerReport{}, fmt.Errorf("prune: %s: %w", t.Name, err)
	}
	dst := make([]float32, len(src))
	if err := prune(dst, src); err != nil {
		return nil, LayerReport{}, err
	}
	n := int64(len(src))
	lr := LayerReport{Name: t.Name, Shape: t.Shape.Clone(), Params: n, NewParams: n,
		ZerosBefore: countZeros(src), ZerosAfter: countZeros(dst)}
	lr.SparsityAfter = float64(lr.ZerosAfter) / float64(n)
	size := t.Size()
	d := t.DType
	lazy := tensor.NewLazy(size, func() ([]byte, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		src, err := t.Float32s()
		if err != nil {
			return nil, err
		}
		dst := make([]float32, len(src))
		if err := prune(dst, src); err != nil {
			return nil, err
		}
		b := make([]byte, size)
		if err := tensor.FromFloat32(b, dst, d); err != nil {
			return nil, err
		}
		return b, nil
	})
	nt, err := t.WithData(d, t.Shape, lazy)
	return nt, lr, err
}

func split(s tensor.Shape, axis int) (outer, dim, inner int64, err error) {
	if axis < 0 || axis >= len(s) {
		return 0, 0, 0, fmt.Errorf("%w: input axis %d out of range for shape %v", ErrOptions, axis, s)
	}
	outer, inner = 1, 1
	for _, d := range s[:axis] {
		outer *= d
	}
	for _, d := range s[axis+1:] {
		inner *= d
	}
	return outer, s[axis], inner, nil
}

func countZeros(v []float32) int64 {
	var n int64
	for _, x := range v {
		if x == 0 {
			n++
		}
	}
	return n
}

func abs32(x float32) float32 { return math.Float32frombits(math.Float32bits(x) &^ (1 << 31)) }
