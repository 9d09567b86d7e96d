package keras

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/refit-ml/refit"
)

// TestDatasetBudget checks that every dataset read is charged 8+2*itemsize bytes per
// element to the call's budget and refused past it.
func TestDatasetBudget(t *testing.T) {
	for _, name := range []string{"testdata/weights.h5", "testdata/model.keras"} {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		budget := refit.NewBudget(0)
		m, err := decode(bytes.NewReader(b), int64(len(b)), budget)
		if err != nil {
			t.Fatalf("decode(%s) = %v", name, err)
		}
		headers := budget.Used()
		first := int64(0)
		for i, x := range m.Tensors {
			before := budget.Used()
			if _, err := x.Bytes(); err != nil {
				t.Fatalf("%s: reading %s: %v", name, x.Name, err)
			}
			want := x.NumElements() * (8 + 2*int64(x.DType.TypeSize()))
			if got := budget.Used() - before; got != want {
				t.Errorf("%s: reading %s charged %d bytes, want %d", name, x.Name, got, want)
			}
			if i == 0 {
				first = want
			}
		}
		m.Close()

		// A budget one byte short of the first dataset refuses it.
		budget = refit.NewBudget(headers + first - 1)
		if m, err = decode(bytes.NewReader(b), int64(len(b)), budget); err != nil {
			t.Fatalf("decode(%s) with a budget of %d = %v", name, headers+first-1, err)
		}
		if _, err := m.Tensors[0].Bytes(); !errors.Is(err, refit.ErrBudget) {
			t.Errorf("%s: reading past the budget = %v, want ErrBudget", name, err)
		}
		m.Close()
	}
}

// TestNoTempFiles checks that no temporary copy of the HDF5 data is left in the temp
// folder while a model is open, nor after it is closed.
func TestNoTempFiles(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TMPDIR", dir)
	b, err := os.ReadFile("testdata/weights.h5")
	if err != nil {
		t.Fatal(err)
	}
	m, err := Decode(bytes.NewReader(b), int64(len(b)), nil)
	if err != nil {
		t.Fatal(err)
	}
	left, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(left) != 0 {
		t.Errorf("temporary files while the model is open: %v", left)
	}
	if _, err := m.Tensors[0].Bytes(); err != nil {
		t.Errorf("reading from the unlinked copy: %v", err)
	}
	m.Close()
}

// TestChunkCheck checks that the chunk checker walks a two-level chunk index of shuffled
// gzip chunks without refusing it, and refuses a chunk that inflates past its size.
func TestChunkCheck(t *testing.T) {
	for name, chunks := range map[string]int{"testdata/gzip_chunks.h5": 100, "testdata/gzip_chunks_v2.h5": 10} {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		h, err := openH5(bytes.NewReader(b), nil)
		if err != nil {
			t.Fatal(err)
		}
		m, err := decodeLegacy(h)
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Tensors) != 1 {
			t.Fatalf("%s has %d tensors, want 1", name, len(m.Tensors))
		}
		f, err := m.Tensors[0].Float32s()
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range f {
			if v != float32(i) {
				t.Fatalf("%s: value %d = %v, want %d", name, i, v, i)
			}
		}
		if h.raw.chunksChecked != chunks {
			t.Errorf("%s: checked %d chunks, want %d", name, h.raw.chunksChecked, chunks)
		}
		h.Close()
	}

	bomb := decodeFile(t, "../../hostile/testdata/budgets/keras_chunk_bomb.h5")
	defer bomb.Close()
	if _, err := bomb.Tensors[0].Bytes(); !errors.Is(err, refit.ErrFormat) {
		t.Errorf("reading a chunk that inflates past its size = %v, want ErrFormat", err)
	}
}
