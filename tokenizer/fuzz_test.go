package tokenizer

import (
	"testing"
	"testing/fstest"

	"google.golang.org/protobuf/encoding/protowire"
)

func FuzzParseSentencePiece(f *testing.F) {
	f.Add(spmModel(spmPieces, map[protowire.Number]int64{fieldUnkID: 3, fieldPadID: -1}, false))
	f.Add([]byte{0x0a, 0x02, 0x0a, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := ParseSentencePiece(b)
		if err != nil {
			return
		}
		if len(v.Tokens) != len(v.Scores) || len(v.Tokens) != len(v.Types) {
			t.Fatalf("%d tokens, %d scores, %d types", len(v.Tokens), len(v.Scores), len(v.Types))
		}
		for r, id := range v.Special {
			if int(id) >= len(v.Tokens) {
				t.Fatalf("special %s id %d out of %d tokens", r, id, len(v.Tokens))
			}
		}
	})
}

func FuzzLoad(f *testing.F) {
	f.Add(tokJSON(byteLevel, `[["a","b"]]`, `{"id":5,"content":"<s>","special":true}`), `{"bos_token":"<s>","add_bos_token":true}`, `{"eos_token_id":[1,2]}`, 8)
	f.Add(tokJSON(`{"type":"ByteLevel"}`, `["a b"]`, ``), `{"chat_template":[{"name":"default","template":"x"}]}`, `{}`, 0)
	f.Fuzz(func(t *testing.T, tok, cfg, model string, vocabSize int) {
		fsys := fstest.MapFS{
			"tokenizer.json":        {Data: []byte(tok)},
			"tokenizer_config.json": {Data: []byte(cfg)},
			"config.json":           {Data: []byte(model)},
		}
		if vocabSize < 0 || vocabSize > 1<<16 {
			vocabSize = 0
		}
		v, err := Load(fsys, &Options{VocabSize: vocabSize})
		if err != nil {
			return
		}
		if len(v.Tokens) != len(v.Types) || len(v.Tokens) < vocabSize {
			t.Fatalf("%d tokens, %d types, vocab size %d", len(v.Tokens), len(v.Types), vocabSize)
		}
		for r, id := range v.Special {
			if int(id) >= len(v.Tokens) {
				t.Fatalf("special %s id %d out of %d tokens", r, id, len(v.Tokens))
			}
		}
	})
}

// FuzzEncode: any text, with every tokenizer model and a spread of pre-tokenizers,
// encodes without a panic to ids inside the vocabulary (or -1 for a missing unknown
// token), and decoding them does not panic either.
func FuzzEncode(f *testing.F) {
	f.Add("Hello <s> world 123 \U0001F999 ab\xff", uint8(0))
	f.Add("  \n\t  ", uint8(3))
	toks := []string{"<unk>", "<s>", "</s>", "a", "b", "ab", "▁a", "<0x41>", "Ġ", "Ġa", "▁", "[CLS]", "\\x41", "\\"}
	types := []TokenType{Unknown, Control, Control, Normal, Normal, Normal, Normal, Byte, Normal, Normal, Normal, Control, Normal, UserDefined}
	var vocabs []*Tokenizer
	for _, m := range []struct{ model, pre string }{
		{"llama", ""}, {"gpt2", "llama-bpe"}, {"gpt2", "tekken"}, {"gpt2", "deepseek-llm"}, {"gpt2", "exaone-moe"},
		{"gpt2", "superbpe"}, {"gpt2", "chameleon"}, {"gemma4", ""}, {"bert", ""}, {"t5", ""}, {"rwkv", ""},
	} {
		v := &Vocab{Model: m.model, Pre: m.pre, Tokens: toks, Types: types, Scores: make([]float32, len(toks)),
			Merges: []string{"a b", "Ġ a", "▁ a"}, Special: map[string]uint32{"bos": 1, "eos": 2}}
		tok, err := New(v)
		if err != nil {
			f.Fatal(err)
		}
		vocabs = append(vocabs, tok)
	}
	f.Fuzz(func(t *testing.T, text string, which uint8) {
		tok := vocabs[int(which)%len(vocabs)]
		for _, mode := range [][2]bool{{false, false}, {true, true}} {
			ids := tok.Encode(text, mode[0], mode[1])
			for _, id := range ids {
				if id < -1 || int(id) >= len(toks) {
					t.Fatalf("id %d out of range", id)
				}
			}
			_ = tok.Decode(ids, true, true)
		}
	})
}
