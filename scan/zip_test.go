package scan

import (
	"archive/zip"
	"bytes"
	"os"
	"slices"
	"strings"
	"testing"
)

func makeZip(t *testing.T, members map[string][]byte, method uint16) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, data := range members {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: method})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestZipDataDescriptors: Go's zip writer defers sizes to data descriptors; with the
// central directory cut off, members must still be found (deflate by its end of stream,
// stored by its descriptor).
func TestZipDataDescriptors(t *testing.T) {
	bad, err := os.ReadFile("testdata/bad_memo.pkl")
	if err != nil {
		t.Fatal(err)
	}
	for _, method := range []uint16{zip.Store, zip.Deflate} {
		z := makeZip(t, map[string][]byte{"a/data.pkl": bad}, method)
		cut := z[:bytes.LastIndex(z, []byte("PK\x01\x02"))]
		for name, data := range map[string][]byte{"whole": z, "no directory": cut} {
			rep := scanBytes(t, "x.zip", data)
			if !has(rep, "a/data.pkl", "os.system", Dangerous) {
				t.Errorf("method %d, %s: findings %+v errors %q; want os.system in a/data.pkl", method, name, rep.Findings, rep.Errors)
			}
			if name == "whole" && len(rep.Errors) > 0 {
				t.Errorf("method %d, whole zip: errors %q", method, rep.Errors)
			}
		}
	}
}

func TestZipCaps(t *testing.T) {
	bad, err := os.ReadFile("testdata/bad_memo.pkl")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("depth", func(t *testing.T) {
		z := makeZip(t, map[string][]byte{"data.pkl": bad}, zip.Store)
		for range MaxDepth + 2 {
			z = makeZip(t, map[string][]byte{"n.zip": z}, zip.Deflate)
		}
		rep := scanBytes(t, "deep.zip", z)
		if len(rep.Errors) == 0 || !strings.Contains(strings.Join(rep.Errors, "\n"), "nested deeper") {
			t.Errorf("nesting %d deep: errors %q; want the depth cap reported", MaxDepth+2, rep.Errors)
		}
	})
	t.Run("inflate", func(t *testing.T) {
		old := inflateLimit
		inflateLimit = 1 << 20
		defer func() { inflateLimit = old }()
		big := append(append([]byte{}, bad[:len(bad)-1]...), bytes.Repeat([]byte("N0"), 4<<20)...) // 8 MiB of NONE POP
		z := makeZip(t, map[string][]byte{"data.pkl": big}, zip.Deflate)
		if len(z) > 1<<20 {
			t.Fatalf("test zip is %d bytes, want a small bomb", len(z))
		}
		rep := scanBytes(t, "bomb.zip", z)
		if len(rep.Errors) == 0 || !strings.Contains(strings.Join(rep.Errors, "\n"), "decompressed more than") {
			t.Errorf("bomb: errors %q; want the inflate cap reported", rep.Errors)
		}
		if !has(rep, "data.pkl", "os.system", Dangerous) {
			t.Errorf("bomb: findings %+v; want os.system seen before the cap", rep.Findings)
		}
	})
	t.Run("unsupported method", func(t *testing.T) {
		z := makeZip(t, map[string][]byte{"data.pkl": bad}, zip.Store)
		i := bytes.Index(z, []byte("PK\x03\x04"))
		z[i+8] = 14 // LZMA in the local header
		j := bytes.Index(z, []byte("PK\x01\x02"))
		z[j+10] = 14 // and in the central directory, which loaders follow
		rep := scanBytes(t, "lzma.zip", z)
		if len(rep.Errors) == 0 {
			t.Errorf("LZMA member: no error; a member that cannot be read must not look clean")
		}
	})
}

// TestZipPolyglots covers files a zip-only scan would miss.
func TestZipPolyglots(t *testing.T) {
	p0 := []byte("cos\nsystem\n(S'echo pwned'\ntR.")
	t.Run("pickle then a fake end record", func(t *testing.T) {
		// torch.load sees no zip signature at byte 0 and unpickles the file.
		data := append(append([]byte{}, p0...), append([]byte("PK\x05\x06"), make([]byte, 18)...)...)
		rep := scanBytes(t, "x.pt", data)
		if !has(rep, "", "os.system", Dangerous) {
			t.Errorf("findings %+v errors %q; want os.system", rep.Findings, rep.Errors)
		}
	})
	t.Run("local and central names differ", func(t *testing.T) {
		z := makeZip(t, map[string][]byte{"archive/data.pkl": p0}, zip.Store)
		i := bytes.Index(z, []byte("archive/data.pkl")) // the local header's copy comes first
		copy(z[i:], "archive/data.txt")
		rep := scanBytes(t, "x.pt", z)
		if !has(rep, "archive/data.pkl", "os.system", Dangerous) {
			t.Errorf("findings %+v errors %q; want os.system in archive/data.pkl", rep.Findings, rep.Errors)
		}
		if !has(rep, "", "(container).ambiguous zip archive", Dangerous) {
			t.Errorf("findings %+v: mismatched member names not flagged", rep.Findings)
		}
	})
}

// TestZipGuessMembers: a member of any name and protocol is walked; text that only looks
// like GLOBAL lines is not reported, a real protocol-0 pickle is.
func TestZipGuessMembers(t *testing.T) {
	for _, tc := range []struct {
		data []byte
		want bool
	}{
		{[]byte("cos\nsystem\n(S'echo pwned'\ntR."), true},
		{[]byte("cat\ndog\nemu\nfox\n"), false},
		{[]byte("cmy.module\nthing\n(tR."), true},
		{[]byte("\x82\x01garbage"), false}, // EXT1 at byte 0 of tensor data
	} {
		z := makeZip(t, map[string][]byte{"archive/data.pkl": []byte("\x80\x02}q\x00."), "archive/data/0": tc.data}, zip.Store)
		rep := scanBytes(t, "x.pt", z)
		got := slices.ContainsFunc(rep.Findings, func(f Finding) bool { return f.Path == "archive/data/0" })
		if got != tc.want {
			t.Errorf("member %q: findings %+v errors %q; want reported %v", tc.data, rep.Findings, rep.Errors, tc.want)
		}
		if !tc.want && len(rep.Errors) > 0 {
			t.Errorf("member %q: errors %q for data that is no pickle", tc.data, rep.Errors)
		}
	}
}
