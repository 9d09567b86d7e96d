package cli

import (
	"context"
	"fmt"

	"github.com/refit-ml/refit/quant/onnxq"
	"github.com/refit-ml/refit/runtime"
	"github.com/refit-ml/refit/tensor"
)

// runRows runs s on vals. When the model fixes its inputs' first dimension (a batch of
// 1, as many exported models declare it) and vals stack several such batches, it runs
// them one at a time and stacks the outputs, so held-out data of many rows can
// evaluate it.
//
// Inputs given whole (a recurrent state beside rows of audio, see onnxq.Rows) make it
// run one row at a time, each with the whole inputs.
func runRows(ctx context.Context, s *runtime.Session, vals map[string]*runtime.Value) (map[string]*runtime.Value, error) {
	return runRowsShown(ctx, s, vals, nil)
}

// runRowsShown is runRows with a bar counting the runs, made by newBar for their
// number (nil: no bar). A single run counts one step: the bar then shows the time
// elapsed until it ends.
func runRowsShown(ctx context.Context, s *runtime.Session, vals map[string]*runtime.Value, newBar func(runs int) *countProgress) (map[string]*runtime.Value, error) {
	if newBar == nil {
		newBar = func(int) *countProgress { return &countProgress{} }
	}
	step := rowStep(s, vals)
	whole := onnxq.Whole(vals, declaredFirst(s))
	rows, rowsErr := onnxq.Rows(vals, whole)
	if rowsErr == nil && len(whole) > 0 && rows > 1 {
		step = 1
	}
	if step == 0 {
		bar := newBar(1)
		defer bar.done()
		out, err := s.Run(ctx, vals)
		bar.step()
		return out, err
	}
	feed, err := onnxq.BatchesOf(vals, whole, int(step))
	if err != nil {
		return nil, err
	}
	bar := newBar(int((rows + step - 1) / step))
	defer bar.done()
	var parts []map[string]*runtime.Value
	if err := feed(func(b map[string]*runtime.Value) error {
		out, err := s.Run(ctx, b)
		if err != nil {
			return err
		}
		parts = append(parts, out)
		bar.step()
		return nil
	}); err != nil {
		return nil, err
	}
	stacked := map[string]*runtime.Value{}
	for name := range parts[0] {
		v, err := stackRows(name, parts)
		if err != nil {
			return nil, err
		}
		stacked[name] = v
	}
	return stacked, nil
}

// rowStep is the fixed first dimension the model declares for its inputs when vals hold
// a whole multiple (more than one) of it, else 0.
func rowStep(s *runtime.Session, vals map[string]*runtime.Value) int64 {
	var step int64
	for _, in := range s.Inputs() {
		v := vals[in.Name]
		if v == nil || len(v.Shape) == 0 || len(in.Dims) == 0 {
			continue
		}
		size := in.Dims[0].Size
		if in.Dims[0].Param != "" || size <= 0 || v.Shape[0] <= size || v.Shape[0]%size != 0 {
			return 0
		}
		if step != 0 && step != size {
			return 0
		}
		step = size
	}
	return step
}

// stackRows concatenates output name of every part along the first dimension.
func stackRows(name string, parts []map[string]*runtime.Value) (*runtime.Value, error) {
	var data []byte
	var shape tensor.Shape
	var dt tensor.DType
	for i, p := range parts {
		v := p[name]
		if v == nil {
			return nil, fmt.Errorf("output %q: missing from batch %d", name, i)
		}
		t, err := v.Tensor(name)
		if err != nil {
			return nil, err
		}
		if len(t.Shape) == 0 {
			return nil, fmt.Errorf("output %q is a scalar; batches of the input cannot be stacked", name)
		}
		if i == 0 {
			shape, dt = t.Shape.Clone(), t.DType
		} else {
			if t.DType != dt || !t.Shape[1:].Equal(shape[1:]) {
				return nil, fmt.Errorf("output %q: batch %d has %v %v, batch 0 %v %v", name, i, t.DType, t.Shape, dt, shape)
			}
			shape[0] += t.Shape[0]
		}
		b, err := t.Bytes()
		if err != nil {
			return nil, err
		}
		data = append(data, b...)
	}
	t, err := tensor.FromBytes(name, dt, shape, data)
	if err != nil {
		return nil, err
	}
	return runtime.FromTensor(t)
}
