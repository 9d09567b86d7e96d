package ziparchive

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/refit-ml/refit/internal/testtool"
)

// seeds adds the hostile corpus and the repository's zip fixtures to f.
func seeds(f *testing.F) {
	for _, pat := range []string{"../../hostile/testdata/containers/*", "../../scan/testdata/*",
		"../../format/pytorch/testdata/*.pt", "../../format/numpy/testdata/*.npz", "../../format/keras/testdata/*.keras"} {
		names, _ := filepath.Glob(pat)
		for _, n := range names {
			if b, err := os.ReadFile(n); err == nil && len(b) < 1<<20 {
				f.Add(b)
			}
		}
	}
}

type pyZip struct {
	Err     string `json:"err"`
	Members []struct {
		Name string      `json:"name"`
		Off  json.Number `json:"off"` // negative or beyond int64 for a lying prefix
		CS   int64       `json:"cs"`
		US   int64       `json:"us"`
		M    uint16      `json:"m"`
		CRC  uint32      `json:"crc"`
		Data *int64      `json:"data"`
		OErr string      `json:"oerr"`
	} `json:"members"`
}

type pyMiniz struct {
	Err   string   `json:"err"`
	Names []string `json:"names"`
}

// FuzzZipfileDiff compares this package's zipfile reading with Python's zipfile on the
// same bytes: the same members, offsets and sizes, and the same failures.
func FuzzZipfileDiff(f *testing.F) {
	seeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		o := testtool.RequireOracle(t)
		r := bytes.NewReader(data)
		size := int64(len(data))
		var py pyZip
		if err := o.Query('z', data, &py); errors.Is(err, testtool.ErrOracleHung) {
			return
		} else if err != nil {
			t.Fatal(err)
		}
		rd, err := zipfileDirectory(r, size)
		if (py.Err != "") != (err != nil) {
			t.Fatalf("zipfile error %q, zipfile reading error %v", py.Err, err)
		}
		if err == nil {
			if len(rd.members) != len(py.Members) {
				t.Fatalf("zipfile lists %d members, the zipfile reading %d", len(py.Members), len(rd.members))
			}
			for i, m := range rd.members {
				p := py.Members[i]
				off, err := p.Off.Int64()
				if err != nil || off < 0 {
					off = -1 // zipfile cannot open it; neither can we
				}
				if hex.EncodeToString([]byte(m.Name)) != p.Name || m.HeaderOffset != off || m.CompressedSize != p.CS ||
					m.Size != p.US || m.Method != p.M || m.CRC32 != p.CRC {
					t.Fatalf("member %d: zipfile %+v, zipfile reading %+v", i, p, *m)
				}
				lerr := readLocal(r, size, m)
				switch {
				case p.Data != nil && lerr != nil:
					t.Fatalf("member %d: zipfile opens it at %d, local header error %v", i, *p.Data, lerr)
				case p.Data != nil && *p.Data != m.DataOffset:
					t.Fatalf("member %d: zipfile data at %d, ours at %d", i, *p.Data, m.DataOffset)
				}
			}
		}
	})
}

// FuzzMinizDiff compares this package's miniz reading with torch's own reader
// (torch._C.PyTorchFileReader, miniz 2.1) on the same bytes: whenever torch lists the
// records, the miniz reading lists the same names. torch builds a C++ backtrace for every
// error, so this target runs at a few execs per second.
func FuzzMinizDiff(f *testing.F) {
	seeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		if !testtool.HasPythonModule("torch") {
			testtool.RequirePython(t, "torch")
		}
		o := testtool.RequireOracle(t)
		r := bytes.NewReader(data)
		size := int64(len(data))
		var mz pyMiniz
		{
			if err := o.Query('m', data, &mz); errors.Is(err, testtool.ErrOracleHung) {
				return
			} else if err != nil {
				t.Fatal(err)
			}
			if mz.Err == "" {
				mr, err := minizDirectory(r, size)
				if err != nil {
					t.Fatalf("torch's miniz lists %d records, the miniz reading fails: %v", len(mz.Names), err)
				}
				// torch lists names without their top folder, the first entry's.
				var names []string
				if len(mr.members) > 0 {
					dir, _, _ := strings.Cut(mr.members[0].Name, "/")
					for _, m := range mr.members {
						names = append(names, hex.EncodeToString([]byte(strings.TrimPrefix(m.Name, dir+"/"))))
					}
				}
				sort.Strings(names)
				if strings.Join(names, ",") != strings.Join(mz.Names, ",") {
					t.Fatalf("torch's miniz lists %q, the miniz reading %q", mz.Names, names)
				}
			}
		}
	})
}
