package pytorch

import (
	"archive/zip"
	"bytes"
	"errors"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/internal/pickle"
)

// makeZip builds an archive from name -> content, all stored.
func makeZip(t testing.TB, files map[string]string, order ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, name := range order {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, files[name])
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// tensorPickle is a protocol-2 state dict {"w": FloatStorage key "0" of numel elements,
// viewed with the given offset, size and stride}.
func tensorPickle(t testing.TB, numel, offset int64, size, stride pickle.Tuple) string {
	t.Helper()
	b, err := pickle.Marshal(pickle.OrderedDict{Keys: []any{"w"}, Values: []any{pickle.Reduce{
		Func: pickle.Global{Module: "torch._utils", Name: "_rebuild_tensor_v2"},
		Args: pickle.Tuple{
			pickle.PersistentID{Value: pickle.Tuple{"storage", pickle.Global{Module: "torch", Name: "FloatStorage"}, "0", "cpu", numel}},
			offset, size, stride, false, pickle.OrderedDict{},
		},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func decodeBytes(b []byte, opts *refit.DecodeOptions) (*refit.Model, error) {
	return Decode(bytes.NewReader(b), int64(len(b)), opts)
}

func TestDecodeBad(t *testing.T) {
	floats := strings.Repeat("\x00\x00\x80\x3f", 6)
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, refit.ErrFormat},
		{"wrong magic", []byte("GGUF\x03\x00\x00\x00"), refit.ErrFormat},
		{"zip without data.pkl", makeZip(t, map[string]string{"a/x": "1"}, "a/x"), refit.ErrFormat},
		{"pickle garbage", makeZip(t, map[string]string{"a/data.pkl": "\x80\x02\xff\xfe"}, "a/data.pkl"), refit.ErrFormat},
		{"pickle truncated", makeZip(t, map[string]string{"a/data.pkl": "\x80\x02}(X\x05\x00\x00\x00ab"}, "a/data.pkl"), io.ErrUnexpectedEOF},
		{"huge string length", makeZip(t, map[string]string{"a/data.pkl": "\x80\x04\x8d\xff\xff\xff\xff\xff\xff\xff\x7f"}, "a/data.pkl"), io.ErrUnexpectedEOF},
		{"deep nesting", makeZip(t, map[string]string{"a/data.pkl": strings.Repeat("(", 100000)}, "a/data.pkl"), pickle.ErrLimit},
		{"os.system", makeZip(t, map[string]string{"a/data.pkl": "cos\nsystem\n(S'echo pwned'\ntR."}, "a/data.pkl"), pickle.ErrGlobal},
		{"builtins.eval", makeZip(t, map[string]string{"a/data.pkl": "\x80\x04\x8c\x08builtins\x8c\x04eval\x93\x8c\x011\x85R."}, "a/data.pkl"), pickle.ErrGlobal},
		{"storage missing", makeZip(t, map[string]string{"a/data.pkl": tensorPickle(t, 6, 0, pickle.Tuple{int64(6)}, pickle.Tuple{int64(1)})}, "a/data.pkl"), refit.ErrFormat},
		{"storage too short", makeZip(t, map[string]string{
			"a/data.pkl": tensorPickle(t, 7, 0, pickle.Tuple{int64(7)}, pickle.Tuple{int64(1)}), "a/data/0": floats,
		}, "a/data.pkl", "a/data/0"), refit.ErrFormat},
		{"huge numel", makeZip(t, map[string]string{
			"a/data.pkl": tensorPickle(t, 1<<62, 0, pickle.Tuple{int64(6)}, pickle.Tuple{int64(1)}), "a/data/0": floats,
		}, "a/data.pkl", "a/data/0"), refit.ErrFormat},
		{"view past storage", makeZip(t, map[string]string{
			"a/data.pkl": tensorPickle(t, 6, 2, pickle.Tuple{int64(2), int64(3)}, pickle.Tuple{int64(3), int64(1)}), "a/data/0": floats,
		}, "a/data.pkl", "a/data/0"), refit.ErrFormat},
		{"huge stride", makeZip(t, map[string]string{
			"a/data.pkl": tensorPickle(t, 6, 0, pickle.Tuple{int64(3), int64(2)}, pickle.Tuple{int64(1 << 62), int64(1)}), "a/data/0": floats,
		}, "a/data.pkl", "a/data/0"), refit.ErrFormat},
		{"negative stride", makeZip(t, map[string]string{
			"a/data.pkl": tensorPickle(t, 6, 5, pickle.Tuple{int64(6)}, pickle.Tuple{int64(-1)}), "a/data/0": floats,
		}, "a/data.pkl", "a/data/0"), refit.ErrFormat},
		{"zip bomb", zipBomb(t), refit.ErrFormat},
		{"pickle extension opcode", makeZip(t, map[string]string{"a/data.pkl": "\x80\x02\x82\x01."}, "a/data.pkl"), refit.ErrUnsupported},
		{"legacy truncated", legacyPrefix(t, 40), io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := decodeBytes(tt.data, nil)
			if err == nil {
				for _, tn := range m.Tensors {
					if _, err = tn.Bytes(); err != nil {
						break
					}
				}
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("Decode(%s) = %v, want %v", tt.name, err, tt.want)
			}
		})
	}
}

func legacyPrefix(t *testing.T, n int) []byte {
	b, err := os.ReadFile("testdata/dtypes_legacy.pt")
	if err != nil {
		t.Fatal(err)
	}
	return b[:n]
}

// zipBomb declares a deflated storage of 1 TB made from a few bytes.
func zipBomb(t *testing.T) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	pkl := tensorPickle(t, 1<<38, 0, pickle.Tuple{int64(1 << 38)}, pickle.Tuple{int64(1)})
	w, _ := zw.CreateHeader(&zip.FileHeader{Name: "a/data.pkl", Method: zip.Store})
	io.WriteString(w, pkl)
	raw := []byte{0x03, 0x00} // an empty final deflate block
	fw, err := zw.CreateRaw(&zip.FileHeader{Name: "a/data/0", Method: zip.Deflate, CRC32: crc32.ChecksumIEEE(nil),
		CompressedSize64: uint64(len(raw)), UncompressedSize64: 1 << 40})
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(raw)
	zw.Close()
	return buf.Bytes()
}

func TestDisallowedGlobalNamed(t *testing.T) {
	_, err := decodeBytes(makeZip(t, map[string]string{"a/data.pkl": "cos\nsystem\n(S'echo pwned'\ntR."}, "a/data.pkl"), nil)
	var ge *pickle.GlobalError
	if !errors.As(err, &ge) || ge.Module != "os" || ge.Name != "system" {
		t.Fatalf("Decode = %v, want a GlobalError naming os.system", err)
	}
	// Even in extract mode, os.system becomes an inert record, never a call.
	m, err := decodeBytes(makeZip(t, map[string]string{"a/data.pkl": "cos\nsystem\n(S'echo pwned'\ntR."}, "a/data.pkl"), &refit.DecodeOptions{Extract: true})
	if err != nil || len(m.Tensors) != 0 {
		t.Fatalf("Decode(Extract) = %v, %v; want an empty model", m, err)
	}
}

func TestTruncatedFixtures(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.pt")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(filepath.Base(f), func(t *testing.T) {
			for _, n := range []int{1, 10, len(b) / 3, len(b) / 2, len(b) - 30, len(b) - 1} {
				m, err := decodeBytes(b[:n], &refit.DecodeOptions{Extract: true})
				if err == nil {
					for _, tn := range m.Tensors {
						tn.Bytes() // must not panic
					}
					if strings.Contains(f, "legacy") {
						t.Errorf("Decode(%d of %d bytes) succeeded", n, len(b))
					}
				}
			}
		})
	}
}

