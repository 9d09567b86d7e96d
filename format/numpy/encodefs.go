package numpy

import (
	"fmt"
	"path"
	"strings"

	"github.com/refit-ml/refit"
)

// EncodeFS writes m as opts.Name: a .npy file when the name ends in .npy (the model
// must hold exactly one tensor, since a .npy file holds one unnamed array), otherwise
// an .npz archive (default name "model.npz").
func EncodeFS(create refit.CreateFunc, m *refit.Model, opts *refit.EncodeOptions) error {
	name := "model.npz"
	if opts != nil && opts.Name != "" {
		name = opts.Name
	}
	if opts != nil && opts.ShardSize > 0 {
		return fmt.Errorf("numpy: %w", refit.ErrNoShards)
	}
	npy := strings.EqualFold(path.Ext(name), ".npy")
	if npy && len(m.Tensors) != 1 {
		return fmt.Errorf("a .npy file holds one array and the model has %d tensors; write .npz instead", len(m.Tensors))
	}
	w, err := create(name)
	if err != nil {
		return err
	}
	if npy {
		err = EncodeNPY(w, m.Tensors[0])
	} else {
		err = Encode(w, m, nil)
	}
	if err != nil {
		w.Close()
		return err
	}
	return w.Close()
}
