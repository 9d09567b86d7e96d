package scan

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzScan checks that no input panics, that levels are valid and that findings carry
// opcode names. Seeds are every fixture in testdata.
func FuzzScan(f *testing.F) {
	names, _ := filepath.Glob("testdata/*")
	for _, p := range names {
		if fi, e := os.Stat(p); e == nil && fi.IsDir() {
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("\x80\x04\x8c\x02os\x94\x8c\x06system\x94h\x00h\x01\x93."))
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := Scan(bytes.NewReader(data), int64(len(data)), "f")
		if err != nil {
			t.Fatalf("Scan error: %v", err)
		}
		for _, fd := range rep.Findings {
			if fd.Level < Safe || fd.Level > Dangerous || fd.Opcode == "" {
				t.Fatalf("bad finding %+v", fd)
			}
		}
		if rep.Worst() < Safe {
			t.Fatal("bad worst level")
		}
	})
}
