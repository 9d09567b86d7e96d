package cli

import (
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/gguf"
	"github.com/refit-ml/refit/tokenizer"
)

func init() { commands = append(commands, newTokenizeCmd) }

type tokenizeOptions struct {
	asJSON, idsOnly, noBOS, noParseSpecial, stdin bool
	file                                          string
	decode                                        bool
}

func newTokenizeCmd(e *env) *cobra.Command {
	var o tokenizeOptions
	cmd := &cobra.Command{
		Use:   "tokenize MODEL [TEXT]",
		Short: "Tokenize text the way llama.cpp does, with a GGUF's or a Hugging Face folder's tokenizer",
		Long: `Tokenize text with the tokenizer of MODEL: a GGUF file (its tokenizer.* metadata),
a Hugging Face folder or its tokenizer.json / tokenizer.model / vocab.txt. Prints one line
per token: id and piece. Like llama-tokenize, BOS/EOS are added as the vocabulary asks
(--no-bos to leave them out) and special tokens written in the text ("<|im_end|>") become
their ids (--no-parse-special to tokenize them as text). Tokenizer models: SentencePiece
("llama"), byte-level BPE ("gpt2", every llama.cpp pre-tokenizer), WordPiece ("bert"),
Unigram ("t5"), RWKV. With --decode, TEXT is a list of ids to turn back into text.`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			text, err := tokenizeInput(e, args, &o)
			if err != nil {
				return err
			}
			v, err := loadVocab(args[0])
			if err != nil {
				return err
			}
			tok, err := tokenizer.New(v)
			if err != nil {
				return err
			}
			if o.decode {
				var ids []int32
				for _, f := range strings.FieldsFunc(text, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '[' || r == ']' }) {
					n, err := strconv.ParseInt(f, 10, 32)
					if err != nil || n < 0 || int(n) >= len(v.Tokens) {
						return usageError{fmt.Errorf("--decode: %q is not a token id of this vocabulary (%d tokens)", f, len(v.Tokens))}
					}
					ids = append(ids, int32(n))
				}
				s := tok.Decode(ids, false, !o.noParseSpecial)
				if o.asJSON {
					return writeJSON(e.stdout, map[string]any{"ids": ids, "text": s})
				}
				_, err := fmt.Fprintln(e.stdout, s)
				return err
			}
			ids := tok.Encode(text, !o.noBOS, !o.noParseSpecial)
			type piece struct {
				ID    int32  `json:"id"`
				Piece string `json:"piece"`
			}
			pieces := make([]piece, len(ids))
			for i, id := range ids {
				pieces[i] = piece{id, string(tok.Piece(id, true))}
			}
			if o.asJSON {
				return writeJSON(e.stdout, map[string]any{"model": v.Model, "pre": v.Pre, "ids": ids, "tokens": pieces})
			}
			if o.idsOnly {
				s := make([]string, len(ids))
				for i, id := range ids {
					s[i] = strconv.Itoa(int(id))
				}
				_, err := fmt.Fprintf(e.stdout, "[%s]\n", strings.Join(s, ", "))
				return err
			}
			for _, p := range pieces {
				if _, err := fmt.Fprintf(e.stdout, "%6d -> %s\n", p.ID, strconv.Quote(p.Piece)); err != nil {
					return err
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.asJSON, "json", false, "print {ids, tokens: [{id, piece}]} as JSON")
	f.BoolVar(&o.idsOnly, "ids", false, "print only the ids, as [1, 2, 3]")
	f.BoolVar(&o.noBOS, "no-bos", false, "do not add the BOS/EOS/SEP tokens the vocabulary adds")
	f.BoolVar(&o.noParseSpecial, "no-parse-special", false, "tokenize special tokens written in the text as plain text")
	f.BoolVar(&o.stdin, "stdin", false, "read the text from standard input")
	f.StringVar(&o.file, "file", "", "read the text from a file")
	f.BoolVar(&o.decode, "decode", false, "TEXT is token ids (\"1 2 3\" or \"[1, 2, 3]\"): print their text")
	return cmd
}

func tokenizeInput(e *env, args []string, o *tokenizeOptions) (string, error) {
	n := 0
	for _, b := range []bool{len(args) == 2, o.stdin, o.file != ""} {
		if b {
			n++
		}
	}
	if n != 1 {
		return "", usageError{fmt.Errorf("give the text as one of: an argument, --stdin, --file")}
	}
	switch {
	case o.stdin:
		b, err := io.ReadAll(io.LimitReader(e.stdin, tokenizer.MaxFileSize+1))
		if err != nil {
			return "", err
		}
		if len(b) > tokenizer.MaxFileSize {
			return "", fmt.Errorf("tokenize: text larger than %d bytes", tokenizer.MaxFileSize)
		}
		return string(b), nil
	case o.file != "":
		f, err := openInput(o.file)
		if err != nil {
			return "", err
		}
		defer f.Close()
		b, err := io.ReadAll(io.LimitReader(f, tokenizer.MaxFileSize+1))
		if err != nil {
			return "", err
		}
		if len(b) > tokenizer.MaxFileSize {
			return "", fmt.Errorf("tokenize: %s is larger than %d bytes", o.file, tokenizer.MaxFileSize)
		}
		return string(b), nil
	}
	return args[1], nil
}

// loadVocab reads a GGUF file's tokenizer metadata or a Hugging Face tokenizer
// (a folder or one of its tokenizer files).
// Either may be remote (s3://, https://).
func loadVocab(path string) (*tokenizer.Vocab, error) {
	st, err := refit.StatPath(path)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		if refit.IsRemote(path) {
			fsys, err := refit.RemoteFS(path)
			if err != nil {
				return nil, err
			}
			return tokenizer.Load(fsys, nil)
		}
		return tokenizer.Load(refit.DirFS(path), nil)
	}
	f, err := refit.OpenFile(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if gguf.Sniff(f, f.Size()) {
		m, err := gguf.Decode(f, f.Size(), nil)
		if err != nil {
			return nil, err
		}
		return tokenizer.FromMetadata(m.Metadata)
	}
	switch inputBase(path) {
	case "tokenizer.json", "tokenizer.model", "vocab.txt", "tokenizer_config.json":
		if refit.IsRemote(path) {
			fsys, _ := refit.FileFS(path) // the folder holding the file
			return tokenizer.Load(fsys, nil)
		}
		return tokenizer.Load(refit.DirFS(filepath.Dir(path)), nil)
	}
	return nil, refit.Unsupportedf("tokenize", "%s is neither a GGUF file nor a Hugging Face tokenizer file", path)
}
