//go:build linux

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/refit-ml/refit/tensor"
)

// TestConvertPeakMemory converts a 1 GiB model whose largest tensor is 128 MiB, with
// a cast and the default verification, and checks the child's peak resident memory
// against the bound the README promises: twice the largest tensor plus 64 MiB.
func TestConvertPeakMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 1 GiB input")
	}
	var specs []tensorSpec
	for i := range 6 {
		specs = append(specs, tensorSpec{fmt.Sprintf("big.%d.weight", i), tensor.Shape{8192, 4096}}) // 128 MiB
	}
	for i := range 4 {
		specs = append(specs, tensorSpec{fmt.Sprintf("mid.%d.weight", i), tensor.Shape{4096, 4096}}) // 64 MiB
	}
	const largest = 128 << 20
	const bound = 2*largest + 64<<20
	cases := []struct {
		in, inFormat, out string
		args              []string
	}{
		{"in.safetensors", "safetensors", "out.safetensors", []string{"--dtype", "f16"}},
		{"in.pt", "pytorch", "out.gguf", []string{"--dtype", "bf16"}},
	}
	for _, c := range cases {
		t.Run(c.in+"->"+c.out, func(t *testing.T) {
			dir := t.TempDir()
			in := filepath.Join(dir, c.in)
			writeModel(t, in, c.inFormat, specs)
			if st, err := os.Stat(in); err != nil || st.Size() < 1<<30 {
				t.Fatalf("input: %v, %v", st, err)
			}
			r := startRefit(t, dir, append([]string{"convert", c.in, c.out}, c.args...)...)
			if code := r.wait(t); code != 0 {
				t.Fatalf("convert: exit %d\nstderr: %s", code, &r.stderr)
			}
			ru, ok := r.cmd.ProcessState.SysUsage().(*syscall.Rusage)
			if !ok {
				t.Skip("no rusage")
			}
			peak := ru.Maxrss << 10 // KiB on Linux
			t.Logf("refit convert %s %s %v: peak RSS %d MiB (bound %d MiB)", c.in, c.out, c.args, peak>>20, bound>>20)
			if peak > bound {
				t.Errorf("peak RSS %d MiB exceeds 2 x largest tensor + 64 MiB = %d MiB", peak>>20, bound>>20)
			}
		})
	}
}
