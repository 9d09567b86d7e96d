package onnxexport

import (
	"context"
	"fmt"
	"io/fs"
	"math"
	"strings"

	"github.com/refit-ml/refit/format/onnx"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/runtime"
)

// Check is what Verify measured.
type Check struct {
	// MaxAbs is the largest difference between the logits of a token decoded from
	// the cache and the same token's logits in one prefill of the whole sequence.
	MaxAbs float64
	// Scale is the largest |logit| of the prefill.
	Scale float64
}

// verifyTokens is the sequence Verify runs (ids taken modulo the vocabulary).
var verifyTokens = []int64{1, 17, 5, 42, 9}

// Verify runs an exported graph in Refit's runtime twice: one prefill of a short
// sequence, and a prefill of all but its last token followed by a decode step of the
// last token through the present -> past cache. The last token's logits must agree
// (within 1e-3 of the logit scale) and be finite; fsys resolves external data (nil
// when there is none).
func Verify(ctx context.Context, mp *onnxpb.ModelProto, fsys fs.FS, opts *runtime.Options) (*Check, error) {
	s, err := runtime.Load(mp, fsys, opts)
	if err != nil {
		return nil, fmt.Errorf("onnxexport: verify: the graph does not load: %w", err)
	}
	empty := map[string]*runtime.Value{}
	vocab := int64(0)
	for _, vi := range mp.GetGraph().GetInput() {
		name := vi.GetName()
		if !strings.HasPrefix(name, "past_key_values.") {
			continue
		}
		dims := vi.GetType().GetTensorType().GetShape().GetDim()
		if len(dims) != 4 {
			return nil, formatf("verify: input %s has %d dimensions", name, len(dims))
		}
		d, err := onnx.DTypeOf(vi.GetType().GetTensorType().GetElemType())
		if err != nil || !d.Float() {
			return nil, formatf("verify: input %s is not a float tensor", name)
		}
		empty[name] = runtime.NewValue(d, []int64{1, dims[1].GetDimValue(), 0, dims[3].GetDimValue()})
	}
	for _, vi := range mp.GetGraph().GetOutput() {
		if vi.GetName() == "logits" {
			if d := vi.GetType().GetTensorType().GetShape().GetDim(); len(d) == 3 {
				vocab = d[2].GetDimValue()
			}
		}
	}
	if vocab <= 0 {
		return nil, formatf("verify: the graph has no logits output of known width")
	}
	ids := make([]int64, len(verifyTokens))
	for i, t := range verifyTokens {
		ids[i] = t % vocab
	}
	n := len(ids)
	run := func(ids []int64, past map[string]*runtime.Value, pastLen int) (map[string]*runtime.Value, error) {
		in := map[string]*runtime.Value{}
		for k, v := range past {
			in[k] = v
		}
		seq := int64(len(ids))
		mask, pos := make([]int64, pastLen+len(ids)), make([]int64, len(ids))
		for i := range mask {
			mask[i] = 1
		}
		for i := range pos {
			pos[i] = int64(pastLen + i)
		}
		var err error
		if in["input_ids"], err = runtime.FromSlice(ids, 1, seq); err != nil {
			return nil, err
		}
		if in["attention_mask"], err = runtime.FromSlice(mask, 1, int64(len(mask))); err != nil {
			return nil, err
		}
		if in["position_ids"], err = runtime.FromSlice(pos, 1, seq); err != nil {
			return nil, err
		}
		out, err := s.Run(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("onnxexport: verify: the graph does not run: %w", err)
		}
		return out, nil
	}
	full, err := run(ids, empty, 0)
	if err != nil {
		return nil, err
	}
	head, err := run(ids[:n-1], empty, 0)
	if err != nil {
		return nil, err
	}
	past := map[string]*runtime.Value{}
	for name := range empty {
		past[name] = head["present."+strings.TrimPrefix(name, "past_key_values.")]
		if past[name] == nil {
			return nil, formatf("verify: no present output for %s", name)
		}
	}
	step, err := run(ids[n-1:], past, n-1)
	if err != nil {
		return nil, err
	}
	want, err1 := floats(full["logits"])
	got, err2 := floats(step["logits"])
	if err1 != nil || err2 != nil || int64(len(want)) != int64(n)*vocab || int64(len(got)) != vocab {
		return nil, formatf("verify: logits of unexpected type or size")
	}
	c := &Check{}
	last := want[int64(n-1)*vocab:]
	for i := range got {
		d := math.Abs(float64(got[i]) - float64(last[i]))
		if math.IsNaN(d) || math.IsInf(d, 0) {
			return c, formatf("verify: logit %d is %v decoded, %v in the prefill", i, got[i], last[i])
		}
		c.MaxAbs = max(c.MaxAbs, d)
	}
	for _, v := range want {
		c.Scale = max(c.Scale, math.Abs(float64(v)))
	}
	if c.MaxAbs > 1e-3*c.Scale {
		return c, formatf("verify: decoding from the cache gives logits %.3g away from a full prefill (logit scale %.3g)", c.MaxAbs, c.Scale)
	}
	return c, nil
}

// floats returns a float output's values as float32.
func floats(v *runtime.Value) ([]float32, error) {
	if v == nil {
		return nil, formatf("missing output")
	}
	t, err := v.Tensor("logits")
	if err != nil {
		return nil, err
	}
	return t.Float32s()
}
