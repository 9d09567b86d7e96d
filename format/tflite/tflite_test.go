package tflite

import (
	"bytes"
	"errors"
	"math"
	"os"
	"slices"
	"testing"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/tflite/internal/schema"
	"github.com/refit-ml/refit/tensor"
)

func decodeFile(t *testing.T, name string) *refit.Model {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Decode(bytes.NewReader(b), int64(len(b)), nil)
	if err != nil {
		t.Fatalf("Decode(%q) = %v", name, err)
	}
	return m
}

func TestDecode(t *testing.T) {
	for _, name := range []string{"testdata/model.tflite", "testdata/external.tflite"} {
		t.Run(name, func(t *testing.T) {
			m := decodeFile(t, name)
			var want []string
			for _, ft := range fixtureTensors {
				if ft.data != nil && ft.typ != schema.TensorTypeSTRING {
					want = append(want, ft.name)
				}
			}
			var got []string
			for _, x := range m.Tensors {
				got = append(got, x.Name)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("tensors %v, want %v", got, want)
			}
			for _, ft := range fixtureTensors {
				x := m.Tensor(ft.name)
				if x == nil {
					continue
				}
				b, err := x.Bytes()
				if err != nil {
					t.Fatal(err)
				}
				want := ft.data
				if ft.sparse != nil {
					want = ft.dense
				}
				if !bytes.Equal(b, want) {
					t.Errorf("%s: bytes %v, want %v", ft.name, b, want)
				}
				shape := make(tensor.Shape, len(ft.shape))
				for i, d := range ft.shape {
					shape[i] = int64(d)
				}
				if !x.Shape.Equal(shape) || x.DType != dtypes[ft.typ] {
					t.Errorf("%s: %v %v, want %v %v", ft.name, x.DType, x.Shape, dtypes[ft.typ], shape)
				}
			}
			if v, _ := m.Metadata.Get("tflite.version"); v != uint32(3) {
				t.Errorf("version = %v", v)
			}
			if s, _ := m.Metadata.Get("tflite.quantization.conv/filter.scale"); !slices.Equal(s.([]float32), []float32{0.5, 0.25, 0.125}) {
				t.Errorf("scale metadata = %v", s)
			}
			if sk, _ := m.Metadata.Get("tflite.skipped"); !slices.Equal(sk.([]string), []string{"labels"}) {
				t.Errorf("skipped = %v", sk)
			}
			f := m.Source.(*File)
			if len(f.Tensors) != len(fixtureTensors) || f.Subgraphs[0] != "main" || f.Description != "refit fixture" {
				t.Errorf("File = %+v", f)
			}
		})
	}
}

func TestDequantize(t *testing.T) {
	m := decodeFile(t, "testdata/model.tflite")
	for _, tc := range []struct {
		name string
		want []float32
	}{
		// int8 [3,2], per channel along 0: scales .5 .25 .125, zero points 0 1 -1.
		{"conv/filter", []float32{-64, 63.5, 0, 0.25, 0, 0.125}},
		// uint8 per tensor: scale .1, zero point 128.
		{"act/q", []float32{float32(0.1 * -128.0), 0, float32(0.1 * 127.0), float32(0.1 * -125.0)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			info, ok := Info(m, tc.name)
			if !ok {
				t.Fatal("no info")
			}
			d, err := Dequantize(m.Tensor(tc.name), info.Quantization)
			if err != nil {
				t.Fatal(err)
			}
			got, err := d.Float32s()
			if err != nil {
				t.Fatal(err)
			}
			for i := range got {
				if math.Float32bits(got[i]) != math.Float32bits(tc.want[i]) {
					t.Errorf("[%d] = %v, want %v", i, got[i], tc.want[i])
				}
			}
		})
	}
	if _, err := Dequantize(m.Tensor("dense/kernel"), &Quantization{Scale: []float32{1}}); !errors.Is(err, refit.ErrUnsupported) {
		t.Errorf("Dequantize(F32) = %v, want ErrUnsupported", err)
	}
	if _, err := Dequantize(m.Tensor("conv/filter"), &Quantization{Scale: []float32{1, 2}, Dimension: 0}); err == nil {
		t.Errorf("Dequantize with 2 scales for 3 channels succeeded")
	}
}

