package cli

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/refit-ml/refit/runtime"
	"github.com/refit-ml/refit/tensor"
)

const shapeUsage = "shape of a random input as name=1x3x48x320, or 1x3x48x320 for a model with one input (repeatable); default: declared sizes, --batch for the first symbolic dimension, and for other symbolic ones the smallest size the graph's Conv and pooling windows accept"

// parseShapes turns --shape values into shapes by input name. A value without a name
// applies to the model's only input.
func parseShapes(specs []string, s *runtime.Session) (map[string][]int64, error) {
	if len(specs) == 0 {
		return nil, nil
	}
	var names []string
	for _, in := range s.Inputs() {
		names = append(names, in.Name)
	}
	out := map[string][]int64{}
	for _, spec := range specs {
		name, dims := "", spec
		if i := strings.LastIndex(spec, "="); i >= 0 {
			name, dims = spec[:i], spec[i+1:]
			if name == "" {
				return nil, usageError{fmt.Errorf("--shape %q: want name=1x3x224x224", spec)}
			}
		} else {
			if len(names) != 1 {
				return nil, usageError{fmt.Errorf("--shape %q: the model has %d inputs (%s); name one as NAME=%s", spec, len(names), strings.Join(names, ", "), spec)}
			}
			name = names[0]
		}
		shape, err := parseDims(dims)
		if err != nil {
			return nil, usageError{fmt.Errorf("--shape %q: %w", spec, err)}
		}
		if _, dup := out[name]; dup {
			return nil, usageError{fmt.Errorf("--shape %q: input %q already has a shape", spec, name)}
		}
		out[name] = shape
	}
	return out, nil
}

// parseDims reads "1x3x48x320" (or 1,3,48,320); "" is a scalar.
func parseDims(s string) ([]int64, error) {
	shape := []int64{}
	if s == "" {
		return shape, nil
	}
	s = strings.NewReplacer("X", "x", ",", "x").Replace(s)
	for _, f := range strings.Split(s, "x") {
		n, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("dimension %q is not a positive integer", f)
		}
		shape = append(shape, n)
	}
	return shape, nil
}

// formatDims writes a shape the way --shape reads it.
func formatDims(shape []int64) string {
	parts := make([]string, len(shape))
	for i, d := range shape {
		parts[i] = strconv.FormatInt(d, 10)
	}
	return strings.Join(parts, "x")
}

// shapeHintError is a failed run on random inputs whose shape Refit chose for
// symbolic dimensions: the message adds which shapes were used and how to give
// others; the run's own error stays in the chain and in the message.
type shapeHintError struct {
	err    error
	shapes []runtime.InputShape
	dims   map[string]string // input name -> declared dims, "[N 3 48 W]"
}

func (e *shapeHintError) Unwrap() error { return e.err }

func (e *shapeHintError) Error() string {
	var b strings.Builder
	b.WriteString(e.err.Error())
	b.WriteString("\n  the inputs were random, with sizes chosen for dimensions the model leaves open:")
	var example []string
	for _, s := range e.shapes {
		if !s.Guessed() {
			continue
		}
		var open []string
		for j, i := range s.Open {
			p := s.Params[j]
			if p == "" {
				p = "?"
			}
			open = append(open, fmt.Sprintf("%s=%d", p, s.Shape[i]))
		}
		fmt.Fprintf(&b, "\n    input %q declared %s, run as %v (%s)", s.Name, e.dims[s.Name], tensor.Shape(s.Shape), strings.Join(open, ", "))
		dims := strings.Split(formatDims(s.Shape), "x")
		for j, i := range s.Open {
			if p := s.Params[j]; p != "" {
				dims[i] = "<" + p + ">"
			}
		}
		example = append(example, "--shape "+s.Name+"="+strings.Join(dims, "x"))
	}
	fmt.Fprintf(&b, "\n  if that shape is the cause, give the real one, e.g. %s with the sizes the model expects (or real inputs with --data)", strings.Join(example, " "))
	return b.String()
}

// explainShapes wraps err, from running a model on set, with the shapes chosen for
// open dimensions; err is returned as is when set is real data, explicit --shape
// values fixed every dimension, or the error is not a node's (runtime.NodeError)
// or the run was stopped (cancelled, --timeout).
func explainShapes(err error, set *inputSet) error {
	if err == nil || set == nil || set.randomRows == 0 {
		return err
	}
	// Only a node's failure can come from an input's size; a stopped run cannot.
	var ne *runtime.NodeError
	if !errors.As(err, &ne) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var he *shapeHintError
	if errors.As(err, &he) {
		return err
	}
	guessed := false
	for _, s := range set.shapes {
		guessed = guessed || s.Guessed()
	}
	if !guessed {
		return err
	}
	return &shapeHintError{err: err, shapes: set.shapes, dims: set.declared}
}

// randomShapes resolves --shape and --batch for s without making inputs: the shapes
// to hand to a library call that makes its own random inputs, and a set that
// explainShapes can describe a failure of that call with.
func (r *runInputs) randomShapes(s *runtime.Session) (map[string][]int64, *inputSet, error) {
	shapes, err := parseShapes(r.shapes, s)
	if err != nil {
		return nil, nil, err
	}
	set := &inputSet{randomRows: 1, declared: map[string]string{}}
	if set.shapes, err = runtime.InputShapes(s, &runtime.RandomOptions{DefaultDim: r.batch, Shapes: shapes}); err != nil {
		if errors.Is(err, runtime.ErrInputShape) {
			return nil, nil, usageError{fmt.Errorf("--shape: %w", err)}
		}
		return nil, nil, err
	}
	for _, in := range s.Inputs() {
		set.declared[in.Name] = in.DeclaredShape()
	}
	exact := map[string][]int64{}
	for _, is := range set.shapes {
		exact[is.Name] = is.Shape
	}
	return exact, set, nil
}
