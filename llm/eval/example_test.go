package eval_test

import (
	"context"
	"fmt"
	"log"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/llm"
	"github.com/refit-ml/refit/llm/eval"
)

// Scoring a model against itself: the perplexity ratio is 1 and the KL divergence 0.
func ExampleRun() {
	mf, err := refit.OpenMapped("../../testdata/models/llm/llama-f16.gguf")
	if err != nil {
		log.Fatal(err)
	}
	defer mf.Close()
	m, err := llm.Load(mf, mf.Size(), &llm.Options{Threads: 2})
	if err != nil {
		log.Fatal(err)
	}
	tokens := make([]int32, 64) // normally a tokenized text
	for i := range tokens {
		tokens[i] = int32(i)
	}
	r, err := eval.Run(context.Background(), m, m, tokens, &eval.Options{Context: 32, BOS: -1})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d tokens scored in %d chunks; ratio %.3f, KL %.3f\n", r.Tokens, r.Chunks, r.Reference.PerplexityRatio, r.Reference.KLMax)
	// Output: 30 tokens scored in 2 chunks; ratio 1.000, KL 0.000
}
