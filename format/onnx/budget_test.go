package onnx

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// emptyNodes is a ModelProto whose graph holds n empty nodes (2 bytes each).
func emptyNodes(n int) []byte {
	graph := bytes.Repeat([]byte{0x0a, 0x00}, n)
	b := protowire.AppendTag(nil, 1, protowire.VarintType) // ir_version
	b = protowire.AppendVarint(b, 8)
	b = protowire.AppendTag(b, 7, protowire.BytesType) // graph
	return protowire.AppendBytes(b, graph)
}

func allocBytes(f func()) int64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return int64(after.TotalAlloc - before.TotalAlloc)
}

// TestProtoCost checks that the estimate is at least what proto.Unmarshal allocates and
// at most four times it, for a graph of empty nodes and for the repository's models.
func TestProtoCost(t *testing.T) {
	cases := map[string][]byte{"empty nodes": emptyNodes(100000)}
	files, _ := filepath.Glob("../../testdata/models/*/*.onnx")
	for _, name := range append(files, "testdata/small.onnx") {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if cases[name], _, err = stripRawData(b); err != nil {
			t.Fatal(err)
		}
	}
	for name, b := range cases {
		md := (&onnxpb.ModelProto{}).ProtoReflect().Descriptor()
		est := protoCost(b, md, 0)
		proto.Unmarshal(b, new(onnxpb.ModelProto)) // one-time setup of the types b uses
		// The least of several runs: TotalAlloc also counts what other goroutines of
		// the test binary allocate meanwhile.
		got := int64(math.MaxInt64)
		for range 5 {
			got = min(got, allocBytes(func() {
				if err := proto.Unmarshal(b, new(onnxpb.ModelProto)); err != nil {
					t.Fatal(err)
				}
			}))
		}
		if est < got || est > 4*got {
			t.Errorf("%s: estimated %d bytes, Unmarshal allocated %d", name, est, got)
		}
	}
}

func TestDecodeBudget(t *testing.T) {
	b := emptyNodes(100000)
	_, err := Decode(bytes.NewReader(b), int64(len(b)), &refit.DecodeOptions{MaxMemory: 1 << 20})
	if !errors.Is(err, refit.ErrBudget) {
		t.Errorf("Decode of 100k empty nodes with a 1 MiB budget = %v, want ErrBudget", err)
	}
	if _, err := Decode(bytes.NewReader(b), int64(len(b)), nil); err != nil {
		t.Errorf("Decode with the default budget = %v", err)
	}
}
