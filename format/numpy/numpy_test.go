package numpy

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/tensor"
)

// fixture is one entry of testdata/expected.json, written by testdata/gen/numpy_fixtures.py.
type fixture struct {
	File    string `json:"file"`
	Exact   bool   `json:"exact"`
	Error   string `json:"error"`
	Tensors []struct {
		Name  string  `json:"name"`
		DType string  `json:"dtype"`
		Shape []int64 `json:"shape"`
		Hex   string  `json:"hex"`
	} `json:"tensors"`
}

func loadFixtures(t *testing.T) []fixture {
	t.Helper()
	b, err := os.ReadFile("testdata/expected.json")
	if err != nil {
		t.Fatal(err)
	}
	var m struct{ Files []fixture }
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Files) < 40 {
		t.Fatalf("expected.json lists %d fixtures, want at least 40", len(m.Files))
	}
	return m.Files
}

// checkFixture compares a decoded model with the expected tensors, value by value
// (as exact little-endian bytes, so NaN payloads and -0 count).
func checkFixture(t *testing.T, fx fixture, m *refit.Model) {
	t.Helper()
	if len(m.Tensors) != len(fx.Tensors) {
		t.Fatalf("%s: %d tensors, want %d", fx.File, len(m.Tensors), len(fx.Tensors))
	}
	if m.Metadata.Len() != 0 {
		t.Errorf("%s: metadata has %d keys, want none", fx.File, m.Metadata.Len())
	}
	for i, want := range fx.Tensors {
		got := m.Tensors[i]
		if got.Name != want.Name {
			t.Errorf("%s: tensor %d name %q, want %q", fx.File, i, got.Name, want.Name)
		}
		if got.DType.String() != want.DType {
			t.Errorf("%s: %q dtype %v, want %s", fx.File, want.Name, got.DType, want.DType)
		}
		if !got.Shape.Equal(want.Shape) {
			t.Errorf("%s: %q shape %v, want %v", fx.File, want.Name, got.Shape, want.Shape)
		}
		b, err := got.Bytes()
		if err != nil {
			t.Fatalf("%s: %q Bytes() = %v", fx.File, want.Name, err)
		}
		wantBytes, _ := hex.DecodeString(want.Hex)
		if !bytes.Equal(b, wantBytes) {
			t.Errorf("%s: %q data\n got %x\nwant %x", fx.File, want.Name, b, wantBytes)
		}
	}
}

