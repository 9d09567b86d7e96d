package cli

import (
	"github.com/refit-ml/refit"
)

func writeSharded(e *env, enc *refit.Format, m *refit.Model, out string, size int64, o *convertOptions, res *convertResult) error {
	return usageError{errNoShards}
}
