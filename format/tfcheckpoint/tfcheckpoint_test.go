package tfcheckpoint

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"math"
	"os"
	"testing"
	"testing/fstest"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/tensor"
)

type expect struct {
	Shape  []int64   `json:"shape"`
	Values []float64 `json:"values"`
}

func loadExpected(t *testing.T) map[string]expect {
	t.Helper()
	b, err := os.ReadFile("testdata/expected.json")
	if err != nil {
		t.Fatal(err)
	}
	var e map[string]expect
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatal(err)
	}
	return e
}

// values decodes a tensor's elements to float64 for comparison.
func values(t *testing.T, x *tensor.Tensor) []float64 {
	t.Helper()
	b, err := x.Bytes()
	if err != nil {
		t.Fatalf("%s: %v", x.Name, err)
	}
	n := int(x.NumElements())
	out := make([]float64, n)
	for i := range out {
		switch x.DType {
		case tensor.F64:
			out[i] = math.Float64frombits(le(b[8*i:], 8))
		case tensor.I64:
			out[i] = float64(int64(le(b[8*i:], 8)))
		case tensor.I32:
			out[i] = float64(int32(le(b[4*i:], 4)))
		case tensor.I16:
			out[i] = float64(int16(le(b[2*i:], 2)))
		case tensor.U16:
			out[i] = float64(uint16(le(b[2*i:], 2)))
		case tensor.I8:
			out[i] = float64(int8(b[i]))
		case tensor.U8, tensor.Bool:
			out[i] = float64(b[i])
		default:
			f, err := x.Float32s()
			if err != nil {
				t.Fatal(err)
			}
			out[i] = float64(f[i])
		}
	}
	return out
}

func le(b []byte, n int) uint64 {
	var v uint64
	for i := n - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v
}

func TestDecodeCheckpoint(t *testing.T) {
	want := loadExpected(t)
	for _, name := range []string{"ckpt-1.index", "ckpt-1"} {
		t.Run(name, func(t *testing.T) {
			m, err := DecodeFS(os.DirFS("testdata"), name, nil)
			if err != nil {
				t.Fatalf("DecodeFS(%q) = %v", name, err)
			}
			defer m.Close()
			if len(m.Tensors) != len(want) {
				t.Fatalf("%d tensors, want %d", len(m.Tensors), len(want))
			}
			for i := 1; i < len(m.Tensors); i++ {
				if m.Tensors[i-1].Name >= m.Tensors[i].Name {
					t.Errorf("tensors not in key order: %q before %q", m.Tensors[i-1].Name, m.Tensors[i].Name)
				}
			}
			for n, e := range want {
				x := m.Tensor(n)
				if x == nil {
					t.Fatalf("missing tensor %q", n)
				}
				if !x.Shape.Equal(e.Shape) {
					t.Errorf("%s: shape %v, want %v", n, x.Shape, e.Shape)
				}
				got := values(t, x)
				for j := range e.Values {
					if got[j] != e.Values[j] {
						t.Errorf("%s[%d] = %v, want %v", n, j, got[j], e.Values[j])
					}
				}
			}
			if err := Verify(m); err != nil {
				t.Errorf("Verify = %v", err)
			}
			sk, _ := m.Metadata.Get("tfcheckpoint.skipped")
			if s, ok := sk.([]string); !ok || len(s) != 1 || s[0] != "_CHECKPOINTABLE_OBJECT_GRAPH" {
				t.Errorf("skipped = %v", sk)
			}
		})
	}
}

func TestOpenSavedModel(t *testing.T) {
	m, err := refit.Open("testdata/saved_model")
	if err != nil {
		t.Fatalf("refit.Open = %v", err)
	}
	defer m.Close()
	if m.Format != "tfcheckpoint" || len(m.Tensors) != 2 {
		t.Fatalf("format %q, %d tensors", m.Format, len(m.Tensors))
	}
	if m.Tensors[0].Name != "layer_with_weights-0/bias/.ATTRIBUTES/VARIABLE_VALUE" {
		t.Errorf("first tensor %q", m.Tensors[0].Name)
	}
	m2, err := refit.Open("testdata/ckpt-1.index")
	if err != nil {
		t.Fatalf("refit.Open(index) = %v", err)
	}
	m2.Close()
}

func readTestdata(t testing.TB) fstest.MapFS {
	fsys := fstest.MapFS{}
	for _, n := range []string{"ckpt-1.index", "ckpt-1.data-00000-of-00002", "ckpt-1.data-00001-of-00002"} {
		b, err := os.ReadFile("testdata/" + n)
		if err != nil {
			t.Fatal(err)
		}
		fsys[n] = &fstest.MapFile{Data: b}
	}
	return fsys
}

