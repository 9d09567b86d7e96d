package safetensors

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/refit-ml/refit"
)

// FuzzDecode checks that Decode never panics and that whatever it accepts survives an
// Encode/Decode round trip with the same tensors and metadata, and that encoding is
// then a fixed point (byte-identical the second time).
func FuzzDecode(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.safetensors")
	shards, _ := filepath.Glob("testdata/sharded/*.safetensors")
	for _, p := range append(seeds, shards...) {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(file(`{"__metadata__":{"a":"b"},"x":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}}`, []byte{1, 2, 3, 4}))
	f.Add(file(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}`, nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Decode(bytes.NewReader(data), int64(len(data)), nil)
		if err != nil {
			return
		}
		var buf bytes.Buffer
		if err := Encode(&buf, m, nil); err != nil {
			t.Fatalf("Encode of a decoded model: %v", err)
		}
		enc := buf.Bytes()
		m2, err := Decode(bytes.NewReader(enc), int64(len(enc)), nil)
		if err != nil {
			t.Fatalf("Decode(Encode(m)): %v", err)
		}
		sameModel(t, m, m2)
		buf.Reset()
		if err := Encode(&buf, m2, nil); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf.Bytes(), enc) {
			t.Fatalf("encoding is not a fixed point:\n%q\n%q", enc, buf.Bytes())
		}
	})
}

func sameModel(t *testing.T, a, b *refit.Model) {
	t.Helper()
	if len(a.Tensors) != len(b.Tensors) {
		t.Fatalf("%d tensors, then %d", len(a.Tensors), len(b.Tensors))
	}
	for _, x := range a.Tensors {
		y := b.Tensor(x.Name)
		if y == nil || y.DType != x.DType || !y.Shape.Equal(x.Shape) {
			t.Fatalf("tensor %q: %+v, then %+v", x.Name, x, y)
		}
		xb, err1 := x.Bytes()
		yb, err2 := y.Bytes()
		if err1 != nil || err2 != nil || !bytes.Equal(xb, yb) {
			t.Fatalf("tensor %q bytes differ (%v, %v)", x.Name, err1, err2)
		}
	}
	if a.Metadata.Len() != b.Metadata.Len() {
		t.Fatalf("metadata %v, then %v", a.Metadata.Keys(), b.Metadata.Keys())
	}
	for _, k := range a.Metadata.Keys() {
		if a.Metadata.String(k) != b.Metadata.String(k) {
			t.Fatalf("metadata %q: %q, then %q", k, a.Metadata.String(k), b.Metadata.String(k))
		}
	}
}

// FuzzParseIndex checks that ParseIndex never panics and never accepts a shard path
// that leaves the index's folder.
func FuzzParseIndex(f *testing.F) {
	b, err := os.ReadFile("testdata/sharded/" + DefaultIndex)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(`{"metadata":{"x":[1,{"y":null}],"s":"v"},"weight_map":{"a":"sub/b.safetensors"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		idx, err := ParseIndex(data)
		if err != nil {
			return
		}
		for name, shard := range idx.WeightMap {
			escapes := shard == "" || strings.HasPrefix(shard, "/") || strings.Contains(shard, `\`) ||
				slices.Contains(strings.Split(shard, "/"), "..")
			if escapes || !fs.ValidPath(shard) {
				t.Fatalf("tensor %q: accepted shard path %q", name, shard)
			}
		}
	})
}
