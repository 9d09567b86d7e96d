package tfcheckpoint

import (
	"github.com/refit-ml/refit"
)

func init() {
	refit.Register(refit.Format{
		Name:       "tfcheckpoint",
		Extensions: []string{".index"},
		Sniff:      SniffIndex,
		Decode:     Decode,
		DecodeFS:   DecodeFS,
		SniffFS:    SniffFS,
	})
}
