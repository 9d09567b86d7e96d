package gguf

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/internal/testtool"
)

// roundTrips checks that b comes back byte for byte through Parse+WriteTo and through
// Decode+Encode.
func roundTrips(t *testing.T, b []byte) {
	t.Helper()
	f, err := parseBytes(b)
	if err != nil {
		t.Fatalf("Parse = %v", err)
	}
	var out bytes.Buffer
	if _, err := f.WriteTo(&out); err != nil || !bytes.Equal(out.Bytes(), b) {
		t.Errorf("WriteTo(Parse) = %d bytes, %v; want the %d bytes read", out.Len(), err, len(b))
	}
	m, err := Decode(bytes.NewReader(b), int64(len(b)), nil)
	if err != nil {
		t.Fatalf("Decode = %v", err)
	}
	if enc := encodeModel(t, m, nil); !bytes.Equal(enc, b) {
		t.Errorf("Encode(Decode) = %d bytes, want the %d bytes read", len(enc), len(b))
	}
}

// vocabOnly is a tensor-less model like convert_hf_to_gguf.py --vocab-only writes.
func vocabOnly() *refit.Model {
	m := &refit.Model{}
	m.Metadata.Set("general.architecture", "llama")
	m.Metadata.Set("tokenizer.ggml.model", "llama")
	m.Metadata.Set("tokenizer.ggml.tokens", []string{"<s>", "</s>", "▁a"})
	m.Metadata.Set("tokenizer.ggml.scores", []float32{0, 0, -1.5})
	m.Metadata.Set("tokenizer.ggml.bos_token_id", uint32(1)) // ends the header off alignment
	return m
}

func TestNoTensors(t *testing.T) {
	m := vocabOnly()
	b := encodeModel(t, m, nil)
	header, err := appendHeader(nil, 3, []KV{
		{"general.architecture", "llama"}, {"tokenizer.ggml.model", "llama"},
		{"tokenizer.ggml.tokens", []string{"<s>", "</s>", "▁a"}}, {"tokenizer.ggml.scores", []float32{0, 0, -1.5}},
		{"tokenizer.ggml.bos_token_id", uint32(1)},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, header) {
		t.Fatalf("Encode(no tensors) = %d bytes, want the %d-byte header and nothing after it", len(b), len(header))
	}
	if len(b)%DefaultAlignment == 0 {
		t.Fatalf("test model's header is aligned (%d bytes): padding would go unnoticed", len(b))
	}
	t.Run("unpadded", func(t *testing.T) { roundTrips(t, b) })
	padded := append(bytes.Clone(b), make([]byte, alignUp(int64(len(b)), DefaultAlignment)-int64(len(b)))...)
	t.Run("padded", func(t *testing.T) { roundTrips(t, padded) })
	t.Run("padded align64", func(t *testing.T) {
		m := vocabOnly()
		m.Metadata.Set(AlignmentKey, uint32(64))
		b := encodeModel(t, m, nil)
		roundTrips(t, append(b, make([]byte, alignUp(int64(len(b)), 64)-int64(len(b)))...))
	})
}

// TestGGMLReadsUnpadded: ggml's reader takes a tensor-less file that stops after its
// metadata (as gguf-py writes vocab-only files), and Refit writes such files back as they were.
func TestGGMLReadsUnpadded(t *testing.T) {
	lib, script := ggml(t)
	dir := t.TempDir()
	p := filepath.Join(dir, "vocab.gguf")
	b := encodeModel(t, vocabOnly(), nil)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	var got map[string]*manifestFile
	if err := json.Unmarshal(testtool.RunPython(t, script, lib, "read", p), &got); err != nil {
		t.Fatal(err)
	}
	if g := got[p]; g == nil || len(g.KVs) != 5 || len(g.Tensors) != 0 {
		t.Fatalf("ggml read %+v, want 5 KVs and no tensors", g)
	}
	roundTrips(t, b)
}
