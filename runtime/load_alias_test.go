package runtime

import (
	"context"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"google.golang.org/protobuf/proto"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/onnx"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
)

// raw_data at an odd offset (as in most files) is read in place where the CPU
// allows unaligned loads, and copied elsewhere; the values are right either way.
func TestUnalignedRawData(t *testing.T) {
	want := []float32{1.5, -2, 3.25, 1e-3, 7}
	buf := make([]byte, 1+4*len(want))
	for i, f := range want {
		binary.LittleEndian.PutUint32(buf[1+4*i:], math.Float32bits(f))
	}
	raw := buf[1:]
	tp := &onnxpb.TensorProto{Name: proto.String("w"), DataType: proto.Int32(1), Dims: []int64{5}, RawData: raw}
	v, err := ValueFromProto(tp, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := v.Data.([]float32)
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("value %d = %v, want %v", i, got[i], want[i])
		}
	}
	shared := unsafe.Pointer(&got[0]) == unsafe.Pointer(&raw[0])
	if littleEndian && shared != unalignedLoads {
		t.Errorf("data shared with raw_data: %v, want %v", shared, unalignedLoads)
	}
}

// Of a model's initializers left in its file's mapping (onnx.LoadMapped), the large
// stay there and the small (below minAliasMapped) are copied: kernels read biases on
// every Run, and each read of a mapped page maps the folio around it, the
// neighbouring weights included.
func TestMappedSmallInitializersCopied(t *testing.T) {
	const bigN, smallN = 1 << 18, 64 // 1 MiB and 256 bytes of float32
	f32raw := func(n int) []byte {
		b := make([]byte, 4*n)
		for i := range n {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(float32(i%5)))
		}
		return b
	}
	tensorProto := func(name string, n int) *onnxpb.TensorProto {
		return &onnxpb.TensorProto{Name: proto.String(name), DataType: proto.Int32(1), Dims: []int64{int64(n)}, RawData: f32raw(n)}
	}
	mp := &onnxpb.ModelProto{
		IrVersion:   proto.Int64(8),
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Version: proto.Int64(17)}},
		Graph: &onnxpb.GraphProto{
			Name: proto.String("g"),
			Node: []*onnxpb.NodeProto{
				{OpType: proto.String("Neg"), Input: []string{"big"}, Output: []string{"y"}},
				{OpType: proto.String("Neg"), Input: []string{"small"}, Output: []string{"z"}},
			},
			Initializer: []*onnxpb.TensorProto{tensorProto("big", bigN), tensorProto("small", smallN)},
			Output:      []*onnxpb.ValueInfoProto{{Name: proto.String("y")}, {Name: proto.String("z")}},
		},
	}
	b, err := proto.Marshal(mp)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "m.onnx")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	fsys, base := refit.FileFS(path)
	loaded, files, err := onnx.LoadMapped(fsys, base)
	if err != nil {
		t.Fatal(err)
	}
	defer files.Close()
	s, err := Load(loaded, fsys, &Options{NoFolding: true})
	if err != nil {
		t.Fatal(err)
	}
	mapped := func(name string) bool {
		d := s.Graph().Initializers[name].Float32s()
		return refit.IsMapped(unsafe.Slice((*byte)(unsafe.Pointer(&d[0])), 4*len(d)))
	}
	if !mapped("big") && unalignedLoads {
		t.Error("a 1 MiB initializer was copied out of the file's mapping")
	}
	if mapped("small") {
		t.Error("a 256-byte initializer was left in the file's mapping")
	}
	out, err := s.Run(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, n := range map[string]int{"y": bigN, "z": smallN} {
		got := out[name].Float32s()
		if len(got) != n || got[n-1] != -float32((n-1)%5) {
			t.Errorf("%s: %d values ending %v, want %d ending %v", name, len(got), got[len(got)-1], n, -float32((n-1)%5))
		}
	}
}
