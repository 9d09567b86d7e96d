package ziparchive

import (
	"archive/zip"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func readCorpus(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "hostile", "testdata", "containers", name))
	if err != nil {
		t.Fatalf("%v (run /usr/bin/python3 testdata/gen/hostile_containers.py)", err)
	}
	return b
}

// TestAmbiguous: every amb_* file of the hostile corpus is refused with ErrAmbiguous, yet
// AllMembers lists what each loader would read.
func TestAmbiguous(t *testing.T) {
	names, _ := filepath.Glob(filepath.Join("..", "..", "hostile", "testdata", "containers", "amb_*"))
	if len(names) < 7 {
		t.Fatalf("found %d amb_* files", len(names))
	}
	for _, n := range names {
		b := readCorpus(t, filepath.Base(n))
		z, err := NewReader(bytes.NewReader(b), int64(len(b)))
		if err == nil && strings.Contains(n, "case_names") {
			// Valid for zipfile, which compares names exactly; torch's lookup is not.
			_, err = z.Lookup("archive/data.pkl")
		}
		if !errors.Is(err, ErrAmbiguous) {
			t.Errorf("NewReader(%s) = %v, want ErrAmbiguous", filepath.Base(n), err)
		}
		if len(AllMembers(bytes.NewReader(b), int64(len(b)))) == 0 {
			t.Errorf("AllMembers(%s) is empty", filepath.Base(n))
		}
	}
}

// TestZip64ExtraMember: a zip64 record listing one member more than the end record;
// both loaders use the zip64 record (Go's archive/zip does not), so both members count.
func TestZip64ExtraMember(t *testing.T) {
	b := readCorpus(t, "bad_zip64_extra_member.npz")
	z, err := NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	if len(z.Members) != 2 || z.Members[1].Name != "b.npy" {
		t.Fatalf("members %+v, want a.npy and b.npy", z.Members)
	}
	if zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b))); err == nil && len(zr.File) != 1 {
		t.Logf("archive/zip now lists %d members", len(zr.File))
	}
}

// TestOpen reads what archive/zip wrote, stored and deflated, and checks sizes and CRCs.
func TestOpen(t *testing.T) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	payload := strings.Repeat("tensor bytes ", 1000)
	for _, m := range []uint16{zip.Store, zip.Deflate} {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: "m" + string(rune('0'+m)), Method: m})
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, payload)
	}
	zw.Close()
	b := buf.Bytes()
	z, err := NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil || len(z.Members) != 2 || z.Loader != "" {
		t.Fatalf("NewReader = %v, %v", z, err)
	}
	for _, m := range z.Members {
		rc, err := z.Open(m)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		if err != nil || string(got) != payload {
			t.Errorf("Open(%s) read %d bytes, %v", m.Name, len(got), err)
		}
		if got, err := z.Lookup(strings.ToUpper(m.Name)); got != m || err != nil {
			t.Errorf("Lookup(%q) does not ignore case", strings.ToUpper(m.Name))
		}
	}
	// A flipped data byte fails the CRC at the end of the stored member.
	bad := bytes.Clone(b)
	i := bytes.Index(bad, []byte("tensor bytes"))
	bad[i] ^= 1
	z, err = NewReader(bytes.NewReader(bad), int64(len(bad)))
	if err != nil {
		t.Fatal(err)
	}
	rc, _ := z.Open(z.Members[0])
	if _, err := io.ReadAll(rc); !errors.Is(err, ErrChecksum) || !errors.Is(err, ErrFormat) {
		t.Errorf("corrupt member: %v, want ErrChecksum and ErrFormat", err)
	}
}

// TestPrefix: data prepended to an archive is corrected for by zipfile, not by miniz; the
// archive is still read (zipfile's reading), and recorded as such.
func TestPrefix(t *testing.T) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("a.npy")
	io.WriteString(w, "x")
	zw.Close()
	b := append([]byte("#!/bin/sh\nexit 0\n"), buf.Bytes()...)
	z, err := NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	if z.Loader != "zipfile" || len(z.Members) != 1 || z.Members[0].HeaderOffset != 17 {
		t.Errorf("prefixed archive: loader %q members %+v", z.Loader, z.Members)
	}
}

// TestCaseDistinctNames: numpy.savez(A=..., a=...) writes A.npy and a.npy, which zipfile
// keeps apart: the archive is valid, only a case-blind lookup is refused.
func TestCaseDistinctNames(t *testing.T) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, n := range []string{"A.npy", "a.npy"} {
		w, _ := zw.Create(n)
		io.WriteString(w, n)
	}
	zw.Close()
	b := buf.Bytes()
	z, err := NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil || len(z.Members) != 2 {
		t.Fatalf("NewReader = %v, %v", z, err)
	}
	if _, err := z.Lookup("a.npy"); !errors.Is(err, ErrAmbiguous) {
		t.Errorf("Lookup(a.npy) = %v, want ErrAmbiguous", err)
	}
}
