package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/safetensors"
)

var errNoShards = errors.New("--shard-size applies to safetensors output only")

// writeSharded writes Hugging Face style safetensors shards plus an index. OUT names
// either a folder (shards are called model-0000i-of-0000N.safetensors) or a
// .safetensors file whose stem names the shards. The shards are verified after writing.
func writeSharded(e *env, enc *refit.Format, base, m *refit.Model, out string, size int64, o *convertOptions, res *convertResult) (err error) {
	if enc.Name != "safetensors" {
		return usageError{errNoShards}
	}
	dir, stem := out, "model"
	if strings.EqualFold(filepath.Ext(out), ".safetensors") {
		dir, stem = filepath.Dir(out), strings.TrimSuffix(filepath.Base(out), filepath.Ext(out))
	} else {
		if _, statErr := os.Stat(out); errors.Is(statErr, os.ErrNotExist) {
			defer func() {
				if err != nil {
					os.Remove(out) // the folder this run made, if still empty
				}
			}()
		}
		if err := os.MkdirAll(out, 0o755); err != nil {
			return err
		}
	}
	// Shards are written and verified in a temporary folder beside them, and moved
	// into place only then (index last), so an interrupted run leaves no shard behind.
	tmp, err := refit.CreatePendingDir(filepath.Join(dir, stem+safetensors.Extension))
	if err != nil {
		return err
	}
	defer refit.RemovePendingDir(tmp)
	files, err := safetensors.WriteShardsContext(e.ctx, tmp, stem, m, size, true)
	if err != nil {
		return err
	}
	for _, f := range files {
		if st, err := os.Stat(f); err == nil {
			res.Bytes += st.Size()
		}
		if _, err := os.Lstat(filepath.Join(dir, filepath.Base(f))); err == nil && !o.force {
			return fmt.Errorf("%w: %s", refit.ErrExists, filepath.Join(dir, filepath.Base(f)))
		}
	}
	if !o.noVerify {
		// The index (or the single file) is the last name WriteShards returns.
		got, err := refit.OpenAs(enc, files[len(files)-1], nil)
		if err != nil {
			return fmt.Errorf("verify: re-reading shards: %w", err)
		}
		err = verifyModels(e.ctx, base, m, got, res)
		got.Close()
		if err != nil {
			return err
		}
	}
	if err := e.ctx.Err(); err != nil {
		return err
	}
	for _, f := range files {
		final := filepath.Join(dir, filepath.Base(f))
		if err := os.Rename(f, final); err != nil {
			return err
		}
		res.Files = append(res.Files, final)
	}
	return nil
}