func TestOpen(t *testing.T) {
	m, err := refit.Open("testdata/model.tflite")
	if err != nil {
		t.Fatalf("refit.Open = %v", err)
	}
	defer m.Close()
	if m.Format != "tflite" || len(m.Tensors) != 8 {
		t.Errorf("format %q, %d tensors", m.Format, len(m.Tensors))
	}
	if v, err := m.Tensor("dense/bias").Float32s(); err != nil || !slices.Equal(v, []float32{0.5, -1.5, 2}) {
		t.Errorf("dense/bias = %v, %v", v, err)
	}
}

func TestDecodeBad(t *testing.T) {
	model, _ := os.ReadFile("testdata/model.tflite")
	external, _ := os.ReadFile("testdata/external.tflite")
	patchOffset := func(off uint64) []byte {
		b := bytes.Clone(external)
		root := schema.GetRootAsModel(b, 0)
		var sb schema.Buffer
		root.Buffers(&sb, 1)
		sb.MutateOffset(off)
		return b
	}
	patchBufferIndex := func(i uint32) []byte {
		b := bytes.Clone(model)
		root := schema.GetRootAsModel(b, 0)
		var sg schema.SubGraph
		var tt schema.Tensor
		root.Subgraphs(&sg, 0)
		sg.Tensors(&tt, 1)
		tt.MutateBuffer(i)
		return b
	}
	for _, tc := range []struct {
		name    string
		in      []byte
		located bool // the error names the byte offset of the bad structure
	}{
		{"empty", nil, true},
		{"no identifier", append([]byte{0, 0, 0, 0, 'X', 'X', 'X', 'X'}, model[8:]...), true},
		{"truncated", model[:len(model)/2], true},
		{"root offset past end", append([]byte{0xff, 0xff, 0xff, 0x7f}, model[4:]...), true},
		{"buffer offset beyond file", patchOffset(uint64(len(external))), true},
		{"buffer offset huge", patchOffset(math.MaxUint64 - 3), true},
		{"external data truncated", external[:len(external)-4], true},
		{"buffer index beyond buffers", patchBufferIndex(1000), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Decode(bytes.NewReader(tc.in), int64(len(tc.in)), nil)
			if !errors.Is(err, refit.ErrFormat) {
				t.Fatalf("Decode = %v, want ErrFormat", err)
			}
			var fe *refit.FormatError
			if tc.located && (!errors.As(err, &fe) || fe.Offset < 0) {
				t.Errorf("Decode = %v, want a FormatError with a byte offset", err)
			}
			if m != nil {
				t.Fatal("model returned with an error")
			}
		})
	}
}

// TestDecodeCorruptWords overwrites every 4-byte window of the fixtures with offsets
// that point outside, backwards or at the end of the flatbuffer. Decode has no recover,
// so an unchecked access would crash the test; every rejection must be a located
// ErrFormat or ErrUnsupported.
func TestDecodeCorruptWords(t *testing.T) {
	var rejected, accepted int
	for _, name := range []string{"testdata/model.tflite", "testdata/external.tflite"} {
		orig, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for pos := 0; pos+4 <= len(orig); pos++ {
			for _, v := range []uint32{0xffffffff, 0x7fffffff, 0x80000000, uint32(len(orig)), uint32(len(orig) - 2), 0xfffffff0} {
				b := bytes.Clone(orig)
				b[pos], b[pos+1], b[pos+2], b[pos+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
				m, err := Decode(bytes.NewReader(b), int64(len(b)), nil)
				if err == nil {
					accepted++
					continue
				}
				rejected++
				if m != nil {
					t.Fatalf("%s: word %#x at %d: model returned with %v", name, v, pos, err)
				}
				var fe *refit.FormatError
				switch {
				case errors.Is(err, refit.ErrUnsupported):
				case !errors.Is(err, refit.ErrFormat):
					t.Fatalf("%s: word %#x at %d: Decode = %v, not a documented error", name, v, pos, err)
				case !errors.As(err, &fe) || fe.Offset < 0:
					t.Errorf("%s: word %#x at %d: Decode = %v, want a byte offset", name, v, pos, err)
				}
			}
		}
	}
	if rejected == 0 || accepted == 0 {
		t.Errorf("%d corrupted fixtures rejected, %d accepted: the corruption missed the structure", rejected, accepted)
	}
}
