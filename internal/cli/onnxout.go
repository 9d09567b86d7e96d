package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/onnx"
)

// writeONNX writes an ONNX model whose tensors may go to a side file (external data:
// asked for with --external-data, or automatic over 2 GiB). Both files are written in
// a temporary folder beside OUT, verified there, and only then renamed into place, so
// the side file keeps the name the model refers to.
func writeONNX(e *env, base, m *refit.Model, out string, o *convertOptions, res *convertResult) error {
	dir, name := filepath.Dir(out), filepath.Base(out)
	side := name + ".data"
	if !o.force {
		for _, f := range []string{name, side} {
			if _, err := os.Lstat(filepath.Join(dir, f)); err == nil {
				return fmt.Errorf("%w: %s", refit.ErrExists, filepath.Join(dir, f))
			}
		}
	}
	if err := refit.CheckOutputDir(dir); err != nil {
		return err
	}
	tmp, err := refit.CreatePendingDir(out)
	if err != nil {
		return fmt.Errorf("output folder %s: %w", dir, errors.Unwrap(err))
	}
	defer refit.RemovePendingDir(tmp)
	if err := onnx.EncodeFileContext(e.ctx, filepath.Join(tmp, name), m, &onnx.EncodeOptions{ExternalData: o.externalData}); err != nil {
		return err
	}
	entries, err := os.ReadDir(tmp)
	if err != nil {
		return err
	}
	for _, en := range entries {
		if st, err := en.Info(); err == nil {
			res.Bytes += st.Size()
		}
	}
	if !o.noVerify {
		enc, err := refit.Lookup("onnx")
		if err != nil {
			return err
		}
		if err := verifyOutput(e.ctx, enc, base, m, filepath.Join(tmp, name), res); err != nil {
			return err
		}
	}
	if err := e.ctx.Err(); err != nil {
		return err
	}
	// The side file first, so the model never names a missing one.
	for _, f := range []string{side, name} {
		src := filepath.Join(tmp, f)
		if _, err := os.Stat(src); err != nil {
			continue
		}
		if err := os.Rename(src, filepath.Join(dir, f)); err != nil {
			var le *os.LinkError
			if errors.As(err, &le) { // le names the temporary folder
				err = le.Err
			}
			return fmt.Errorf("write %s: %w", filepath.Join(dir, f), err)
		}
		res.Files = append(res.Files, filepath.Join(dir, f))
	}
	return reportConvert(e, res, o)
}
