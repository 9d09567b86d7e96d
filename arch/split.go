package arch

import (
	"strconv"
	"strings"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/tensor"
)

// SplitName maps one Hugging Face tensor to several GGUF tensors: equal slices of its
// second-to-last dimension, in order (GraniteMoE's fused gate and up expert
// projections become ffn_gate_exps and ffn_up_exps). Patterns hold at most {bid}.
type SplitName struct {
	HF   string
	GGUF []string
	// Split and Join, if set, replace the equal row slices (SliceRows, ConcatRows):
	// Split returns the GGUF tensors (named names) of Hugging Face tensor t; Join
	// rebuilds the Hugging Face tensor named name from them.
	Split func(c *Config, t *tensor.Tensor, names []string) ([]*tensor.Tensor, error)
	Join  func(md refit.Metadata, arch, name string, parts []*tensor.Tensor) (*tensor.Tensor, error)
}

// MapSplit returns the GGUF names of the slices of a split Hugging Face tensor.
func (a *Arch) MapSplit(hf string) ([]string, bool) {
	names, _, ok := a.splitFor(hf)
	return names, ok
}

// SplitTensor returns the GGUF tensors of a Hugging Face tensor that MapSplit names.
func (a *Arch) SplitTensor(c *Config, t *tensor.Tensor) ([]*tensor.Tensor, error) {
	names, s, ok := a.splitFor(t.Name)
	if !ok {
		return nil, errorf("%s: tensor %q is not split", a.Name, t.Name)
	}
	if s.Split != nil {
		return s.Split(c, t, names)
	}
	out := make([]*tensor.Tensor, len(names))
	for i, n := range names {
		var err error
		if out[i], err = SliceRows(n, t, i, len(names)); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// JoinTensor rebuilds the Hugging Face tensor hf from its GGUF slices, in order.
func (a *Arch) JoinTensor(md refit.Metadata, hf string, parts []*tensor.Tensor) (*tensor.Tensor, error) {
	_, s, ok := a.splitFor(hf)
	if !ok {
		return nil, errorf("%s: tensor %q is not split", a.Name, hf)
	}
	if s.Join != nil {
		return s.Join(md, a.Name, hf, parts)
	}
	return ConcatRows(hf, parts)
}

func (a *Arch) splitFor(hf string) ([]string, *SplitName, bool) {
	base, suffix := splitSuffix(hf)
	for _, s := range a.Splits {
		b, ok := matchPattern(s.HF, base)
		if !ok {
			continue
		}
		out := make([]string, len(s.GGUF))
		for i, g := range s.GGUF {
			out[i] = strings.Replace(g, bid, strconv.Itoa(b), 1) + suffix
		}
		return out, &s, true
	}
	return nil, nil, false
}

// UnmapSplit returns the Hugging Face tensor a GGUF tensor is slice part of parts of.
func (a *Arch) UnmapSplit(gguf string) (hf string, part, parts int, ok bool) {
	base, suffix := splitSuffix(gguf)
	for _, s := range a.Splits {
		for i, g := range s.GGUF {
			b, ok := matchPattern(g, base)
			if !ok {
				continue
			}
			return strings.Replace(s.HF, bid, strconv.Itoa(b), 1) + suffix, i, len(s.GGUF), true
		}
	}
	return "", 0, 0, false
}

// SliceRows returns slice part of parts of t's second-to-last dimension, lazily, named
// name: for a [..., R, C] tensor, rows part*R/parts up to (part+1)*R/parts of every
// [R, C] matrix. Quantized rows are whole blocks, so any type works.
func SliceRows(name string, t *tensor.Tensor, part, parts int) (*tensor.Tensor, error) {
	n := len(t.Shape)
	if n < 2 || parts <= 0 || part < 0 || part >= parts || t.Shape[n-2]%int64(parts) != 0 || t.NumElements() == 0 {
		return nil, errorf("tensor %q of shape %v does not split into %d row slices", t.Name, t.Shape, parts)
	}
	rows := t.Shape[n-2]
	outer := t.NumElements() / (rows * t.Shape[n-1])
	rowBytes := t.Size() / (outer * rows)
	sliceBytes := rowBytes * rows / int64(parts)
	shape := t.Shape.Clone()
	shape[n-2] = rows / int64(parts)
	src := t
	data := tensor.NewLazy(sliceBytes*outer, func() ([]byte, error) {
		b, err := src.Bytes()
		if err != nil {
			return nil, err
		}
		out := make([]byte, 0, sliceBytes*outer)
		for o := range outer {
			start := o*rows*rowBytes + int64(part)*sliceBytes
			out = append(out, b[start:start+sliceBytes]...)
		}
		return out, nil
	})
	return &tensor.Tensor{Name: name, DType: t.DType, Shape: shape, Data: data}, nil
}

// ConcatRows is the inverse of SliceRows: it joins the slices, in order, along their
// second-to-last dimension, lazily.
func ConcatRows(name string, slices []*tensor.Tensor) (*tensor.Tensor, error) {
	if len(slices) == 0 || slices[0] == nil {
		return nil, errorf("%s: nothing to join", name)
	}
	first := slices[0]
	n := len(first.Shape)
	if n < 2 || first.NumElements() == 0 {
		return nil, errorf("%s: slice shape %v", name, first.Shape)
	}
	for _, s := range slices[1:] {
		if s == nil || s.DType != first.DType || !s.Shape.Equal(first.Shape) {
			return nil, errorf("%s: slices differ in type or shape", name)
		}
	}
	rows := first.Shape[n-2]
	outer := first.NumElements() / (rows * first.Shape[n-1])
	sliceBytes := first.Size() / outer
	shape := first.Shape.Clone()
	shape[n-2] = rows * int64(len(slices))
	parts := slices
	data := tensor.NewLazy(first.Size()*int64(len(parts)), func() ([]byte, error) {
		bs := make([][]byte, len(parts))
		for i, p := range parts {
			b, err := p.Bytes()
			if err != nil {
				return nil, err
			}
			bs[i] = b
		}
		out := make([]byte, 0, first.Size()*int64(len(parts)))
		for o := range outer {
			for _, b := range bs {
				out = append(out, b[o*sliceBytes:(o+1)*sliceBytes]...)
			}
		}
		return out, nil
	})
	return &tensor.Tensor{Name: name, DType: first.DType, Shape: shape, Data: data}, nil
}
