package cli

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/hf"
	"github.com/refit-ml/refit/tokenizer"
)

// reverseGGUF writes a GGUF language model as a Hugging Face folder: config.json,
// tokenizer files and sharded safetensors with Hugging Face tensor names, then
// re-opens the folder to check every tensor is there before moving it into place.
func reverseGGUF(e *env, m *refit.Model, dir string, o *convertOptions) error {
	opts := &hf.ReverseOptions{KeepQuantized: o.keepQuantized, Overwrite: o.force}
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
	po, err := refit.CreatePendingOutput(e.ctx, dir, true, o.force)
	if err != nil {
		return err
	}
	defer po.Abort()
	if err := hf.ReverseFS(e.ctx, po.Create, m, opts); err != nil {
		return err
	}
	if len(m.Tensors) == 0 {
		return reverseVocab(e, m, po, dir, o)
	}
	got, err := refit.Open(po.Dir())
	if err != nil {
		return fmt.Errorf("verify: re-reading %s: %w", dir, err)
	}
	var params int64
	for _, t := range got.Tensors {
		params += t.NumElements()
	}
	tensors := len(got.Tensors)
	got.Close()
	if _, err := po.Commit(); err != nil {
		return err
	}
	res := &convertResult{Input: "GGUF", Output: dir, From: m.Format, To: "hf-safetensors", Tensors: tensors}
	if o.asJSON {
		return writeJSON(e.stdout, res)
	}
	fmt.Fprintf(e.stdout, "%s (gguf, %s) -> %s (Hugging Face folder): %d tensors, %s parameters\n",
		"model", m.Metadata.String("general.architecture"), dir, tensors, humanCount(params))
	return nil
}

// reverseVocab finishes a vocab-only GGUF written as Hugging Face tokenizer files: it
// reads them back and checks every tokenizer.* key comes back equal before moving
// the folder into place.
func reverseVocab(e *env, m *refit.Model, po *refit.PendingOutput, dir string, o *convertOptions) error {
	back, err := tokenizer.Load(refit.DirFS(po.Dir()), nil)
	if err != nil {
		return fmt.Errorf("verify: re-reading %s: %w", dir, err)
	}
	got := refit.Metadata{}
	back.Metadata(&got)
	keys := 0
	for _, k := range m.Metadata.Keys() {
		if !strings.HasPrefix(k, "tokenizer.") {
			continue
		}
		keys++
		want, _ := m.Metadata.Get(k)
		if g, ok := got.Get(k); !ok || !reflect.DeepEqual(g, want) {
			return fmt.Errorf("verify: %s does not come back from the tokenizer files", k)
		}
	}
	if _, err := po.Commit(); err != nil {
		return err
	}
	if o.asJSON {
		return writeJSON(e.stdout, map[string]any{"input": "GGUF", "output": dir, "to": "hf-tokenizer", "tokens": len(back.Tokens), "keys_verified": keys})
	}
	fmt.Fprintf(e.stdout, "vocabulary (gguf, %s) -> %s (Hugging Face tokenizer files): %d tokens, %d tokenizer keys verified\n",
		back.Model, dir, len(back.Tokens), keys)
	return nil
}