func TestFixtures(t *testing.T) {
	for _, fx := range loadFixtures(t) {
		t.Run(fx.File, func(t *testing.T) {
			m, err := DecodeFS(refit.DirFS("testdata"), fx.File, nil)
			if fx.Error != "" {
				if !errors.Is(err, refit.ErrUnsupported) {
					t.Fatalf("DecodeFS(%q) = %v, want ErrUnsupported", fx.File, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("DecodeFS(%q) = %v", fx.File, err)
			}
			defer m.Close()
			checkFixture(t, fx, m)
		})
	}
}

// TestDecodeNames checks that Decode without a file name calls a .npy tensor "array".
func TestDecodeNames(t *testing.T) {
	b, err := os.ReadFile("testdata/le_f4.npy")
	if err != nil {
		t.Fatal(err)
	}
	m, err := Decode(bytes.NewReader(b), int64(len(b)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Tensors) != 1 || m.Tensors[0].Name != DefaultName {
		t.Fatalf("Decode(le_f4.npy) tensors %v, want one named %q", m.Tensors, DefaultName)
	}
}

// TestOpen goes through the registry: sniffing, mmap and file naming.
func TestOpen(t *testing.T) {
	for _, tc := range []struct {
		file  string
		names []string
	}{
		{"le_f4.npy", []string{"le_f4"}},
		{"stored.npz", []string{"weight", "bias", "layer/0", "scale", "mask", "none"}},
		{"compressed.npz", []string{"weight", "bias", "layer/0", "scale", "mask", "none"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			m, err := refit.Open(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatalf("Open(%q) = %v", tc.file, err)
			}
			defer m.Close()
			if m.Format != "numpy" {
				t.Errorf("Open(%q).Format = %q, want numpy", tc.file, m.Format)
			}
			var names []string
			for _, x := range m.Tensors {
				names = append(names, x.Name)
				// Twice: lazily converted data must be recomputable.
				first, err1 := x.Bytes()
				second, err2 := x.Bytes()
				if err1 != nil || err2 != nil || !bytes.Equal(first, second) {
					t.Errorf("%q: reading twice gave %v, %v and different bytes", x.Name, err1, err2)
				}
			}
			if strings.Join(names, ",") != strings.Join(tc.names, ",") {
				t.Errorf("Open(%q) names %q, want %q", tc.file, names, tc.names)
			}
		})
	}
}

// TestEncodeNPYMatchesNumpy re-encodes what numpy.save wrote and expects the same bytes.
func TestEncodeNPYMatchesNumpy(t *testing.T) {
	n := 0
	for _, fx := range loadFixtures(t) {
		if !fx.Exact {
			continue
		}
		n++
		t.Run(fx.File, func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join("testdata", fx.File))
			if err != nil {
				t.Fatal(err)
			}
			x, err := ReadNPY(bytes.NewReader(want), int64(len(want)))
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			if err := EncodeNPY(&got, x); err != nil {
				t.Fatalf("EncodeNPY = %v", err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("EncodeNPY(%s)\n got %q\nwant %q", fx.File, got.Bytes(), want)
			}
		})
	}
	if n < 15 {
		t.Fatalf("only %d byte-exact fixtures", n)
	}
}

// TestRoundTrip writes every fixture's tensors as .npy and as stored and deflated
// .npz, reads them back and expects the same tensors; output must be deterministic.
func TestRoundTrip(t *testing.T) {
	var all []*tensor.Tensor
	for _, fx := range loadFixtures(t) {
		if fx.Error != "" || strings.HasSuffix(fx.File, ".npz") {
			continue
		}
		m, err := DecodeFS(refit.DirFS("testdata"), fx.File, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		x := m.Tensors[0]
		all = append(all, x)
		t.Run("npy/"+fx.File, func(t *testing.T) {
			var buf bytes.Buffer
			if err := EncodeNPY(&buf, x); err != nil {
				t.Fatal(err)
			}
			y, err := ReadNPY(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
			if err != nil {
				t.Fatalf("ReadNPY(EncodeNPY(%s)) = %v", fx.File, err)
			}
			y.Name = x.Name
			sameTensor(t, y, x)
			if (int64(buf.Len())-x.Size())%headerAlign != 0 {
				t.Errorf("data of %s does not start at a multiple of %d", fx.File, headerAlign)
			}
		})
	}
	for _, compress := range []bool{false, true} {
		t.Run(map[bool]string{false: "npz/stored", true: "npz/deflated"}[compress], func(t *testing.T) {
			var a, b bytes.Buffer
			if err := Encode(&a, &refit.Model{Tensors: all}, &EncodeOptions{Compress: compress}); err != nil {
				t.Fatal(err)
			}
			if err := WriteNPZ(&b, all, compress); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(a.Bytes(), b.Bytes()) {
				t.Error("two encodings of the same tensors differ")
			}
			m, err := Decode(bytes.NewReader(a.Bytes()), int64(a.Len()), nil)
			if err != nil {
				t.Fatalf("Decode(WriteNPZ) = %v", err)
			}
			if len(m.Tensors) != len(all) {
				t.Fatalf("read %d tensors, wrote %d", len(m.Tensors), len(all))
			}
			for i := range all {
				sameTensor(t, m.Tensors[i], all[i])
			}
		})
	}
}

func sameTensor(t *testing.T, got, want *tensor.Tensor) {
	t.Helper()
	if got.Name != want.Name || got.DType != want.DType || !got.Shape.Equal(want.Shape) {
		t.Fatalf("got %q %v %v, want %q %v %v", got.Name, got.DType, got.Shape, want.Name, want.DType, want.Shape)
	}
	gb, err := got.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	wb, err := want.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(gb, wb) {
		t.Errorf("%q: data differs:\n got %x\nwant %x", got.Name, gb, wb)
	}
}

func TestEncodeUnsupported(t *testing.T) {
	ok, _ := tensor.NewF32("ok", tensor.Shape{2}, []float32{1, 2})
	for _, d := range []tensor.DType{tensor.BF16, tensor.F8E4M3, tensor.F8E5M2, tensor.Q8_0, tensor.Q4_K} {
		t.Run(d.String(), func(t *testing.T) {
			s := tensor.Shape{256}
			n, _ := tensor.ByteSize(d, s)
			bad, err := tensor.FromBytes("bad", d, s, make([]byte, n))
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := EncodeNPY(&buf, bad); !errors.Is(err, refit.ErrUnsupported) || !strings.Contains(err.Error(), `"bad"`) {
				t.Errorf("EncodeNPY(%v) = %v, want ErrUnsupported naming the tensor", d, err)
			}
			if err := WriteNPZ(&buf, []*tensor.Tensor{ok, bad}, false); !errors.Is(err, refit.ErrUnsupported) {
				t.Errorf("WriteNPZ(%v) = %v, want ErrUnsupported", d, err)
			}
			if buf.Len() != 0 {
				t.Errorf("wrote %d bytes before failing, want none", buf.Len())
			}
		})
	}
}

func TestWriteNPZNames(t *testing.T) {
	a, _ := tensor.NewF32("a", tensor.Shape{1}, []float32{1})
	empty, _ := tensor.NewF32("", tensor.Shape{1}, []float32{1})
	escape, _ := tensor.NewF32("../a", tensor.Shape{1}, []float32{1})
	for name, ts := range map[string][]*tensor.Tensor{
		"empty name":    {empty},
		"duplicate":     {a, a},
		"insecure path": {a, escape},
	} {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteNPZ(&buf, ts, false); err == nil || buf.Len() != 0 {
				t.Errorf("WriteNPZ(%s) = %v after %d bytes, want an error before writing", name, err, buf.Len())
			}
		})
	}
}

func TestFortranToC(t *testing.T) {
	// A 2x3 matrix [[0 1 2] [3 4 5]] stored column-major is 0 3 1 4 2 5.
	src := []byte{0, 3, 1, 4, 2, 5}
	dst := make([]byte, 6)
	fortranToC(dst, src, tensor.Shape{2, 3}, 1)
	if want := []byte{0, 1, 2, 3, 4, 5}; !bytes.Equal(dst, want) {
		t.Errorf("fortranToC = %v, want %v", dst, want)
	}
}
