package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestCPUProfile checks that --cpuprofile writes a pprof profile (gzip data) for a
// command that succeeds and for one that fails, and that an unwritable path is a
// usage error.
func TestCPUProfile(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.gguf")
	writeTinyGGUF(t, in, 256)
	for _, tc := range []struct {
		name string
		args []string
		code int
	}{
		{"quantize", []string{"quantize", in, filepath.Join(dir, "q.gguf"), "--type", "Q8_0"}, ExitOK},
		{"failing", []string{"quantize", in, filepath.Join(dir, "q.gguf"), "--type", "Q8_0"}, ExitFailure}, // exists, no --force
	} {
		t.Run(tc.name, func(t *testing.T) {
			prof := filepath.Join(dir, tc.name+".prof")
			var stdout, stderr bytes.Buffer
			args := append([]string{"--cpuprofile", prof}, tc.args...)
			if code := Main(context.Background(), args, nil, &stdout, &stderr); code != tc.code {
				t.Fatalf("Main(%q) = %d, want %d; stderr %s", args, code, tc.code, stderr.String())
			}
			b, err := os.ReadFile(prof)
			if err != nil {
				t.Fatal(err)
			}
			if len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
				t.Errorf("profile %s is not gzip data (%d bytes)", prof, len(b))
			}
		})
	}
	var stdout, stderr bytes.Buffer
	bad := filepath.Join(dir, "missing", "x.prof")
	if code := Main(context.Background(), []string{"--cpuprofile", bad, "version"}, nil, &stdout, &stderr); code != ExitUsage {
		t.Errorf("--cpuprofile into a missing folder: exit %d, want %d (stderr %s)", code, ExitUsage, stderr.String())
	}
}
