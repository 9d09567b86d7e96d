// Package tokenizer reads Hugging Face tokenizer files into the vocabulary form GGUF
// stores (tokenizer.ggml.* and tokenizer.chat_template keys):
//
//   - tokenizer.json with a byte-level BPE model -> tokenizer.ggml.model "gpt2": tokens
//     by id, merges ("left right" in rank order), token types (added special tokens
//     CONTROL, other added tokens USER_DEFINED, gaps UNUSED "[PADn]"), and the
//     pre-tokenizer name llama.cpp uses to pick its split regex, recognized from the
//     pre_tokenizer's structure and pattern ("gpt-2", "llama-bpe", "qwen2"); unknown
//     pre-tokenizers are refused (refit.ErrUnsupported) unless named explicitly, since a
//     wrong one silently changes tokenization;
//   - tokenizer.model, a SentencePiece ModelProto (protobuf) -> "llama": pieces with
//     scores and types (the piece types are GGUF's token types), add_dummy_prefix as
//     tokenizer.ggml.add_space_prefix, unk/bos/eos/pad ids from the trainer spec;
//   - tokenizer_config.json (bos/eos/unk/sep/pad/mask tokens, add_bos_token,
//     add_eos_token, chat_template), config.json (*_token_id fallbacks) and
//     chat_template.jinja.
//
// Memory: files are read whole, capped at MaxFileSize (tokenizer files) and
// MaxSideFile (the small JSON files); vocabularies are capped at MaxVocabSize ids
// before anything is allocated per id.
//
// Security: every input is hostile: ids are range-checked, protobuf lengths come from
// protowire's bounds-checked decoders, and malformed input yields errors wrapping
// refit.ErrFormat, never a panic (fuzzed by FuzzParseSentencePiece and FuzzLoad).
package tokenizer
