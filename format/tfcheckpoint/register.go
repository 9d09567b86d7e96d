package tfcheckpoint

import (
	"io"
	"io/fs"

	"github.com/refit-ml/refit"
)

func init() {
	refit.Register(refit.Format{
		Name:       "tfcheckpoint",
		Extensions: []string{".index"},
		Sniff:      SniffIndex,
		Decode: func(r io.ReaderAt, size int64, _ *refit.DecodeOptions) (*refit.Model, error) {
			return Decode(r, size)
		},
		DecodeFS: func(fsys fs.FS, name string, _ *refit.DecodeOptions) (*refit.Model, error) {
			return DecodeFS(fsys, name)
		},
		SniffFS: SniffFS,
	})
}
