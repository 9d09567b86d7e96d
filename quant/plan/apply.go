package plan

import (
	"fmt"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/quant/ggml"
	"github.com/refit-ml/refit/tensor"
)

// Apply returns the model the plan describes: m's tensors in the plan's order,
// converted ones computed slab by slab as they are read, unchanged ones shared, with llama.cpp's output metadata. imatrix
// maps tensor names to importance weights as ParseImatrix returns them (nil for none);
// a vector whose length is not columns x experts is an error, except for token_embd
// (ignored, as llama.cpp does). It runs Check first. m is not modified.
func (p *Plan) Apply(m *refit.Model, imatrix map[string][]float32) (*refit.Model, error) {
	return p.apply(m, imatrix, nil)
}

// apply is Apply; with checks non-nil, the converted tensors measure their output and
// are listed in checks.
func (p *Plan) apply(m *refit.Model, imatrix map[string][]float32, checks *Checks) (*refit.Model, error) {
	if err := p.Check(); err != nil {
		return nil, err
	}
	if len(imatrix) > 0 && !p.opts.MixOptions.Imatrix {
		return nil, fmt.Errorf("plan: an importance matrix was given but the plan was made without one (set Options.Imatrix)")
	}
	for name, v := range imatrix {
		for _, f := range v {
			if f != f || f > 3.4028235e38 || f < -3.4028235e38 {
				return nil, fmt.Errorf("plan: importance matrix for %q has a non-finite value: %w", name, refit.ErrFormat)
			}
		}
	}
	out := make([]*tensor.Tensor, len(p.Tensors))
	pool := &slabPool{}
	for i, e := range p.Tensors {
		t := m.Tensor(e.Name)
		if t == nil || t.DType != e.From || !t.Shape.Equal(e.Shape) {
			return nil, fmt.Errorf("plan: tensor %q is not the one planned", e.Name)
		}
		shape := ggmlShape(t.Shape)
		if !e.Changed() {
			out[i] = t
			if len(shape) != len(t.Shape) {
				out[i] = &tensor.Tensor{Name: t.Name, DType: t.DType, Shape: shape, Data: t.Data}
			}
			continue
		}
		im, err := importance(imatrix, e)
		if err != nil {
			return nil, err
		}
		if !ggml.Supported(e.To) {
			return nil, fmt.Errorf("plan: %s needs %v: %w", e.Name, e.To, refit.ErrUnsupported)
		}
		if im == nil && ggml.TensorNeedsImatrix(e.Name, e.To, p.ft) {
			return nil, fmt.Errorf("plan: %s as %v has no importance vector: %w", e.Name, e.To, ggml.ErrNeedsImatrix)
		}
		data, err := newQuantData(t, e.To, im, p.opts.Threads)
		if err != nil {
			return nil, err
		}
		data.pool = pool
		if checks != nil {
			data.check = &TensorCheck{Name: t.Name, Exact: true}
			checks.data = append(checks.data, data)
		}
		out[i] = &tensor.Tensor{Name: t.Name, DType: e.To, Shape: shape, Data: data}
	}
	q := m.Derive(out)
	q.Metadata = outputMetadata(m.Metadata, p.ft)
	return q, nil
}

// ggmlShape is the shape llama.cpp writes: gguf_add_tensor stores ggml_n_dims
// dimensions, so outer dimensions of one (e.g. qwen2moe's [1, n_embd]
// ffn_gate_inp_shexp) are dropped, keeping at least one.
func ggmlShape(s tensor.Shape) tensor.Shape {
	i := 0
	for i < len(s)-1 && s[i] == 1 {
		i++
	}
	return s[i:].Clone()
}

// importance returns the tensor's importance vector, checked as llama.cpp checks it.
func importance(imatrix map[string][]float32, e Entry) ([]float32, error) {
	v, ok := imatrix[e.Name]
	if !ok || !e.To.Quantized() {
		return nil, nil
	}
	want := int64(1)
	if n := len(e.Shape); n > 0 {
		want = e.Shape[n-1]
		if n >= 3 {
			want *= e.Shape[n-3]
		}
	}
	if int64(len(v)) != want {
		if e.Name == "token_embd.weight" || e.Name == "per_layer_token_embd.weight" {
			return nil, nil
		}
		return nil, fmt.Errorf("plan: importance matrix for %q has %d values, the tensor needs %d", e.Name, len(v), want)
	}
	return v, nil
}
