package pytorch

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/refit-ml/refit"
)

func seed(f *testing.F, legacy bool) {
	files, _ := filepath.Glob("testdata/*.pt")
	for _, name := range files {
		if strings.Contains(name, "legacy") != legacy {
			continue
		}
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, name == "testdata/script.pt" || strings.Contains(name, "model"))
	}
}

// fuzzDecode checks that decoding never panics, and that what decodes survives an
// Encode/Decode round trip byte for byte.
func fuzzDecode(t *testing.T, b []byte, extract bool) {
	m, err := Decode(bytes.NewReader(b), int64(len(b)), &refit.DecodeOptions{Extract: extract})
	if err != nil {
		return
	}
	want := map[string][]byte{}
	for _, tn := range m.Tensors {
		if tn.Size() > 1<<20 {
			return // a large (expanded or inflated) view: valid, but slow to fuzz
		}
		data, err := tn.Bytes()
		if err != nil {
			return
		}
		want[tn.Name] = data
	}
	var out bytes.Buffer
	if err := Encode(&out, m, nil); err != nil {
		return // names torch cannot take (empty) or dtypes it lacks
	}
	back, err := Decode(bytes.NewReader(out.Bytes()), int64(out.Len()), nil)
	if err != nil {
		t.Fatalf("Decode(Encode(m)) = %v", err)
	}
	for _, tn := range back.Tensors {
		got, err := tn.Bytes()
		if err != nil || !bytes.Equal(got, want[tn.Name]) {
			t.Fatalf("tensor %q changed in the round trip (%v)", tn.Name, err)
		}
	}
}

func FuzzDecodeZip(f *testing.F) {
	seed(f, false)
	f.Fuzz(func(t *testing.T, b []byte, extract bool) { fuzzDecode(t, b, extract) })
}

func FuzzDecodeLegacy(f *testing.F) {
	seed(f, true)
	f.Fuzz(func(t *testing.T, b []byte, extract bool) { fuzzDecode(t, b, extract) })
}
