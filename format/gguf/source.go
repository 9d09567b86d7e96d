package gguf

import "github.com/refit-ml/refit"

// Source is what Decode records in Model.Source beyond tensors and metadata, so that
// Encode can write a file back as it was.
type Source struct {
	// PaddedHeader is set for a file without tensors whose header is still zero-padded
	// to the alignment, as ggml's gguf_write_to_file writes it. gguf-py's vocab-only
	// writer (convert_hf_to_gguf.py --vocab-only) stops right after the metadata
	// instead, which is what Encode writes for a model without tensors by default.
	PaddedHeader bool
}

// headerPadding returns the zero bytes to write after a header of n bytes: up to the
// alignment, except in a file without tensors whose source was not padded.
func headerPadding(n, alignment int64, tensors int, padded bool) int64 {
	if tensors == 0 && !padded {
		return 0
	}
	return alignUp(n, alignment) - n
}

// sourcePadded reports whether m came from a tensor-less GGUF file that was padded.
func sourcePadded(m *refit.Model) bool {
	s, ok := m.Source.(*Source)
	return ok && s.PaddedHeader
}
