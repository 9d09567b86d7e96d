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
