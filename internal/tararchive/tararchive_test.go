package tararchive

import (
	"archive/tar"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCorpusNames: tarfile's names for the hostile tars, including the V7 header whose
// prefix field tarfile prepends and archive/tar ignores.
func TestCorpusNames(t *testing.T) {
	for file, want := range map[string]string{
		"bad_tar_v7.pt":           "sys_info,pickle,storages,tensors",
		"bad_tar_v7_prefix.pt":    "dir/pickle",
		"bad_tar_gnu_longname.pt": "sys_info," + strings.Repeat("x", 120) + ",pickle,storages,tensors",
		"bad_tar_pax.pt":          "sys_info," + strings.Repeat("x", 120) + ",pickle,storages,tensors",
	} {
		b, err := os.ReadFile(filepath.Join("..", "..", "hostile", "testdata", "containers", file))
		if err != nil {
			t.Fatal(err)
		}
		ms, err := List(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatalf("List(%s) = %v", file, err)
		}
		var names []string
		for _, m := range ms {
			names = append(names, m.Name)
		}
		if got := strings.Join(names, ","); got != want {
			t.Errorf("List(%s) names %q, want %q", file, got, want)
		}
	}
}

// TestNotTar: data whose first block is no valid header is not a tar; an all-zero block
// is an empty one, as tarfile reads them.
func TestNotTar(t *testing.T) {
	if _, err := List(bytes.NewReader([]byte("\x80\x02}q\x00.")), 6); !errors.Is(err, ErrNotTar) {
		t.Errorf("List(pickle) = %v, want ErrNotTar", err)
	}
	if ms, err := List(bytes.NewReader(make([]byte, 1024)), 1024); err != nil || len(ms) != 0 {
		t.Errorf("List(zeros) = %v, %v; want an empty archive", ms, err)
	}
}

// TestTruncatedMember: a member whose data runs past the end is listed, then tarfile
// raises ReadError (after which torch.load unpickles the file from byte 0).
func TestTruncatedMember(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "pickle", Size: 4096, Mode: 0o644, Typeflag: tar.TypeReg})
	tw.Write(make([]byte, 4096))
	tw.Close()
	b := buf.Bytes()[:1024]
	ms, err := List(bytes.NewReader(b), int64(len(b)))
	if len(ms) != 1 || ms[0].Name != "pickle" || !errors.Is(err, ErrFormat) {
		t.Errorf("List(cut) = %v, %v; want pickle then ErrFormat", ms, err)
	}
}