func TestDecodeBad(t *testing.T) {
	idx, _ := os.ReadFile("testdata/ckpt-1.index")
	for _, tc := range []struct {
		name   string
		mutate func(fs fstest.MapFS)
		want   error
	}{
		{"bad magic", func(f fstest.MapFS) { f["ckpt-1.index"].Data[len(idx)-1] ^= 1 }, refit.ErrFormat},
		{"truncated index", func(f fstest.MapFS) { f["ckpt-1.index"].Data = idx[:40] }, refit.ErrFormat},
		{"block checksum", func(f fstest.MapFS) { f["ckpt-1.index"].Data[10] ^= 0x40 }, refit.ErrFormat},
		{"truncated data", func(f fstest.MapFS) {
			d := f["ckpt-1.data-00000-of-00002"]
			d.Data = d.Data[:len(d.Data)-25] // past the trailing string entry
		}, refit.ErrFormat},
		{"missing shard", func(f fstest.MapFS) { delete(f, "ckpt-1.data-00001-of-00002") }, fs.ErrNotExist},
		{"snappy block", func(f fstest.MapFS) {
			// Re-checksum the first block with compression type 1.
			b := f["ckpt-1.index"].Data
			h := firstBlockSize(t, b)
			b[h] = 1
			putCRC(b, h)
		}, refit.ErrUnsupported},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys := readTestdata(t)
			for _, v := range fsys {
				v.Data = bytes.Clone(v.Data)
			}
			tc.mutate(fsys)
			m, err := DecodeFS(fsys, "ckpt-1.index", nil)
			if !errors.Is(err, tc.want) {
				t.Fatalf("DecodeFS = %v, want %v", err, tc.want)
			}
			if m != nil {
				t.Fatal("model returned with an error")
			}
		})
	}
	t.Run("corrupt tensor data", func(t *testing.T) {
		fsys := readTestdata(t)
		d := bytes.Clone(fsys["ckpt-1.data-00000-of-00002"].Data)
		d[0] ^= 1
		fsys["ckpt-1.data-00000-of-00002"] = &fstest.MapFile{Data: d}
		m, err := DecodeFS(fsys, "ckpt-1", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		if err := Verify(m); !errors.Is(err, refit.ErrFormat) {
			t.Errorf("Verify = %v, want ErrFormat", err)
		}
		bad := 0
		for _, x := range m.Tensors {
			if _, err := x.Bytes(); errors.Is(err, refit.ErrFormat) {
				bad++
			}
		}
		if bad != 1 {
			t.Errorf("%d tensors failed their crc on read, want 1", bad)
		}
	})
	if _, err := Decode(bytes.NewReader(idx), int64(len(idx)), nil); !errors.Is(err, refit.ErrUnsupported) {
		t.Errorf("Decode(index alone) = %v, want ErrUnsupported", err)
	}
}

// firstBlockSize returns the size of the table's first data block (at offset 0).
func firstBlockSize(t *testing.T, b []byte) int {
	t.Helper()
	found := -1
	// The first data block starts at 0; it ends where a trailer's masked crc matches.
	for n := 4; n+blockTrailer <= len(b); n++ {
		if b[n] == 0 && MaskCRC(crc(b[:n+1])) == uint32(le(b[n+1:], 4)) {
			found = n
			break
		}
	}
	if found < 0 {
		t.Fatal("no block found")
	}
	return found
}

func putCRC(b []byte, n int) {
	c := MaskCRC(crc(b[:n+1]))
	b[n+1], b[n+2], b[n+3], b[n+4] = byte(c), byte(c>>8), byte(c>>16), byte(c>>24)
}

func TestCheckpointStateFile(t *testing.T) {
	fsys := readTestdata(t)
	fsys["other.index"] = fsys["ckpt-1.index"]
	if _, err := DecodeFS(fsys, ".", nil); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("two .index files and no state file: %v, want ErrNotExist", err)
	}
	fsys["checkpoint"] = &fstest.MapFile{Data: []byte("model_checkpoint_path: \"ckpt-1\"\nall_model_checkpoint_paths: \"ckpt-1\"\n")}
	m, err := DecodeFS(fsys, ".", nil)
	if err != nil {
		t.Fatalf("DecodeFS with a state file = %v", err)
	}
	m.Close()
	fsys["checkpoint"] = &fstest.MapFile{Data: []byte("model_checkpoint_path: \"../ckpt-1\"\n")}
	if _, err := DecodeFS(fsys, ".", nil); !errors.Is(err, refit.ErrInsecurePath) {
		t.Errorf("escaping state file: %v, want ErrInsecurePath", err)
	}
}
