package tokenizer

import (
	"fmt"
	"slices"
	"strings"
)

// preType is what llama.cpp derives from a tokenizer.ggml.pre name (llama_vocab
// load): the regex set and the flags that change encoding or decoding.
type preType struct {
	regexes      string // key of preRegexes
	ignoreMerges bool   // a word that is a token is taken whole
	keepSpaces   bool   // clean_spaces = false when decoding
	addBOS       bool   // add_bos defaults to true
	escapeSpaces bool   // spaces become U+2581 before encoding
	addSep       bool
	noBOS        bool // the bos id is dropped (chatglm)
}

// preTypes maps every pre-tokenizer name llama.cpp accepts.
var preTypes = map[string]preType{}

func init() {
	add := func(names string, t preType) {
		for _, n := range strings.Split(names, ",") {
			preTypes[n] = t
		}
	}
	add("default", preType{regexes: "default"})
	add("minicpm5", preType{regexes: "minicpm5", ignoreMerges: true})
	add("llama3,llama-v3,llama-bpe,falcon3,falcon-h1,pixtral,midm-2.0,lfm2,jina-v5-nano", preType{regexes: "llama3", ignoreMerges: true, addBOS: true})
	add("deepseek-llm", preType{regexes: "deepseek_llm", keepSpaces: true})
	add("deepseek-coder", preType{regexes: "deepseek_coder", keepSpaces: true})
	add("deepseek-v3", preType{regexes: "deepseek3_llm", keepSpaces: true})
	add("youtu", preType{regexes: "youtu", keepSpaces: true, ignoreMerges: true})
	add("falcon", preType{regexes: "falcon"})
	add("mpt", preType{regexes: "gpt2"})
	add("starcoder", preType{regexes: "starcoder"})
	add("gpt-2,phi-2,jina-es,jina-de,gigachat,jina-v2-es,jina-v2-de,a.x-4.0,mellum,modern-bert,exaone4", preType{regexes: "gpt2"})
	add("jais-2", preType{regexes: "jais2"})
	add("gemma4,granite-embed-multi-311m", preType{regexes: "gemma4", escapeSpaces: true})
	add("sarvam-moe", preType{regexes: "sarvam_moe", escapeSpaces: true, keepSpaces: true})
	add("jina-v1-en,jina-v2-code,roberta-bpe", preType{regexes: "gpt2", addSep: true})
	add("whitespace", preType{regexes: "whitespace"})
	add("refact", preType{regexes: "starcoder"})
	add("command-r", preType{regexes: "starcoder", keepSpaces: true})
	add("qwen2,deepseek-r1-qwen,kormo,f2llmv2", preType{regexes: "stablelm2", keepSpaces: true})
	add("megrez", preType{regexes: "stablelm2"})
	add("qwen35", preType{regexes: "qwen35", keepSpaces: true})
	add("stablelm2", preType{regexes: "stablelm2"})
	add("olmo,jais", preType{regexes: "gpt2"})
	add("dbrx,smaug-bpe", preType{regexes: "dbrx"})
	add("poro-chat", preType{regexes: "poro", keepSpaces: true})
	add("bloom,gpt3-finnish", preType{regexes: "poro"})
	add("glm4,chatglm-bpe", preType{regexes: "chatglm4", noBOS: true})
	add("viking", preType{regexes: "viking", keepSpaces: true})
	add("tekken", preType{regexes: "tekken", keepSpaces: true, ignoreMerges: true, addBOS: true})
	add("smollm", preType{regexes: "starcoder", keepSpaces: true})
	add("codeshell,exaone,minerva-7b", preType{regexes: "starcoder"})
	add("exaone-moe", preType{regexes: "exaone_moe"})
	add("chameleon", preType{regexes: "chameleon", addBOS: true, keepSpaces: true})
	add("gpt-4o,llama4,kanana2,talkie", preType{regexes: "gpt4o", keepSpaces: true})
	add("granite-embed-multi-97m", preType{regexes: "granite_emb_multi", keepSpaces: true, ignoreMerges: true})
	add("tiny_aya,cohere2moe", preType{regexes: "tiny_aya", keepSpaces: true})
	add("superbpe", preType{regexes: "superbpe", keepSpaces: true})
	add("trillion,granite-docling", preType{regexes: "gpt2", keepSpaces: true})
	add("bailingmoe,bailingmoe2,llada-moe", preType{regexes: "bailingmoe", keepSpaces: true})
	add("seed-coder", preType{regexes: "seed_coder", keepSpaces: true})
	add("hunyuan", preType{regexes: "stablelm2", keepSpaces: true})
	add("hunyuan-dense,joyai-llm", preType{regexes: "deepseek3_llm", keepSpaces: true})
	add("kimi-k2", preType{regexes: "kimi_k2", keepSpaces: true})
	add("grok-2", preType{regexes: "grok_2", keepSpaces: true})
	add("afmoe", preType{regexes: "afmoe", keepSpaces: true})
	add("laguna", preType{regexes: "laguna", keepSpaces: true})
	add("minimax-m2", preType{regexes: "gpt4o", keepSpaces: true})
	add("solar-open", preType{regexes: "stablelm2", keepSpaces: true})
	add("mellum2", preType{regexes: "starcoder"})
}

// PreTokenizers lists the pre-tokenizer names llama.cpp knows, sorted.
func PreTokenizers() []string {
	out := make([]string, 0, len(preTypes))
	for n := range preTypes {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// PreBehaviour is a key equal for two pre-tokenizer names exactly when llama.cpp
// tokenizes alike with them (same regexes and flags); "" for an unknown name.
func PreBehaviour(name string) string {
	t, ok := preTypes[name]
	if !ok {
		return ""
	}
	return fmt.Sprintf("%+v", t)
}
