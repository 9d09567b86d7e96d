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
func writeSharded(e *env, enc *refit.Format, base, m *refit.Model, out string, size int64, o *convertOptions, res *convertResult) error {
	if enc.Name != "safetensors" {
		return usageError{errNoShards}
	}
	dir, stem := out, "model"
	if strings.EqualFold(filepath.Ext(out), ".safetensors") {
		dir, stem = filepath.Dir(out), strings.TrimSuffix(filepath.Base(out), filepath.Ext(out))
	} else if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	files, err := safetensors.WriteShards(dir, stem, m, size, o.force)
	if err != nil {
		return err
	}
	res.Files = files
	for _, f := range files {
		if st, err := os.Stat(f); err == nil {
			res.Bytes += st.Size()
		}
	}
	if o.noVerify {
		return nil
	}
	// The index (or the single file) is the last name WriteShards returns.
	got, err := refit.OpenAs(enc, files[len(files)-1], nil)
	if err != nil {
		return fmt.Errorf("verify: re-reading shards: %w", err)
	}
	defer got.Close()
	return verifyModels(e.ctx, base, m, got, res)
}
