package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/refit-ml/refit"
)

// quantizeInParts quantizes in as n parts and joins them; it returns the joined file.
func quantizeInParts(t *testing.T, dir, in string, n int, flags ...string) string {
	t.Helper()
	var parts []string
	for i := range n {
		part := filepath.Join(dir, fmt.Sprintf("part-%d-of-%d", i, n))
		args := append([]string{"quantize", in, part, "--shard", fmt.Sprintf("%d/%d", i, n), "--json"}, flags...)
		code, out, stderr := runMain(t, context.Background(), args...)
		if code != 0 {
			t.Fatalf("refit %v: exit %d: %s", args, code, stderr)
		}
		var p quantPart
		if err := json.Unmarshal([]byte(out), &p); err != nil {
			t.Fatal(err)
		}
		if p.Part != i || p.Parts != n || (p.Tensors > 0 && !p.Verified) {
			t.Errorf("part %d/%d: %+v", i, n, p)
		}
		parts = append(parts, part)
	}
	joined := filepath.Join(dir, fmt.Sprintf("joined-%d.gguf", n))
	// Parts in reverse order: gguf-concat orders them itself.
	args := []string{"gguf-concat"}
	for i := len(parts) - 1; i >= 0; i-- {
		args = append(args, parts[i])
	}
	if code, _, stderr := runMain(t, context.Background(), append(args, joined)...); code != 0 {
		t.Fatalf("gguf-concat: exit %d: %s", code, stderr)
	}
	return joined
}

// TestQuantizeShardConcat: quantizing in parts and joining them gives the
// single-machine output byte for byte, for several types and part counts (more parts
// than tensors leaves parts empty), from a GGUF file and a sharded Hugging Face folder.
func TestQuantizeShardConcat(t *testing.T) {
	src := filepath.Join("..", "..", "testdata", "models", "llm", "llama-f16.gguf")
	dir := t.TempDir()
	hfDir := filepath.Join(dir, "hf")
	if code, _, stderr := runMain(t, context.Background(), "convert", src, hfDir, "--shard-size", "100KB"); code != 0 {
		t.Fatal(stderr)
	}
	if m, _ := filepath.Glob(filepath.Join(hfDir, "*.safetensors")); len(m) < 2 {
		t.Fatalf("the Hugging Face folder has %d safetensors shards, want several", len(m))
	}
	for _, tt := range []struct {
		in    string
		typ   string
		parts []int
	}{
		{src, "Q4_K_M", []int{1, 2, 3, 25}},
		{src, "Q8_0", []int{3}},
		{src, "Q6_K", []int{2}},
		{src, "Q4_0", []int{4}},
		{src, "BF16", []int{3}},
		{hfDir, "Q4_K_M", []int{3}},
		{hfDir, "Q5_K_S", []int{2}},
	} {
		t.Run(filepath.Base(tt.in)+"-"+tt.typ, func(t *testing.T) {
			d := t.TempDir()
			flags := []string{"--type", tt.typ, "--allow-fallback"}
			single := filepath.Join(d, "single.gguf")
			if code, _, stderr := runMain(t, context.Background(), append([]string{"quantize", tt.in, single}, flags...)...); code != 0 {
				t.Fatal(stderr)
			}
			want := mustRead(t, single)
			for _, n := range tt.parts {
				got := mustRead(t, quantizeInParts(t, d, tt.in, n, flags...))
				if !bytes.Equal(got, want) {
					t.Errorf("%d parts: the joined file (%d bytes) differs from the single run's (%d bytes)", n, len(got), len(want))
				}
			}
		})
	}
}

// TestGGUFConcatRejects: parts that do not make one file are refused with
// ErrFormat, and nothing is written.
func TestGGUFConcatRejects(t *testing.T) {
	src := filepath.Join("..", "..", "testdata", "models", "llm", "llama-f16.gguf")
	dir := t.TempDir()
	mk := func(name, typ, shard string) string {
		p := filepath.Join(dir, name)
		if code, _, stderr := runMain(t, context.Background(), "quantize", src, p, "--type", typ, "--allow-fallback", "--shard", shard); code != 0 {
			t.Fatal(stderr)
		}
		return p
	}
	p0, p1, p2 := mk("p0", "Q4_K_M", "0/3"), mk("p1", "Q4_K_M", "1/3"), mk("p2", "Q4_K_M", "2/3")
	other1 := mk("o1", "Q8_0", "1/3")
	corrupt := filepath.Join(dir, "corrupt")
	b := mustRead(t, p1)
	pf, err := openPart(p1)
	if err != nil {
		t.Fatal(err)
	}
	pf.f.Close()
	b[pf.dataStart+pf.meta.DataBytes/2] ^= 0x55
	if err := os.WriteFile(corrupt, b, 0o644); err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(dir, "truncated")
	if err := os.WriteFile(truncated, mustRead(t, p1)[:len(b)-100], 0o644); err != nil {
		t.Fatal(err)
	}
	notPart := filepath.Join(dir, "not-a-part")
	if err := os.WriteFile(notPart, bytes.Repeat([]byte("x"), 100), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, parts := range map[string][]string{
		"missing":   {p0, p2},
		"duplicate": {p0, p1, p1},
		"other run": {p0, other1, p2},
		"corrupt":   {p0, corrupt, p2},
		"truncated": {p0, truncated, p2},
		"not part":  {p0, notPart, p2},
	} {
		t.Run(name, func(t *testing.T) {
			out := filepath.Join(dir, "out.gguf")
			e := &env{ctx: context.Background(), stdout: io.Discard, stderr: io.Discard}
			err := runGGUFConcat(e, parts, out, false, false)
			if !errors.Is(err, refit.ErrFormat) {
				t.Errorf("runGGUFConcat = %v, want ErrFormat", err)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("an output was written")
			}
		})
	}
	// Shard flags are checked.
	for _, bad := range []string{"3/3", "x", "1/0"} {
		if code, _, _ := runMain(t, context.Background(), "quantize", src, filepath.Join(dir, "x"), "--type", "Q8_0", "--shard", bad); code != ExitUsage {
			t.Errorf("--shard %s: exit %d, want %d", bad, code, ExitUsage)
		}
	}
}
