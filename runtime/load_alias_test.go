package runtime

import (
	"encoding/binary"
	"math"
	"testing"
	"unsafe"

	"google.golang.org/protobuf/proto"

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
