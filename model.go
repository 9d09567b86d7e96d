package refit

import (
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/refit-ml/refit/tensor"
)

// Model is a set of named tensors and metadata read from (or to be written to) a file.
// Tensors keep the order of the source file. Transforms return new Models and never
// modify their input; untouched tensors are shared.
type Model struct {
	Format   string // name of the format it was decoded from, e.g. "safetensors"
	Metadata Metadata
	Tensors  []*tensor.Tensor

	// Source is what a decoder knows beyond tensors and metadata, such as an ONNX
	// graph (*onnx.Source). Transforms carry it along so an encoder of the same
	// format can write the model back; other encoders ignore it.
	Source any

	closers []io.Closer
}

// Tensor returns the tensor with the given name, or nil.
func (m *Model) Tensor(name string) *tensor.Tensor {
	for _, t := range m.Tensors {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// AddCloser registers c to be closed by Close (an mmap, an open file).
func (m *Model) AddCloser(c io.Closer) { m.closers = append(m.closers, c) }

// Close releases the files the model's tensors read from. Tensors must not be read afterwards.
func (m *Model) Close() error {
	var errs []error
	for i := len(m.closers) - 1; i >= 0; i-- {
		errs = append(errs, m.closers[i].Close())
	}
	m.closers = nil
	return errors.Join(errs...)
}

// Derive returns a model with m's format, source, a copy of its metadata and the given tensors;
// closing the derived model closes nothing (m still owns its files).
func (m *Model) Derive(tensors []*tensor.Tensor) *Model {
	return &Model{Format: m.Format, Metadata: m.Metadata.Clone(), Tensors: tensors, Source: m.Source}
}

// CheckNames returns an error if two tensors share a name or a name is empty.
func (m *Model) CheckNames() error {
	seen := make(map[string]bool, len(m.Tensors))
	for _, t := range m.Tensors {
		if t.Name == "" {
			return fmt.Errorf("refit: tensor with empty name")
		}
		if seen[t.Name] {
			return fmt.Errorf("refit: duplicate tensor name %q", t.Name)
		}
		seen[t.Name] = true
	}
	return nil
}

// Metadata is an ordered string-keyed map. Values are Go scalars (bool, the sized
// int/uint types, float32, float64, string) or slices of them ([]any for nested arrays),
// so formats with typed metadata (GGUF) round-trip exactly. The zero value is empty.
type Metadata struct {
	keys []string
	vals map[string]any
}

// Set adds or replaces a key; a new key goes last.
func (md *Metadata) Set(key string, v any) {
	if md.vals == nil {
		md.vals = make(map[string]any)
	}
	if _, ok := md.vals[key]; !ok {
		md.keys = append(md.keys, key)
	}
	md.vals[key] = v
}

// Get returns the value stored under key.
func (md Metadata) Get(key string) (any, bool) {
	v, ok := md.vals[key]
	return v, ok
}

// String returns the value under key if it is a string.
func (md Metadata) String(key string) string {
	s, _ := md.vals[key].(string)
	return s
}

// Delete removes key.
func (md *Metadata) Delete(key string) {
	if _, ok := md.vals[key]; !ok {
		return
	}
	delete(md.vals, key)
	md.keys = slices.DeleteFunc(md.keys, func(k string) bool { return k == key })
}

// Keys returns the keys in insertion order.
func (md Metadata) Keys() []string { return slices.Clone(md.keys) }

// Len is the number of keys.
func (md Metadata) Len() int { return len(md.keys) }

// Clone returns an independent copy (values are shared).
func (md Metadata) Clone() Metadata {
	c := Metadata{keys: slices.Clone(md.keys), vals: make(map[string]any, len(md.vals))}
	for k, v := range md.vals {
		c.vals[k] = v
	}
	return c
}
