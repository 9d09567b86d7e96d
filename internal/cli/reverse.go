package cli

import (
	"fmt"
	"os"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/arch"
)

// isLLMGGUF reports whether m is a GGUF language model (it names an architecture).
func isLLMGGUF(m *refit.Model) bool {
	return m.Format == "gguf" && m.Metadata.String("general.architecture") != ""
}

// reverseGGUF writes a GGUF language model as a Hugging Face folder: config.json,
// tokenizer files and sharded safetensors with Hugging Face tensor names, then
// re-opens the folder to check every tensor is there.
func reverseGGUF(e *env, m *refit.Model, dir string, o *convertOptions) error {
	opts := &arch.ReverseOptions{KeepQuantized: o.keepQuantized, Overwrite: o.force}
	if o.dtype != "" {
		d, err := parseCastType("--dtype", o.dtype)
		if err != nil {
			return err
		}
		opts.DType = d
	}
	if o.shardSize != "" {
		size, err := parseSize(o.shardSize)
		if err != nil {
			return usageError{err}
		}
		opts.ShardSize = size
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := arch.ReverseGGUF(e.ctx, m, dir, opts); err != nil {
		return err
	}
	got, err := refit.Open(dir)
	if err != nil {
		return fmt.Errorf("verify: re-reading %s: %w", dir, err)
	}
	defer got.Close()
	var params int64
	for _, t := range got.Tensors {
		params += t.NumElements()
	}
	res := &convertResult{Input: "GGUF", Output: dir, From: m.Format, To: "hf-safetensors", Tensors: len(got.Tensors)}
	if o.asJSON {
		return writeJSON(e.stdout, res)
	}
	fmt.Fprintf(e.stdout, "%s (gguf, %s) -> %s (Hugging Face folder): %d tensors, %s parameters\n",
		"model", m.Metadata.String("general.architecture"), dir, len(got.Tensors), humanCount(params))
	return nil
}