func TestOptions(t *testing.T) {
	t.Run("key", func(t *testing.T) {
		m, err := decodeFile(t, "checkpoint.pt", &refit.DecodeOptions{Key: "state_dict"})
		if err != nil {
			t.Fatal(err)
		}
		if m.Tensor("conv.weight") == nil || m.Tensor("state_dict.conv.weight") != nil || m.Tensor("history.0") != nil {
			t.Errorf("Key=state_dict gave %d tensors without plain names", len(m.Tensors))
		}
		m, err = decodeFile(t, "checkpoint.pt", &refit.DecodeOptions{Key: "state_dict.layers.0.weight"})
		if err != nil || len(m.Tensors) != 1 {
			t.Errorf("Key naming one tensor: %v, %v", m, err)
		}
		if _, err := decodeFile(t, "checkpoint.pt", &refit.DecodeOptions{Key: "nope"}); !errors.Is(err, refit.ErrFormat) {
			t.Errorf("missing key: %v, want ErrFormat", err)
		}
	})
	for _, name := range []string{"model.pt", "model_protocol1.pt", "script.pt", "model_legacy.pt", "model_legacy_protocol1.pt"} {
		t.Run("no extract "+name, func(t *testing.T) {
			_, err := decodeFile(t, name, nil)
			if !errors.Is(err, pickle.ErrGlobal) || !strings.Contains(err.Error(), "--extract") {
				t.Errorf("Decode(%s) = %v, want ErrGlobal with a hint about --extract", name, err)
			}
		})
	}
}

func TestSniff(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.pt")
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if !Sniff(bytes.NewReader(b), int64(len(b))) {
			t.Errorf("Sniff(%s) = false", f)
		}
	}
	other := makeZip(t, map[string]string{"word/document.xml": "x"}, "word/document.xml")
	if Sniff(bytes.NewReader(other), int64(len(other))) {
		t.Errorf("Sniff(docx-like zip) = true")
	}
}

// TestTruncatedOffset cuts every fixture (zip and legacy) and wants a FormatError at the
// size of the cut file that unwraps to io.ErrUnexpectedEOF, and Sniff still claiming it.
func TestTruncatedOffset(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.pt")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(filepath.Base(f), func(t *testing.T) {
			for _, n := range []int{100, len(b) / 2, len(b) - 30, len(b) - 1} {
				cut := b[:n]
				if !Sniff(bytes.NewReader(cut), int64(n)) {
					t.Errorf("Sniff(%d of %d bytes) = false", n, len(b))
				}
				_, err := decodeBytes(cut, &refit.DecodeOptions{Extract: true})
				var fe *refit.FormatError
				if !errors.As(err, &fe) || fe.Offset != int64(n) || !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Errorf("Decode(%d of %d bytes) = %v, want a FormatError at byte %d wrapping io.ErrUnexpectedEOF", n, len(b), err, n)
				}
			}
		})
	}
}
