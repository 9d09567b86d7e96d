package cli

import (
	"errors"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"
)

// runInputs are the flags that choose inputs for running models.
type runInputs struct {
	inputs []string // name=file.npy
	data   string   // .npz dataset
	seed   int64
	batch  int
}

func (r *runInputs) flags(f *pflag.FlagSet) {
	f.StringArrayVar(&r.inputs, "input", nil, "model input as name=file.npy (repeatable)")
	f.StringVar(&r.data, "data", "", ".npz file whose arrays are model inputs (by name)")
	f.Int64Var(&r.seed, "seed", 1, "seed for random inputs when none are given")
	f.IntVar(&r.batch, "batch", 1, "size for symbolic dimensions of random inputs")
}

// runnable reports whether path names a model Refit can execute.
func runnable(path string) bool { return strings.EqualFold(filepath.Ext(path), ".onnx") }

var errRuntimeMissing = errors.New("comparing model outputs is not available yet")

func runModelDiff(e *env, a, b string, o *diffOptions) error {
	return usageError{errRuntimeMissing}
}
