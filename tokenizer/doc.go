// Package tokenizer moves vocabularies between Hugging Face tokenizer files and the
// form GGUF stores (tokenizer.ggml.* and tokenizer.chat_template* keys), and
// tokenizes text exactly as llama.cpp does.
//
// Reading Hugging Face files (Load):
//
//   - tokenizer.model, a SentencePiece ModelProto (protobuf): BPE models become
//     tokenizer.ggml.model "llama", Unigram models "t5" (with the normalizer's
//     precompiled_charsmap and remove_extra_whitespaces); pieces keep scores and types;
//   - tokenizer.json: byte-level BPE -> "gpt2" with the pre-tokenizer name llama.cpp
//     uses to pick its split regexes, recognized from the Split patterns (as the models
//     spell them or as llama.cpp runs them; an unknown pattern is refused,
//     refit.ErrUnsupported, unless named, since a wrong one silently changes
//     tokenization); BPE with byte fallback -> "llama"; WordPiece -> "bert" (in
//     llama.cpp's spelling: "▁" starts a word, "##" continuations lose it); Unigram ->
//     "t5";
//   - vocab.txt alone -> "bert";
//   - tokenizer_config.json (bos/eos/unk/sep/pad/mask tokens, add_bos_token,
//     add_eos_token, chat_template, named templates), config.json (*_token_id
//     fallbacks) and chat_template.jinja.
//
// Writing them (Vocab.HFFiles) for every model but RWKV: tokenizer.json that
// tokenizers.js loads and that tokenizes like llama.cpp (llama.cpp's view of special
// tokens becomes added tokens with their strip flags), tokenizer_config.json,
// tokenizer.model for "llama"/"t5" and vocab.txt for "bert". What the Hugging Face
// files cannot say (the pre-tokenizer name, every special id, token types, GGUF-only
// flags) is kept under GGUFExtras in tokenizer_config.json, so GGUF -> HF -> GGUF
// gives back every tokenizer.* key.
//
// Tokenizing (New, Tokenizer.Encode, Tokenizer.Decode) follows llama.cpp's
// llama-vocab.cpp: SentencePiece BPE with byte fallback, byte-level BPE with the
// split regexes of every pre-tokenizer name llama.cpp knows (run by a small
// backtracking engine with lookahead over llama.cpp's "collapsed" category text),
// WordPiece, Unigram (Viterbi over the precompiled-charsmap normalizer) and RWKV,
// with llama.cpp's special-token partitioning, its text-based token attribute rules,
// and its detokenizer's space cleaning; llama.cpp's hand-written splitters (Kimi-K2,
// AFMoE digits) are rewritten here. Not implemented: the plamo2, hybriddna and
// whitespace tokenizer models.
//
// Memory: files are read whole, capped at MaxFileSize (tokenizer files) and
// MaxSideFile (the small JSON files); vocabularies are capped at MaxVocabSize ids
// before anything is allocated per id.
//
// Security: every input is hostile: ids are range-checked, protobuf lengths come from
// protowire's bounds-checked decoders, the Unigram double array is read with bounds
// checks, and malformed input yields errors wrapping refit.ErrFormat, never a panic
// (fuzzed by FuzzParseSentencePiece, FuzzLoad and FuzzEncode). Regex repeats that
// cannot run as loops stop nesting after maxRepeatDepth iterations, so a pathological
// word is split there instead of exhausting the stack.
package tokenizer
