// Package eval measures a language model on a text: perplexity counted as llama.cpp's
// perplexity tool counts it, and, against a reference model, the KL divergence of the
// token distributions, top-1 agreement and the ratio of perplexities (what llama.cpp's
// perplexity tool prints with --kl-divergence).
//
// The text, already tokenized, is cut into chunks of Context tokens; each chunk is
// run from an empty KV cache, its first token replaced by BOS when the vocabulary
// adds one, and the predictions of the second half of the chunk are scored (positions
// Context/2 .. Context-2 predicting the next token), so every scored token sees at
// least Context/2 tokens of context.
//
// Memory: one chunk's logits for the scored half (Context/2 x vocabulary floats) per
// model, plus the models' sessions (see package llm).
package eval
