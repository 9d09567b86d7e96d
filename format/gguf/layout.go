package gguf

import (
	"github.com/refit-ml/refit"
)

// Layout is where Encode puts everything for a model, computed without reading any
// tensor data. Writers that produce the data section in pieces (one machine per
// range of tensors) use it to agree on the header and offsets, so that the header
// followed by the pieces in order is byte-identical to Encode's output.
type Layout struct {
	Header    []byte  // the header and the zero padding before the data section
	Alignment int64   // every tensor starts at a multiple of it within the data section
	Offsets   []int64 // each tensor's start within the data section, in m's order
	Sizes     []int64 // each tensor's data size, before padding
	DataSize  int64   // the data section: every tensor padded to Alignment
}

// EncodedLayout returns the layout Encode(w, m, opts) writes. The data section holds
// tensor i at Offsets[i], Sizes[i] bytes followed by zeros up to the next multiple
// of Alignment (the last tensor too).
func EncodedLayout(m *refit.Model, opts *EncodeOptions) (*Layout, error) {
	l, err := newLayout(m, opts)
	if err != nil {
		return nil, err
	}
	out := &Layout{Alignment: l.alignment, DataSize: l.dataSize}
	out.Header = append(l.header, make([]byte, l.padding)...)
	var off int64
	for _, t := range m.Tensors {
		out.Offsets = append(out.Offsets, off)
		out.Sizes = append(out.Sizes, t.Size())
		off += alignUp(t.Size(), l.alignment)
	}
	return out, nil
}
