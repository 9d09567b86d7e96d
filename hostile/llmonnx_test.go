//go:build unix

package hostile

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/gguf"
	"github.com/refit-ml/refit/internal/testtool"
	"github.com/refit-ml/refit/tensor"
)

// Attack class "llmonnx": GGUF language models converted to ONNX (package
// llm/onnxexport) whose metadata or tensors are inconsistent or unsupported: an
// architecture without a translation, hyperparameters asking for huge rotary tables,
// weights whose shapes disagree with the metadata, block-quantized weights with NaN
// scales. Each must exit non-zero with an error and leave no output. The files are
// the committed tiny llama (testdata/models/llm) edited at test time.

func TestLLMONNX(t *testing.T) {
	src, err := refit.Open(filepath.Join(testtool.RepoRoot(), "testdata", "models", "llm", "llama-f16.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	cases := []struct {
		name string
		edit func(t *testing.T, m *refit.Model)
	}{
		{"unsupported architecture", func(t *testing.T, m *refit.Model) {
			m.Metadata.Set("general.architecture", "gpt2")
		}},
		{"huge rotary tables", func(t *testing.T, m *refit.Model) {
			m.Metadata.Set("llama.context_length", uint32(1<<20))
			m.Metadata.Set("llama.attention.key_length", uint32(1<<16))
			m.Metadata.Set("llama.rope.dimension_count", uint32(1<<16))
		}},
		{"head size disagrees with q", func(t *testing.T, m *refit.Model) {
			m.Metadata.Set("llama.attention.key_length", uint32(1<<12))
			m.Metadata.Set("llama.rope.dimension_count", uint32(16))
		}},
		{"ffn width disagrees", func(t *testing.T, m *refit.Model) {
			m.Metadata.Set("llama.feed_forward_length", uint32(1<<20))
		}},
		{"Q4_0 block with NaN scale", func(t *testing.T, m *refit.Model) {
			for i, x := range m.Tensors {
				if x.Name == "blk.1.ffn_up.weight" {
					n, err := tensor.ByteSize(tensor.Q4_0, x.Shape)
					if err != nil {
						t.Fatal(err)
					}
					b := make([]byte, n)
					b[0], b[1] = 0x00, 0x7e // float16 NaN
					if m.Tensors[i], err = tensor.FromBytes(x.Name, tensor.Q4_0, x.Shape, b); err != nil {
						t.Fatal(err)
					}
				}
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			m := &refit.Model{Format: "gguf", Metadata: src.Metadata.Clone(), Tensors: append([]*tensor.Tensor(nil), src.Tensors...)}
			tc.edit(t, m)
			var buf bytes.Buffer
			if err := gguf.Encode(&buf, m, nil); err != nil {
				t.Fatal(err)
			}
			in := filepath.Join(dir, "m.gguf")
			if err := os.WriteFile(in, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, "m.onnx")
			r := runRefit(t, limits{memKiB: 2 << 20}, "convert", in, out)
			if r.code == 0 {
				t.Fatalf("convert to ONNX succeeded\n%v", r)
			}
			t.Logf("%s", r.stderr)
			if r.stderr == "" {
				t.Errorf("no error message\n%v", r)
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 1 {
				t.Errorf("left %d entries in the output folder, want only the input\n%v", len(entries), r)
			}
		})
	}
}
