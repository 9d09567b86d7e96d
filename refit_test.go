package refit_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/refit-ml/refit"
	_ "github.com/refit-ml/refit/format/all"
	"github.com/refit-ml/refit/tensor"
)

func TestMetadataKeepsOrder(t *testing.T) {
	var md refit.Metadata
	md.Set("b", 1)
	md.Set("a", "x")
	md.Set("b", 2) // replacing keeps the position
	md.Set("c", true)
	md.Delete("a")
	if got := md.Keys(); len(got) != 2 || got[0] != "b" || got[1] != "c" {
		t.Fatalf("Keys() = %v, want [b c]", got)
	}
	if v, _ := md.Get("b"); v != 2 {
		t.Errorf("Get(b) = %v, want 2", v)
	}
	c := md.Clone()
	c.Set("d", 4)
	if md.Len() != 2 || c.Len() != 3 {
		t.Errorf("Clone is not independent: %d, %d keys", md.Len(), c.Len())
	}
}

func TestRegisterPanicsOnDuplicate(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Register of an existing name did not panic")
		}
	}()
	refit.Register(refit.Format{Name: "safetensors", Decode: func(io.ReaderAt, int64, *refit.DecodeOptions) (*refit.Model, error) { return nil, nil }})
}

func TestLookupAndSniff(t *testing.T) {
	for _, tc := range []struct{ name, want string }{
		{"safetensors", "safetensors"}, {".pt", "pytorch"}, {"gguf", "gguf"}, {"npz", "numpy"}, {".onnx", "onnx"},
	} {
		f, err := refit.Lookup(tc.name)
		if err != nil || f.Name != tc.want {
			t.Errorf("Lookup(%q) = %v, %v; want %s", tc.name, f, err, tc.want)
		}
	}
	if _, err := refit.Lookup("nope"); !errors.Is(err, refit.ErrUnknownFormat) {
		t.Errorf("Lookup(nope) error = %v, want ErrUnknownFormat", err)
	}
	names := refit.Formats()
	for i := 1; i < len(names); i++ {
		if names[i-1].Name >= names[i].Name {
			t.Fatalf("Formats() not sorted: %s before %s", names[i-1].Name, names[i].Name)
		}
	}
	gguf := []byte("GGUF\x03\x00\x00\x00")
	if f, err := refit.Sniff(bytes.NewReader(gguf), int64(len(gguf)), "x.bin"); err != nil || f.Name != "gguf" {
		t.Errorf("Sniff(GGUF magic) = %v, %v; want gguf", f, err)
	}
	junk := []byte("not a model at all")
	if _, err := refit.Sniff(bytes.NewReader(junk), int64(len(junk)), "x.bin"); !errors.Is(err, refit.ErrUnknownFormat) {
		t.Errorf("Sniff(junk) error = %v, want ErrUnknownFormat", err)
	}
}

func TestPendingFile(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "out.bin")
	p, err := refit.CreatePending(target, false)
	if err != nil {
		t.Fatal(err)
	}
	p.WriteString("partial")
	p.Abort()
	if _, err := os.Stat(target); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("aborted output exists: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("abort left %d files", len(entries))
	}
	p, _ = refit.CreatePending(target, false)
	p.WriteString("done")
	if err := p.Commit(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(target); string(b) != "done" {
		t.Fatalf("committed content = %q", b)
	}
	if _, err := refit.CreatePending(target, false); !errors.Is(err, refit.ErrExists) {
		t.Errorf("CreatePending over an existing file: %v, want ErrExists", err)
	}
	if p, err := refit.CreatePending(target, true); err != nil {
		t.Errorf("CreatePending with overwrite: %v", err)
	} else {
		p.Abort()
	}
}

// TestTensorWriteToCopiesFileRanges checks the copy_file_range path gives the same bytes
// as reading, for every destination kind, and leaves ReadAt unaffected.
func TestTensorWriteToCopiesFileRanges(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.bin")
	data := make([]byte, 1<<20+13)
	for i := range data {
		data[i] = byte(i * 7)
	}
	os.WriteFile(src, data, 0o644)
	f, err := refit.OpenMapped(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const off, n = 5, 1 << 19
	tt, err := tensor.New("t", tensor.U8, tensor.Shape{n}, io.NewSectionReader(f, off, n))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := tt.WriteTo(&buf); err != nil || !bytes.Equal(buf.Bytes(), data[off:off+n]) {
		t.Fatalf("WriteTo(buffer) = %d bytes, err %v; bytes differ", buf.Len(), err)
	}
	out, err := os.Create(filepath.Join(dir, "dst.bin"))
	if err != nil {
		t.Fatal(err)
	}
	out.WriteString("head")
	if _, err := tt.WriteTo(out); err != nil {
		t.Fatal(err)
	}
	out.Close()
	got, _ := os.ReadFile(filepath.Join(dir, "dst.bin"))
	if !bytes.Equal(got[4:], data[off:off+n]) || string(got[:4]) != "head" {
		t.Fatal("WriteTo(*os.File) wrote different bytes")
	}
	p := make([]byte, 10)
	if _, err := f.ReadAt(p, 100); err != nil || !bytes.Equal(p, data[100:110]) {
		t.Fatalf("ReadAt after CopyRange = %v, %v", p, err)
	}
}

func TestCastFloatsLeavesIntegers(t *testing.T) {
	f, _ := tensor.NewF32("w", tensor.Shape{2}, []float32{1.5, -2})
	i, _ := tensor.FromBytes("n", tensor.I64, tensor.Shape{}, make([]byte, 8))
	m := &refit.Model{Tensors: []*tensor.Tensor{f, i}}
	c, err := refit.CastFloats(m, tensor.F16)
	if err != nil {
		t.Fatal(err)
	}
	if c.Tensors[0].DType != tensor.F16 || c.Tensors[1] != i || m.Tensors[0].DType != tensor.F32 {
		t.Fatalf("CastFloats: got %v, %v; input now %v", c.Tensors[0].DType, c.Tensors[1].DType, m.Tensors[0].DType)
	}
	v, _ := c.Tensors[0].Float32s()
	if v[0] != 1.5 || v[1] != -2 {
		t.Errorf("cast values = %v", v)
	}
	if _, err := refit.CastFloats(m, tensor.Q4_0); err == nil {
		t.Error("CastFloats to a block type did not fail")
	}
}
