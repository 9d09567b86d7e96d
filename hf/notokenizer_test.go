package hf

import (
	"context"
	"strings"
	"testing"
)

// TestConvertHFNoTokenizer converts a folder without tokenizer files: refused
// by default, converted without tokenizer metadata under NoTokenizer.
func TestConvertHFNoTokenizer(t *testing.T) {
	fsys := tinyLlama(t)
	delete(fsys, "tokenizer.json")
	delete(fsys, "tokenizer_config.json")
	if _, err := ConvertHF(context.Background(), fsys, nil); err == nil {
		t.Fatal("ConvertHF without tokenizer files succeeded")
	}
	m, err := ConvertHF(context.Background(), fsys, &ConvertOptions{NoTokenizer: true})
	if err != nil {
		t.Fatalf("ConvertHF(NoTokenizer) = %v", err)
	}
	defer m.Close()
	for _, k := range m.Metadata.Keys() {
		if strings.HasPrefix(k, "tokenizer.") {
			t.Errorf("metadata has %s", k)
		}
	}
	if m.Metadata.String("general.architecture") != "llama" || len(m.Tensors) == 0 {
		t.Errorf("converted %q with %d tensors", m.Metadata.String("general.architecture"), len(m.Tensors))
	}
}
