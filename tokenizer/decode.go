package tokenizer

import (
	"fmt"
	"strings"
)

// Piece is the text of one token as llama.cpp's token_to_piece gives it. Control
// and unknown tokens are empty unless special is set.
func (t *Tokenizer) Piece(id int32, special bool) []byte {
	if id < 0 || int(id) >= len(t.v.Tokens) {
		return nil
	}
	a := t.attrs[id]
	if !special && a&(attrUnknown|attrControl) != 0 {
		return nil
	}
	text := t.v.Tokens[id]
	switch t.kind {
	case "rwkv":
		return unescapeRWKV(text)
	case "bpe":
		if a&(attrUnknown|attrControl|attrUserDefined) != 0 {
			return []byte(text)
		}
		if a&attrNormal != 0 {
			if t.escapeSpaces {
				return []byte(strings.ReplaceAll(text, "▁", " "))
			}
			return decodeByteLevel(text)
		}
		if a&attrByte != 0 {
			return []byte{hexByte(text)}
		}
	default:
		if a&(attrUnknown|attrControl|attrUserDefined) != 0 {
			return []byte(text)
		}
		if a&attrNormal != 0 {
			return []byte(strings.ReplaceAll(text, "▁", " "))
		}
		if a&attrByte != 0 {
			return []byte{hexByte(text)}
		}
	}
	return nil
}

// hexByte reads the byte of a "<0xAB>" token.
func hexByte(s string) byte {
	var b byte
	if len(s) >= 5 {
		fmt.Sscanf(s[3:5], "%02X", &b)
	}
	return b
}

func decodeByteLevel(s string) []byte {
	var out []byte
	for _, r := range s {
		if b, ok := runeBytes[r]; ok {
			out = append(out, b)
			continue
		}
		out = append(out, "[UNK_BYTE_0x"...)
		for _, c := range []byte(string(r)) {
			out = append(out, fmt.Sprintf("%02x", c)...)
		}
		out = append(out, s...)
		out = append(out, ']')
	}
	return out
}

// Decode turns ids back into text as llama.cpp's detokenize does: removeSpecial
// drops the BOS/EOS the vocabulary adds, unparseSpecial renders control tokens.
func (t *Tokenizer) Decode(ids []int32, removeSpecial, unparseSpecial bool) string {
	removeSpace := t.addSpacePrefix
	if removeSpecial && t.addBOS && len(ids) > 0 && ids[0] == t.bos {
		removeSpace = false
		ids = ids[1:]
	}
	if removeSpecial && t.addEOS && len(ids) > 0 && ids[len(ids)-1] == t.eos {
		ids = ids[:len(ids)-1]
	}
	var text []byte
	for _, id := range ids {
		p := t.Piece(id, unparseSpecial)
		if removeSpace && len(p) > 0 && p[0] == ' ' {
			p = p[1:]
		}
		removeSpace = false
		text = append(text, p...)
	}
	if t.cleanSpaces {
		text = cleanSpaces(text)
	}
	return string(text)
}

// cleanSpaces is llama.cpp's clean_up_tokenization_spaces: " ?" " !" " ." " ,"
// lose their space, a lone " ' " its spaces, and " 's" " 'm" " 're" " 've" theirs.
func cleanSpaces(text []byte) []byte {
	if len(text) == 0 {
		return text
	}
	pass := func(f func(in []byte, i int, out []byte) ([]byte, int)) {
		out := []byte{text[0]}
		for i := 1; i < len(text); i++ {
			out, i = f(text, i, out)
		}
		text = out
	}
	pass(func(in []byte, i int, out []byte) ([]byte, int) {
		x := in[i]
		if in[i-1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ',') {
			out = out[:len(out)-1]
		}
		return append(out, x), i
	})
	pass(func(in []byte, i int, out []byte) ([]byte, int) {
		x := in[i]
		if x == '\'' && i+1 < len(in) && in[i-1] == ' ' && in[i+1] == ' ' {
			out = out[:len(out)-1]
			out = append(out, x)
			return out, i + 1 // the next space is dropped
		}
		return append(out, x), i
	})
	pass(func(in []byte, i int, out []byte) ([]byte, int) {
		x := in[i]
		if in[i-1] == ' ' && x == '\'' && i+1 < len(in) {
			x1 := in[i+1]
			switch {
			case x1 == 's' || x1 == 'm':
				out = out[:len(out)-1]
			case i+2 < len(in) && ((x1 == 'r' && in[i+2] == 'e') || (x1 == 'v' && in[i+2] == 'e')):
				out = out[:len(out)-1]
			}
		}
		return append(out, x), i
	})
	return text
}
