package cli

import (
	"errors"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/prune"
)

// expandSparse restores the dense tensors of a model written in prune's
// bitmask+values layout (refit.sparse=bitmask-v1), so commands that read
// checkpoints see the pruned weights, not their encoding. Any other model is
// returned unchanged. The expanded model reads lazily from m and owns it: closing
// the result closes m. On error m is closed.
func expandSparse(m *refit.Model) (*refit.Model, error) {
	if !prune.IsSparse(m) {
		return m, nil
	}
	d, err := prune.DecodeSparse(m)
	if err != nil {
		return nil, errors.Join(err, m.Close())
	}
	d.AddCloser(m)
	return d, nil
}

// openCheckpoint opens a checkpoint for reading, with sparse layouts expanded.
func openCheckpoint(path string, opts *refit.DecodeOptions) (*refit.Model, error) {
	m, err := refit.OpenWith(path, opts)
	if err != nil {
		return nil, err
	}
	return expandSparse(m)
}
