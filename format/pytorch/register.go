package pytorch

import (
	"io"

	"github.com/refit-ml/refit"
)

func init() {
	refit.Register(refit.Format{
		Name:       "pytorch",
		Extensions: []string{".pt", ".pth", ".bin", ".ckpt"},
		Sniff:      Sniff,
		Decode:     Decode,
		Encode:     func(w io.Writer, m *refit.Model) error { return Encode(w, m, nil) },
	})
}
