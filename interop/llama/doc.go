// Package llama holds interop tests between Refit's Hugging Face -> GGUF converter
// (packages hf and arch) and llama.cpp itself: tiny random-weight models of each supported
// architecture are built by testdata/gen/llm.py (torch), converted by hf.ConvertHF,
// loaded by node-llama-cpp's libllama through ctypes, and llama.cpp's tokenization and
// logits are compared with the script's reference tokenizer and torch forward pass.
//
// The package has no non-test code.
package llama
