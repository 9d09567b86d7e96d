package tfjs

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"
	"testing/fstest"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/tensor"
)

type memFile struct {
	fsys fstest.MapFS
	name string
	bytes.Buffer
}

func (f *memFile) Close() error {
	f.fsys[f.name] = &fstest.MapFile{Data: bytes.Clone(f.Bytes())}
	return nil
}

func memCreator(fsys fstest.MapFS) Creator {
	return func(name string) (io.WriteCloser, error) { return &memFile{fsys: fsys, name: name}, nil }
}

func TestEncodeRoundTrip(t *testing.T) {
	src, err := DecodeFS(os.DirFS("testdata/layers"), ".", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	for _, shard := range []int64{0, 7, 1 << 10} {
		out := fstest.MapFS{}
		if err := EncodeFiles(memCreator(out), src, &EncodeOptions{ShardSize: shard}); err != nil {
			t.Fatalf("EncodeFiles(shard %d) = %v", shard, err)
		}
		if shard == 7 && len(out) < 10 {
			t.Errorf("shard size 7 gave only %d files", len(out))
		}
		back, err := DecodeFS(out, ".", nil)
		if err != nil {
			t.Fatalf("DecodeFS(encoded) = %v", err)
		}
		if len(back.Tensors) != len(src.Tensors) {
			t.Fatalf("%d tensors back, want %d", len(back.Tensors), len(src.Tensors))
		}
		for i, x := range src.Tensors {
			y := back.Tensors[i]
			a, _ := x.Bytes()
			b, err := y.Bytes()
			if err != nil || y.Name != x.Name || y.DType != x.DType || !y.Shape.Equal(x.Shape) || !bytes.Equal(a, b) {
				t.Errorf("shard %d: tensor %q came back as %q %v %v (%v)", shard, x.Name, y.Name, y.DType, y.Shape, err)
			}
		}
		if back.Metadata.String("tfjs.model_topology") != src.Metadata.String("tfjs.model_topology") {
			t.Error("topology not carried")
		}
		// Deterministic output.
		again := fstest.MapFS{}
		EncodeFiles(memCreator(again), src, &EncodeOptions{ShardSize: shard})
		for k, v := range out {
			if !bytes.Equal(again[k].Data, v.Data) {
				t.Errorf("%s differs between runs", k)
			}
		}
	}
}

func TestEncodeTypes(t *testing.T) {
	h := make([]byte, 4)
	tensor.ConvertF32ToF16(h, []float32{1.5, -2})
	f16, _ := tensor.FromBytes("h", tensor.F16, tensor.Shape{2}, h)
	i8, _ := tensor.FromBytes("q", tensor.I8, tensor.Shape{3}, []byte{0x80, 0, 0x7f})
	m := &refit.Model{Tensors: []*tensor.Tensor{f16, i8}}
	out := fstest.MapFS{}
	if err := EncodeFiles(memCreator(out), m, nil); err != nil {
		t.Fatal(err)
	}
	back, err := DecodeFS(out, ".", nil)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := back.Tensor("h").Float32s(); back.Tensor("h").DType != tensor.F32 || v[0] != 1.5 || v[1] != -2 {
		t.Errorf("float16 came back as %v %v", back.Tensor("h").DType, v)
	}
	if v, _ := back.Tensor("q").Float32s(); back.Tensor("q").DType != tensor.I32 || v[0] != -128 || v[2] != 127 {
		t.Errorf("int8 came back as %v %v", back.Tensor("q").DType, v)
	}
	i64, _ := tensor.FromBytes("l", tensor.I64, tensor.Shape{1}, make([]byte, 8))
	if err := EncodeFiles(memCreator(fstest.MapFS{}), &refit.Model{Tensors: []*tensor.Tensor{i64}}, nil); !errors.Is(err, refit.ErrUnsupported) {
		t.Errorf("EncodeFiles(I64) = %v, want ErrUnsupported", err)
	}
}
