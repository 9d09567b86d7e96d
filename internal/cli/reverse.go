package cli

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/compare"
	"github.com/refit-ml/refit/hf"
	"github.com/refit-ml/refit/tensor"
	"github.com/refit-ml/refit/tokenizer"
)

// reverseGGUF writes a GGUF language model as a Hugging Face folder: config.json,
// tokenizer files and sharded safetensors with Hugging Face tensor names, then
// re-opens the folder to check every tensor is there before moving it into place.
func reverseGGUF(e *env, in string, m *refit.Model, dir string, o *convertOptions) error {
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
	res := &convertResult{Input: "GGUF", Output: dir, From: m.Format, To: "hf-safetensors", Tensors: tensors}
	var rt *compare.Report
	if (o.rep != nil || o.asJSON) && !o.keepQuantized {
		if rt, err = roundTrip(e, m, po.Dir(), res); err != nil {
			return err
		}
	}
	res.Bytes = po.Size()
	if res.Files, err = po.Commit(); err != nil {
		return err
	}
	if o.rep != nil {
		r, err := reverseReport(in, res, rt, o)
		if err != nil {
			return err
		}
		if err := o.rep.finish(r, res); err != nil {
			return err
		}
	}
	if o.asJSON {
		if !o.verbose {
			res.Diffs = nil
		}
		return writeJSON(e.stdout, res)
	}
	fmt.Fprintf(e.stdout, "%s (gguf, %s) -> %s (Hugging Face folder): %d tensors, %s parameters\n",
		"model", m.Metadata.String("general.architecture"), dir, tensors, humanCount(params))
	return nil
}

// roundTrip reads the written folder back as Refit would convert it to GGUF (float32
// matrices) and compares every tensor with the GGUF's: what the folder holds, in the
// GGUF's names and layout, for --report and --json (it costs a read of both models).
func roundTrip(e *env, m *refit.Model, dir string, res *convertResult) (*compare.Report, error) {
	back, err := hf.ConvertHF(e.ctx, refit.DirFS(dir), &hf.ConvertOptions{DType: tensor.F32, NoTokenizer: true})
	if err != nil {
		return nil, fmt.Errorf("report: reading %s back: %w", dir, err)
	}
	defer back.Close()
	r, err := compare.ModelsContext(e.ctx, m, back, nil)
	if err != nil {
		return nil, fmt.Errorf("report: comparing %s with the GGUF: %w", dir, err)
	}
	res.Verified, res.MinCos, res.Diffs = true, 1, r.Tensors
	for _, d := range r.Tensors {
		if d.Exact {
			res.Exact++
		}
		res.MaxAbs = max(res.MaxAbs, d.MaxAbs)
		res.MinCos = min(res.MinCos, d.Cosine)
	}
	return r, nil
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
