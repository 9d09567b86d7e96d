//go:build purego

package ggml

import "testing"

// TestPuregoHasNoKernels checks that -tags purego leaves every assembly path off.
func TestPuregoHasNoKernels(t *testing.T) {
	if haveSIMD || haveF16C || useSIMD || useRows {
		t.Fatalf("purego build selects vector kernels: haveSIMD %v haveF16C %v useSIMD %v useRows %v", haveSIMD, haveF16C, useSIMD, useRows)
	}
}
