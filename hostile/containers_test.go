package hostile

import (
	"archive/zip"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Exit codes of refit (internal/cli).
const (
	exitFailure   = 1
	exitDangerous = 2
)

// containerFiles lists the committed container corpus (testdata/gen/hostile_containers.py).
func containerFiles(t *testing.T, prefix string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join("testdata", "containers", prefix+"*"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no %s* files in testdata/containers (%v); run /usr/bin/python3 testdata/gen/hostile_containers.py", prefix, err)
	}
	return names
}

// TestContainersScan: every file hides a pickle that torch.load or numpy.load would run;
// scan must call it dangerous (exit 2).
func TestContainersScan(t *testing.T) {
	for _, prefix := range []string{"bad_", "amb_"} {
		for _, name := range containerFiles(t, prefix) {
			t.Run(filepath.Base(name), func(t *testing.T) {
				r := runRefit(t, limits{}, "scan", name)
				if r.code != exitDangerous {
					t.Errorf("scan exit %d, want %d\n%v", r.code, exitDangerous, r)
				}
			})
		}
	}
}

// TestContainersAmbiguous: files the loaders read differently are flagged as such by
// scan and refused by inspect and convert.
func TestContainersAmbiguous(t *testing.T) {
	for _, name := range containerFiles(t, "amb_") {
		t.Run(filepath.Base(name), func(t *testing.T) {
			r := runRefit(t, limits{}, "scan", "--json", name)
			if !strings.Contains(r.stdout, "ambiguous zip archive") {
				t.Errorf("scan does not flag the archive as ambiguous\n%v", r)
			}
			r = runRefit(t, limits{}, "inspect", name)
			if r.code != exitFailure || !strings.Contains(r.stderr, "ambiguous") {
				t.Errorf("inspect: exit %d, want %d with an ambiguity error\n%v", r.code, exitFailure, r)
			}
			out := filepath.Join(t.TempDir(), "out.safetensors")
			r = runRefit(t, limits{}, "convert", name, out)
			if r.code == 0 {
				t.Errorf("convert succeeded on an ambiguous archive\n%v", r)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("convert left %s behind", out)
			}
		})
	}
}

// TestContainersObjectDTypes: every spelling of an object dtype is refused by inspect with
// the reason, in .npy and in .npz.
func TestContainersObjectDTypes(t *testing.T) {
	for _, pat := range []string{"bad_npy_", "bad_npz_"} {
		for _, name := range containerFiles(t, pat) {
			t.Run(filepath.Base(name), func(t *testing.T) {
				r := runRefit(t, limits{}, "inspect", name)
				if r.code == 0 || !strings.Contains(r.stderr, "pickled Python objects") {
					t.Errorf("inspect: exit %d, want a refusal naming pickled objects\n%v", r.code, r)
				}
			})
		}
	}
}

// TestContainersReadWhatTorchReads: where the loaders agree, inspect reads what torch.load
// would: the folder of the first entry (torch's rule), whose data.pkl is the evil one here.
func TestContainersReadWhatTorchReads(t *testing.T) {
	r := runRefit(t, limits{}, "inspect", filepath.Join("testdata", "containers", "bad_zip_first_folder.pt"))
	if r.code == 0 || !strings.Contains(r.stderr, "posix.system") {
		t.Errorf("inspect read another data.pkl than torch.load's a/data.pkl\n%v", r)
	}
}

// TestContainersManyMembers: scanning an archive of 150k members (an npz of empty
// arrays, as numpy.savez writes) completes and stays clean; inspect reads every member.
func TestContainersManyMembers(t *testing.T) {
	const n = 150_000
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	hdr := []byte("\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (0,), }")
	hdr = append(hdr, bytes.Repeat([]byte(" "), 128-len(hdr)-1)...)
	hdr = append(hdr, '\n')
	for i := range n {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: fmt.Sprintf("t%d.npy", i), Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(hdr)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(t.TempDir(), "many.npz")
	if err := os.WriteFile(name, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runRefit(t, limits{}, "scan", name)
	if r.code != 0 {
		t.Errorf("scan of %d clean members: exit %d, want 0\n%.2000s", n, r.code, r)
	}
	r = runRefit(t, limits{}, "inspect", "--json", name)
	if r.code != 0 || strings.Count(r.stdout, `"name"`) < n {
		t.Errorf("inspect of %d members: exit %d, %d names\n%.2000s", n, r.code, strings.Count(r.stdout, `"name"`), r)
	}
}
