package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/pflag"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/llm"
	"github.com/refit-ml/refit/llm/eval"
)

// quantEvalFlags are refit quantize's flags for measuring a GGUF quantization on a text
// (--eval FILE names the text).
type quantEvalFlags struct {
	ctx, chunks int
}

func (q *quantEvalFlags) flags(f *pflag.FlagSet) {
	f.IntVar(&q.ctx, "eval-ctx", eval.DefaultContext, "GGUF: chunk length in tokens of the --eval perplexity/KL measurement")
	f.IntVar(&q.chunks, "eval-chunks", 0, "GGUF: score at most this many chunks of the --eval text (0: all)")
}

// quantEvalEntry is one quantized output and what it cost.
type quantEvalEntry struct {
	Type     string          `json:"type"`
	Output   string          `json:"output"`
	Quantize json.RawMessage `json:"quantize"`
	Bytes    int64           `json:"bytes"`
	Eval     *eval.Result    `json:"eval,omitempty"`
}

type quantEvalReport struct {
	Source     string           `json:"source"`
	Text       string           `json:"text,omitempty"`
	Perplexity float64          `json:"source_perplexity,omitempty"`
	Results    []quantEvalEntry `json:"results"`
}

// typedOutput names the output for one of several types: out with the type before
// the extension (model.gguf -> model-Q4_K_M.gguf).
func typedOutput(out, typ string) string {
	ext := filepath.Ext(out)
	return strings.TrimSuffix(out, ext) + "-" + typ + ext
}

// imatrixSuffix marks a --type entry quantized with --imatrix when other entries are
// not (--type Q4_K_M,Q4_K_M+imatrix compares the two in one run).
const imatrixSuffix = "+imatrix"

// imatrixVariants checks a --type list's TYPE+imatrix entries: they need --imatrix,
// and names must not repeat. It reports whether the list has any, in which case
// --imatrix applies to those entries only.
func imatrixVariants(types []string, imatrix string) (bool, error) {
	seen := map[string]bool{}
	variants := false
	for _, typ := range types {
		typ = strings.TrimSpace(typ)
		if seen[typ] {
			return false, usageError{fmt.Errorf("--type lists %s twice", typ)}
		}
		seen[typ] = true
		base, marked := strings.CutSuffix(typ, imatrixSuffix)
		if strings.Contains(base, "+") {
			return false, usageError{fmt.Errorf("--type %q: the only suffix is %s", typ, imatrixSuffix)}
		}
		if marked {
			variants = true
		}
	}
	if variants && imatrix == "" {
		return false, usageError{fmt.Errorf("--type entries ending in %s need --imatrix FILE", imatrixSuffix)}
	}
	return variants, nil
}

// runQuantizeGGUFEval quantizes in to each type of a comma-separated --type and, with
// a text, measures each output against in: perplexity ratio, KL divergence, top-1.
func runQuantizeGGUFEval(e *env, in, out string, o *ggufQuantOptions, text string, q quantEvalFlags) error {
	types := strings.Split(o.FileType, ",")
	if text != "" {
		if st, err := os.Stat(in); err == nil && st.IsDir() {
			return usageError{fmt.Errorf("quantize --eval measures against a GGUF input; convert %s to GGUF first: %w", in, refit.ErrUnsupported)}
		}
	}
	variants, err := imatrixVariants(types, o.Imatrix)
	if err != nil {
		return err
	}
	rep := &quantEvalReport{Source: in, Text: text}
	for _, typ := range types {
		typ = strings.TrimSpace(typ)
		dst := out
		if len(types) > 1 {
			dst = typedOutput(out, strings.ReplaceAll(typ, "+", "-"))
		}
		one := *o
		one.FileType = strings.TrimSuffix(typ, imatrixSuffix)
		if variants && !strings.HasSuffix(typ, imatrixSuffix) {
			one.Imatrix = "" // a plain entry beside TYPE+imatrix ones: without the matrix
		}
		one.AsJSON = true
		one.rep = nil // one report for all types, below
		var buf bytes.Buffer
		sub := *e
		sub.stdout = &buf
		if err := runQuantizeGGUF(&sub, in, dst, &one); err != nil {
			return fmt.Errorf("%s: %w", typ, err)
		}
		entry := quantEvalEntry{Type: typ, Output: dst, Quantize: json.RawMessage(bytes.TrimSpace(buf.Bytes()))}
		if st, err := os.Stat(dst); err == nil {
			entry.Bytes = st.Size()
		}
		if !o.AsJSON {
			fmt.Fprintf(e.stdout, "wrote %s (%s): %s\n", dst, typ, humanBytes(entry.Bytes))
		}
		rep.Results = append(rep.Results, entry)
	}
	if o.DryRun || text == "" {
		if err := writeEvalReport(o, rep); err != nil {
			return err
		}
		if o.AsJSON {
			return writeJSON(e.stdout, rep)
		}
		return nil
	}
	limit := e.maxMemory.runtimeBytes()
	if limit == 0 {
		limit = refit.DefaultMaxMemory()
	}
	budget := refit.NewBudget(limit)
	ref, rc, err := openLLM(e, in, budget)
	if err != nil {
		return err
	}
	defer rc.Close()
	tokens, bos, err := tokenizeText(ref, text)
	if err != nil {
		return err
	}
	opts := &eval.Options{Context: q.ctx, Chunks: q.chunks, BOS: bos, Budget: budget, Progress: chunkProgress(e)}
	models := make([]*llm.Model, len(rep.Results))
	for i, r := range rep.Results {
		m, c, err := openLLM(e, r.Output, budget)
		if err != nil {
			return err
		}
		defer c.Close()
		models[i] = m
	}
	if !o.AsJSON {
		fmt.Fprintf(e.stderr, "evaluating %d outputs and %s on %s\n", len(models), in, text)
	}
	// One pass: the source runs once per chunk, each output beside it.
	results, err := eval.RunMany(e.ctx, models, ref, tokens, opts)
	if err != nil {
		return err
	}
	for i, res := range results {
		rep.Results[i].Eval = res
		rep.Perplexity = res.Reference.Perplexity
	}
	if err := writeEvalReport(o, rep); err != nil {
		return err
	}
	if o.AsJSON {
		return writeJSON(e.stdout, rep)
	}
	printQuantEval(e, rep)
	return nil
}

func printQuantEval(e *env, rep *quantEvalReport) {
	r0 := rep.Results[0].Eval
	fmt.Fprintf(e.stdout, "\ncost on %s (%d tokens scored, %d chunks of %d); %s: perplexity %.4f\n",
		rep.Text, r0.Tokens, r0.Chunks, r0.Context, rep.Source, rep.Perplexity)
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "type\tsize\tPPL\tPPL ratio\tKL mean\tKL p95\tKL p99\tKL max\ttop-1\t")
	for _, r := range rep.Results {
		c := r.Eval.Reference
		fmt.Fprintf(tw, "%s\t%s\t%.4f\t%.4f\t%.5f\t%.5f\t%.5f\t%.4f\t%.2f%%\t\n", r.Type, humanBytes(r.Bytes),
			r.Eval.Perplexity, c.PerplexityRatio, c.KLMean, c.KL95, c.KL99, c.KLMax, 100*c.Top1)
	}
	tw.Flush()
}
