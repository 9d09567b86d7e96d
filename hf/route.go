package hf

import "github.com/refit-ml/refit"

// The formats on either side of the Hugging Face <-> GGUF conversions: ConvertHF
// makes models with GGUF's tensor names and metadata, and ReverseGGUF writes a
// folder whose weights are safetensors.
const (
	ggufFormat      = "gguf"
	hfWeightsFormat = "safetensors"
)

// ConvertsFolderFor reports whether a Hugging Face LLM folder written as format f
// goes through ConvertHF (GGUF names, metadata and tokenizer) rather than being
// copied tensor by tensor.
func ConvertsFolderFor(f *refit.Format) bool { return f.Name == ggufFormat }

// ReversesTo reports whether a GGUF language model (see Reversible) written to a
// folder of format f becomes a Hugging Face folder through ReverseGGUF.
func ReversesTo(f *refit.Format) bool { return f.Name == hfWeightsFormat }
