package cli

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/llm"
	"github.com/refit-ml/refit/llm/eval"
	"github.com/refit-ml/refit/tokenizer"
)

func init() { commands = append(commands, newEvalCmd) }

type evalOptions struct {
	text   string
	ref    string
	ctx    int
	chunks int
	batch  int
	json   bool
}

// maxEvalText caps the text file read by refit eval (wikitext-2 test, the usual
// perplexity text, is 1.3 MB); its tokens take up to four times as much.
const maxEvalText = 64 << 20

func newEvalCmd(e *env) *cobra.Command {
	var o evalOptions
	c := &cobra.Command{
		Use:   "eval MODEL.gguf --text FILE",
		Short: "Perplexity of a GGUF language model on a text, and KL divergence against a reference",
		Long: `Run a GGUF decoder model (llama, mistral, mixtral, qwen2, qwen3, qwen2moe, qwen3moe,
gemma, gemma2, gemma3, phi2, phi3, granite, granitemoe, olmo2, stablelm, starcoder2,
command-r, gptneox) over a text and print its perplexity, counted as llama.cpp's perplexity tool counts it:
the tokens are cut into chunks of --ctx tokens, each chunk starts with BOS when the
vocabulary adds one, and the second half of every chunk is scored.

With --ref, the reference model (for example the unquantized source) runs on the same
chunks and eval also prints the KL divergence KL(ref || model) per token (mean, median,
90/95/99th percentile, max), how often both models' top token agree, and the ratio of
perplexities.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.text == "" {
				return usageError{fmt.Errorf("eval needs --text FILE")}
			}
			r, err := runEval(e, args[0], o.ref, o.text, o)
			if err != nil {
				return err
			}
			if o.json {
				enc := json.NewEncoder(e.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(r)
			}
			printEval(e.stdout, args[0], o.ref, r)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&o.text, "text", "", "text file to score (UTF-8)")
	f.StringVar(&o.ref, "ref", "", "reference GGUF model with the same vocabulary")
	f.IntVar(&o.ctx, "ctx", eval.DefaultContext, "chunk length in tokens")
	f.IntVar(&o.chunks, "chunks", 0, "score at most this many chunks (0: all)")
	f.IntVar(&o.batch, "batch", 0, "tokens per forward pass (0: the whole chunk)")
	f.BoolVar(&o.json, "json", false, "print the result as JSON")
	return c
}

// evalReport is refit eval's result with the inputs it names.
type evalReport struct {
	Model    string `json:"model"`
	RefModel string `json:"reference_model,omitempty"`
	Text     string `json:"text"`
	*eval.Result
}

// openLLM memory-maps a GGUF model for llm, or opens a remote one (s3://, https://)
// for ranged reads; llm.Load then reads its weights into memory.
func openLLM(e *env, path string, budget *refit.Budget) (*llm.Model, io.Closer, error) {
	mf, err := refit.OpenFile(path)
	if err != nil {
		return nil, nil, err
	}
	m, err := llm.Load(mf, mf.Size(), &llm.Options{Threads: e.threads, Budget: budget})
	if err != nil {
		mf.Close()
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, mf, nil
}

func runEval(e *env, modelPath, refPath, textPath string, o evalOptions) (*evalReport, error) {
	limit := e.maxMemory.runtimeBytes()
	if limit == 0 {
		limit = refit.DefaultMaxMemory()
	}
	budget := refit.NewBudget(limit)
	m, closer, err := openLLM(e, modelPath, budget)
	if err != nil {
		return nil, err
	}
	defer closer.Close()
	var ref *llm.Model
	if refPath != "" {
		r, rc, err := openLLM(e, refPath, budget)
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		ref = r
	}
	tokens, bos, err := tokenizeText(m, textPath)
	if err != nil {
		return nil, err
	}
	res, err := eval.Run(e.ctx, m, ref, tokens, &eval.Options{Context: o.ctx, Chunks: o.chunks, Batch: o.batch, BOS: bos, Budget: budget, Progress: chunkProgress(e)})
	if err != nil {
		return nil, err
	}
	return &evalReport{Model: modelPath, RefModel: refPath, Text: textPath, Result: res}, nil
}

// tokenizeText reads a text file and tokenizes it with the model's vocabulary as
// llama.cpp's perplexity tool does (special tokens added, none parsed). bos is the id
// each chunk starts with, or -1 when the vocabulary adds none.
func tokenizeText(m *llm.Model, path string) ([]int32, int32, error) {
	f, err := openInput(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxEvalText+1))
	if err != nil {
		return nil, 0, err
	}
	if len(b) > maxEvalText {
		return nil, 0, fmt.Errorf("eval: %s is larger than %d bytes", path, maxEvalText)
	}
	v, err := tokenizer.FromMetadata(m.Metadata)
	if err != nil {
		return nil, 0, err
	}
	tok, err := tokenizer.New(v)
	if err != nil {
		return nil, 0, err
	}
	bos := int32(-1)
	if ids := tok.Encode("", true, false); len(ids) == 1 {
		bos = ids[0]
	}
	return tok.Encode(string(b), true, false), bos, nil
}

func printEval(w io.Writer, model, ref string, r *evalReport) {
	fmt.Fprintf(w, "%s: perplexity %.4f ± %.4f over %d tokens (%d chunks of %d)\n", model, r.Perplexity, r.PerplexityErr, r.Tokens, r.Chunks, r.Context)
	if c := r.Reference; c != nil {
		fmt.Fprintf(w, "reference %s: perplexity %.4f; ratio %.4f\n", ref, c.Perplexity, c.PerplexityRatio)
		fmt.Fprintf(w, "KL divergence: mean %.6f  median %.6f  p90 %.6f  p95 %.6f  p99 %.6f  max %.6f\n", c.KLMean, c.KLMedian, c.KL90, c.KL95, c.KL99, c.KLMax)
		fmt.Fprintf(w, "top-1 agreement: %.2f%%\n", 100*c.Top1)
	}
}

// chunkProgress reports chunks done on a terminal, nothing otherwise.
func chunkProgress(e *env) func(done, total int) {
	if !isTerminal(e.stderr) {
		return nil
	}
	return func(done, total int) {
		fmt.Fprintf(e.stderr, "\rchunk %d/%d", done, total)
		if done == total {
			fmt.Fprintln(e.stderr)
		}
	}
}
