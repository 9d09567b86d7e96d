package onnx

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"

	"google.golang.org/protobuf/proto"

	"github.com/refit-ml/refit"
)

// FuzzDecode checks that no input panics DecodeFS or Sniff, and that every model
// that decodes re-encodes to a model with the same tensors.
func FuzzDecode(f *testing.F) {
	seeds := []string{"testdata/small.onnx", "testdata/ext/model.onnx", "../../testdata/models/prep/paddle_const.onnx"}
	for _, name := range []string{"node/test_add", "node/test_constant", "node/test_if", "simple/test_sequence_model1", "pytorch-converted/test_Linear"} {
		seeds = append(seeds, filepath.Join(onnxTestdata, name, "model.onnx"))
	}
	for _, s := range seeds {
		if b, err := os.ReadFile(s); err == nil {
			f.Add(b)
		}
	}
	side, err := os.ReadFile("testdata/ext/weights.bin")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		Sniff(bytes.NewReader(b), int64(len(b)))
		fsys := fstest.MapFS{"m.onnx": {Data: b}, "weights.bin": {Data: side}}
		m, err := DecodeFS(fsys, "m.onnx", nil)
		if err != nil {
			return
		}
		defer m.Close()
		var want [][]byte
		for _, tt := range m.Tensors {
			data, err := tt.Bytes()
			if err != nil {
				t.Fatalf("decoded tensor %q unreadable: %v", tt.Name, err)
			}
			want = append(want, data)
		}
		var buf bytes.Buffer
		if err := Encode(&buf, m, nil); err != nil {
			t.Fatalf("Encode of a decoded model: %v", err)
		}
		m2, err := Decode(bytes.NewReader(buf.Bytes()), int64(buf.Len()), nil)
		if err != nil {
			t.Fatalf("Decode of encoded model: %v", err)
		}
		if len(m2.Tensors) != len(want) {
			t.Fatalf("re-decoded %d tensors, want %d", len(m2.Tensors), len(want))
		}
		for i, tt := range m2.Tensors {
			data, err := tt.Bytes()
			if err != nil || !bytes.Equal(data, want[i]) {
				t.Fatalf("tensor %q differs after round trip (%v)", tt.Name, err)
			}
		}
	})
}

// FuzzLoadMapped checks that no file panics LoadMapped (which parses the file in place
// through its mapping and points raw_data and external data into mappings), and that
// what it returns equals Load's result on the same files.
func FuzzLoadMapped(f *testing.F) {
	for _, s := range []string{"testdata/small.onnx", "testdata/ext/model.onnx", "../../testdata/models/prep/paddle_const.onnx"} {
		if b, err := os.ReadFile(s); err == nil {
			f.Add(b)
		}
	}
	side, err := os.ReadFile("testdata/ext/weights.bin")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		dir := t.TempDir()
		name := filepath.Join(dir, "m.onnx")
		if err := os.WriteFile(name, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "weights.bin"), side, 0o644); err != nil {
			t.Fatal(err)
		}
		fsys, base := refit.FileFS(name)
		got, files, err := LoadMapped(fsys, base)
		if err != nil {
			return
		}
		defer files.Close()
		want, err := Load(os.DirFS(dir), "m.onnx")
		if err != nil {
			t.Fatalf("LoadMapped accepted a file Load refuses: %v", err)
		}
		if !proto.Equal(got, want) {
			t.Fatal("LoadMapped differs from Load")
		}
	})
}
