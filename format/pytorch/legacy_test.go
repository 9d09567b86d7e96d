package pytorch

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/internal/pickle"
	"github.com/refit-ml/refit/internal/testtool"
)

// legacyModelFixtures are full-model pickles in the legacy format, made by
// testdata/gen/pytorch_legacy_model.py.
var legacyModelFixtures = []string{"model_legacy.pt", "model_legacy_protocol1.pt"}

func TestLegacyModuleSources(t *testing.T) {
	for _, name := range legacyModelFixtures {
		t.Run(name, func(t *testing.T) {
			m, err := decodeFile(t, name, &refit.DecodeOptions{Extract: true})
			if err != nil {
				t.Fatalf("Decode(%q) = %v", name, err)
			}
			src := m.Metadata.String("pytorch.module_source.__main__.Block")
			if !strings.HasPrefix(src, "class Block(torch.nn.Module):") || !strings.Contains(src, "register_buffer") {
				t.Errorf("source of __main__.Block = %q", src)
			}
			if f := m.Metadata.String("pytorch.module_file.torch.nn.modules.linear.Linear"); !strings.HasSuffix(f, "linear.py") {
				t.Errorf("source file of Linear = %q", f)
			}
		})
	}
}

// legacyHead returns the first three pickles of a legacy file (magic, protocol version,
// sys_info), to which a test appends its own object and storage key pickles.
func legacyHead(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/dtypes_legacy.pt")
	if err != nil {
		t.Fatal(err)
	}
	off := int64(0)
	for range 3 {
		if _, off, err = pickle.Decode(bytes.NewReader(b), off, int64(len(b)), &pickle.Options{Globals: globals()}); err != nil {
			t.Fatal(err)
		}
	}
	return b[:off:off]
}

func marshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := pickle.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestLegacyModuleOddSource(t *testing.T) {
	pid := pickle.Tuple{"module", pickle.Global{Module: "__main__", Name: "Net"}, nil, int64(3)}
	b := append(legacyHead(t), marshal(t, pickle.Tuple{pickle.PersistentID{Value: pid}})...)
	b = append(b, "\x80\x02]."...) // no storages
	m, err := decodeBytes(b, &refit.DecodeOptions{Extract: true})
	if err != nil {
		t.Fatalf("Decode(module id without source) = %v", err)
	}
	if got := m.Metadata.String("pytorch.modules"); got != "__main__.Net" {
		t.Errorf("pytorch.modules = %q, want __main__.Net", got)
	}
	if _, ok := m.Metadata.Get("pytorch.module_source.__main__.Net"); ok {
		t.Errorf("a source was recorded from an integer")
	}
}

func TestLegacyModuleBad(t *testing.T) {
	net := pickle.Global{Module: "__main__", Name: "Net"}
	tests := []struct {
		name string
		pid  pickle.Tuple
	}{
		{"three fields", pickle.Tuple{"module", net, "net.py"}},
		{"no class", pickle.Tuple{"module", "Net", "net.py", "class Net: pass"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := append(legacyHead(t), marshal(t, pickle.Tuple{pickle.PersistentID{Value: tt.pid}})...)
			b = append(b, marshal(t, &pickle.Dict{})...) // not reached
			_, err := decodeBytes(b, &refit.DecodeOptions{Extract: true})
			if !errors.Is(err, refit.ErrFormat) {
				t.Errorf("Decode(%s) = %v, want ErrFormat", tt.name, err)
			}
		})
	}
}

// TestInteropLegacyModel compares every tensor Refit extracts from legacy full-model
// pickles (the committed fixtures and ones the installed torch writes now) with what
// torch.load gives.
func TestInteropLegacyModel(t *testing.T) {
	testtool.RequirePython(t, "torch")
	gen, err := os.ReadFile(filepath.Join(testtool.RepoRoot(), "testdata", "gen", "pytorch_legacy_model.py"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	testtool.RunPython(t, string(gen), "write", dir)
	var paths []string
	for _, name := range legacyModelFixtures {
		committed := filepath.Join(dir, "committed_"+name)
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(committed, b, 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, committed, filepath.Join(dir, name))
	}
	var want map[string]map[string]expectedTensor
	if err := json.Unmarshal(testtool.RunPython(t, string(gen), append([]string{"dump"}, paths...)...), &want); err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		name := filepath.Base(p)
		t.Run(name, func(t *testing.T) {
			m, err := refit.OpenWith(p, &refit.DecodeOptions{Extract: true})
			if err != nil {
				t.Fatalf("Open(%s) = %v", name, err)
			}
			defer m.Close()
			if m.Format != "pytorch" {
				t.Errorf("format %q", m.Format)
			}
			if len(want[name]) == 0 {
				t.Fatalf("torch.load gave no tensors for %s", name)
			}
			checkTensors(t, m, want[name])
		})
	}
}
