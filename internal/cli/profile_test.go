package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
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

// TestJSONFloat checks that non-finite verification figures survive JSON (as strings)
// and finite ones stay numbers.
func TestJSONFloat(t *testing.T) {
	for _, v := range []float64{0, 1.5e-7, math.Inf(1), math.Inf(-1), math.NaN()} {
		b, err := json.Marshal(quantTensorError{MaxAbs: jsonFloat(v)})
		if err != nil {
			t.Fatalf("Marshal(%v): %v", v, err)
		}
		var got quantTensorError
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("Unmarshal(%s): %v", b, err)
		}
		if g := float64(got.MaxAbs); g != v && !(math.IsNaN(g) && math.IsNaN(v)) {
			t.Errorf("%v came back as %v (%s)", v, g, b)
		}
	}
	if b, _ := json.Marshal(jsonFloat(2)); string(b) != "2" {
		t.Errorf("jsonFloat(2) = %s, want a number", b)
	}
}
