package gguf

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/internal/testtool"
	"github.com/refit-ml/refit/tensor"
)

// ggml returns the folder holding node-llama-cpp's libggml-base.so and the ctypes script.
func ggml(t *testing.T) (libdir, script string) {
	t.Helper()
	nm := testtool.NodeModules(t, "@node-llama-cpp/linux-x64")
	testtool.RequirePython(t, "ctypes")
	libdir = filepath.Join(nm, "@node-llama-cpp", "linux-x64", "bins", "linux-x64")
	if _, err := os.Stat(filepath.Join(libdir, "libggml-base.so")); err != nil {
		t.Fatalf("node-llama-cpp is installed but libggml-base.so is missing: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(testtool.RepoRoot(), "testdata", "gen", "gguf_ggml.py"))
	if err != nil {
		t.Fatal(err)
	}
	return libdir, string(b)
}

// TestGGMLWrites: files written by ggml's gguf_write_to_file parse exactly and
// rewrite byte for byte, through File and through Model.
func TestGGMLWrites(t *testing.T) {
	lib, script := ggml(t)
	dir := t.TempDir()
	var man map[string]manifestFile
	if err := json.Unmarshal(testtool.RunPython(t, script, lib, "write", dir), &man); err != nil {
		t.Fatal(err)
	}
	if len(man) < 4 {
		t.Fatalf("script wrote %d cases", len(man))
	}
	for name, want := range man {
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(dir, name+".gguf"))
			if err != nil {
				t.Fatal(err)
			}
			f, err := parseBytes(b)
			if err != nil {
				t.Fatalf("Parse = %v", err)
			}
			checkKVs(t, f.KVs, want.KVs)
			m, err := f.Model()
			if err != nil {
				t.Fatal(err)
			}
			checkTensorsAgainst(t, m, want.Tensors)
			var out bytes.Buffer
			if _, err := f.WriteTo(&out); err != nil || !bytes.Equal(out.Bytes(), b) {
				t.Errorf("WriteTo: %v; identical: %v", err, bytes.Equal(out.Bytes(), b))
			}
			if enc := encodeModel(t, m, nil); !bytes.Equal(enc, b) {
				t.Errorf("Encode(Decode) differs from ggml's file (%d vs %d bytes)", len(enc), len(b))
			}
		})
	}
}

// TestGGMLReads: ggml's gguf_init_from_file reads files Refit writes, seeing every KV
// with its exact type and value, and every tensor's type, shape, offset and size.
func TestGGMLReads(t *testing.T) {
	lib, script := ggml(t)
	dir := t.TempDir()

	var m refit.Model
	values := []any{
		"llama", uint8(255), int8(-128), uint16(65535), int16(-32768), uint32(1<<32 - 1), int32(-1 << 31),
		float32(-1.5), true, false, "", "ünïcode, no NUL: ggml returns C strings", uint64(1<<64 - 1), int64(-1 << 63), 2.718281828459045,
		[]uint8{1, 2}, []int8{-1}, []uint16{}, []int16{-2, 3}, []uint32{7}, []int32{-7}, []float32{0.5, -0},
		[]bool{true, false}, []string{"a", "", "▁tok"}, []uint64{1 << 63}, []int64{-9}, []float64{1e300}, []string{},
	}
	for i, v := range values {
		m.Metadata.Set("k"+string(rune('a'+i)), v)
	}
	add := func(name string, d tensor.DType, s tensor.Shape) {
		size, err := tensor.ByteSize(d, s)
		if err != nil {
			t.Fatal(err)
		}
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(i*7 + len(name))
		}
		tt, err := tensor.FromBytes(name, d, s, data)
		if err != nil {
			t.Fatal(err)
		}
		m.Tensors = append(m.Tensors, tt)
	}
	add("f32", tensor.F32, tensor.Shape{2, 3})
	add("f16", tensor.F16, tensor.Shape{5})
	add("bf16", tensor.BF16, tensor.Shape{2, 1, 3})
	add("q8_0", tensor.Q8_0, tensor.Shape{3, 64})
	add("q4_k", tensor.Q4_K, tensor.Shape{2, 1, 1, 256})
	add("i32", tensor.I32, tensor.Shape{1, 4})
	add("f64", tensor.F64, tensor.Shape{1})
	add("mxfp4", tensor.MXFP4, tensor.Shape{32})

	cases := map[string]*EncodeOptions{"default": nil, "align64": {Alignment: 64}, "align8": {Alignment: 8}}
	var paths []string
	files := map[string]*File{}
	for name, opts := range cases {
		b := encodeModel(t, &m, opts)
		p := filepath.Join(dir, name+".gguf")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := parseBytes(b)
		if err != nil {
			t.Fatal(err)
		}
		paths, files[p] = append(paths, p), f
	}
	var got map[string]*manifestFile
	if err := json.Unmarshal(testtool.RunPython(t, script, append([]string{lib, "read"}, paths...)...), &got); err != nil {
		t.Fatal(err)
	}
	for p, f := range files {
		t.Run(filepath.Base(p), func(t *testing.T) {
			g := got[p]
			if g == nil {
				t.Fatal("gguf_init_from_file failed")
			}
			if g.Version != 3 || g.Alignment != f.Alignment || g.DataOffset != f.DataOffset {
				t.Errorf("ggml: version %d alignment %d data offset %d; Refit: 3 %d %d", g.Version, g.Alignment, g.DataOffset, f.Alignment, f.DataOffset)
			}
			checkKVs(t, f.KVs, g.KVs)
			if len(g.Tensors) != len(f.Tensors) {
				t.Fatalf("ggml sees %d tensors, want %d", len(g.Tensors), len(f.Tensors))
			}
			for i, ti := range f.Tensors {
				gt := g.Tensors[i]
				ne := []int64{1, 1, 1, 1}
				copy(ne, ti.Shape)
				size, _ := ti.Size()
				if gt.Name != ti.Name || gt.Type != ti.Type || !equalInts(gt.Ne, ne) || *gt.Offset != ti.Offset || *gt.Size != size {
					t.Errorf("ggml tensor %d = %q %v %v @%d %dB; want %q %v %v @%d %dB", i,
						gt.Name, gt.Type, gt.Ne, *gt.Offset, *gt.Size, ti.Name, ti.Type, ne, ti.Offset, size)
				}
			}
		})
	}
}

func equalInts(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
