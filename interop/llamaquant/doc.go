// Package llamaquant holds interop tests between Refit's GGUF quantization (quant/plan,
// quant/ggml) and llama.cpp: for each llama.cpp file type, the file Refit writes is
// compared byte for byte with the one llama_model_quantize (libllama, through ctypes
// from /usr/bin/python3, testdata/gen/quant_llm.py) writes for the same F32 input, with
// and without an importance matrix and with --tensor-type overrides; and Refit's
// quantized files load in llama.cpp (llama_model_load_from_file, gguf_init_from_file
// with full allocation).
//
// The tests need the npm package @node-llama-cpp/linux-x64 and Debian's python3-torch
// (for testdata/gen/llm.py, which builds the tiny model whose metadata and tokenizer the
// test input reuses); they skip without them unless REFIT_REQUIRE_TOOLS=1.
package llamaquant
