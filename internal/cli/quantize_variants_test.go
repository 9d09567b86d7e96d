package cli

import (
	"bytes"
	"context"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/refit-ml/refit"
)

// TestQuantizeImatrixVariants: --type Q4_K_M,Q4_K_M+imatrix writes the plain and the
// importance-weighted output in one run, each byte-identical to its own single run.
func TestQuantizeImatrixVariants(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.gguf")
	writeTinyGGUF(t, in, 256)
	im := filepath.Join(dir, "im.dat")
	writeTestImatrix(t, in, im)
	path := func(n string) string { return filepath.Join(dir, n) }
	ctx := context.Background()
	if code, _, stderr := runMain(t, ctx, "quantize", in, path("q.gguf"), "--type", "Q4_K_M,Q4_K_M+imatrix", "--imatrix", im); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if code, _, stderr := runMain(t, ctx, "quantize", in, path("plain.gguf"), "--type", "Q4_K_M"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if code, _, stderr := runMain(t, ctx, "quantize", in, path("weighted.gguf"), "--type", "Q4_K_M", "--imatrix", im); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	read := func(n string) []byte {
		b, err := os.ReadFile(path(n))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	plain, weighted := read("plain.gguf"), read("weighted.gguf")
	if bytes.Equal(plain, weighted) {
		t.Fatal("the importance matrix changed nothing: the test cannot tell the variants apart")
	}
	if !bytes.Equal(read("q-Q4_K_M.gguf"), plain) {
		t.Error("q-Q4_K_M.gguf differs from a run without --imatrix")
	}
	if !bytes.Equal(read("q-Q4_K_M-imatrix.gguf"), weighted) {
		t.Error("q-Q4_K_M-imatrix.gguf differs from a run with --imatrix")
	}
	for _, args := range [][]string{
		{"--type", "Q4_K_M+imatrix"},                 // no --imatrix
		{"--type", "Q4_K_M,Q4_K_M", "--imatrix", im}, // the same output twice
		{"--type", "Q4_K_M+other", "--imatrix", im},  // unknown suffix
	} {
		a := append([]string{"quantize", in, path("bad.gguf")}, args...)
		if code, _, stderr := runMain(t, ctx, a...); code != ExitUsage {
			t.Errorf("refit %v: exit %d, want %d (%s)", a, code, ExitUsage, stderr)
		}
	}
}

// writeTestImatrix writes a llama.cpp legacy .dat importance matrix for every 2-D
// tensor of the GGUF at in, with uneven importances so that they change the rounding.
func writeTestImatrix(t *testing.T, in, out string) {
	t.Helper()
	m, err := refit.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var body []byte
	var n uint32
	for _, x := range m.Tensors {
		if len(x.Shape) != 2 {
			continue
		}
		n++
		cols := x.Shape[1]
		body = binary.LittleEndian.AppendUint32(body, uint32(len(x.Name)))
		body = append(body, x.Name...)
		body = binary.LittleEndian.AppendUint32(body, 1) // ncall
		body = binary.LittleEndian.AppendUint32(body, uint32(cols))
		for c := range cols {
			body = binary.LittleEndian.AppendUint32(body, math.Float32bits(float32(1+(c*37)%11)*float32(1+c%3)))
		}
	}
	b := binary.LittleEndian.AppendUint32(nil, n)
	if err := os.WriteFile(out, append(b, body...), 0o644); err != nil {
		t.Fatal(err)
	}
}
