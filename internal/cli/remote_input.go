package cli

import (
	"io"
	"path"
	"path/filepath"

	"github.com/refit-ml/refit"
)

// openInput opens a file the user named for sequential reading: a local regular file,
// or a remote one (s3://, https://) read with ranged requests.
func openInput(name string) (io.ReadCloser, error) {
	if !refit.IsRemote(name) {
		return refit.OpenRegular(name)
	}
	f, err := refit.OpenFile(name)
	if err != nil {
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{io.NewSectionReader(f, 0, f.Size()), f}, nil
}

// inputBase is the file name of a local path or of a URL's object (without the query).
func inputBase(name string) string {
	if !refit.IsRemote(name) {
		return filepath.Base(name)
	}
	if _, key, err := refit.OpenStorage(name); err == nil {
		return path.Base("/" + key)
	}
	return path.Base(name)
}
