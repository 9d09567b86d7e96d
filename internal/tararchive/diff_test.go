package tararchive

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/refit-ml/refit/internal/testtool"
)

type pyTar struct {
	Err     string `json:"err"`
	Members []struct {
		Name string `json:"name"`
		Type string `json:"type"`
		Size int64  `json:"size"`
		Off  int64  `json:"off"`
		Data int64  `json:"data"`
	} `json:"members"`
}

// FuzzTarfileDiff compares List with Python's tarfile on the same bytes: the same
// members (name, type, size, header and data offsets) and the same failure.
func FuzzTarfileDiff(f *testing.F) {
	for _, pat := range []string{"../../hostile/testdata/containers/*tar*", "../../scan/testdata/*tar*"} {
		names, _ := filepath.Glob(pat)
		for _, n := range names {
			if b, err := os.ReadFile(n); err == nil {
				f.Add(b)
			}
		}
	}
	f.Add(make([]byte, 1024))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		o := testtool.RequireOracle(t)
		var py pyTar
		if err := o.Query('t', data, &py); errors.Is(err, testtool.ErrOracleHung) {
			return // tarfile loops forever on this input; torch.load would hang, not load
		} else if err != nil {
			t.Fatal(err)
		}
		ms, err := List(bytes.NewReader(data), int64(len(data)))
		if errors.Is(err, ErrUnsupported) {
			return
		}
		switch {
		case py.Err == "open" && !errors.Is(err, ErrNotTar),
			py.Err == "later" && !errors.Is(err, ErrFormat),
			py.Err == "" && err != nil:
			t.Fatalf("tarfile error %q, List error %v", py.Err, err)
		case py.Err != "" && py.Err != "open" && py.Err != "later":
			return // not a TarError: torch.load fails without falling back; nothing to compare
		}
		if len(ms) != len(py.Members) {
			t.Fatalf("tarfile lists %d members, List %d (%+v)", len(py.Members), len(ms), py.Members)
		}
		for i, m := range ms {
			p := py.Members[i]
			if hex.EncodeToString([]byte(m.Name)) != p.Name || hex.EncodeToString([]byte{m.Type}) != p.Type ||
				m.Size != p.Size || m.Offset != p.Off || m.DataOffset != p.Data {
				t.Fatalf("member %d: tarfile %+v, List %+v", i, p, *m)
			}
		}
	})
}
