package hostile

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRuntime runs `refit run` on graphs that ask the runtime for far more memory or
// time than their few bytes are worth (made by testdata/gen/hostile_runtime.py). Under
// a 4 GiB address-space limit the runtime's default memory budget is 2 GiB: each run
// must stop with exit code 1 and the error that names the exhausted budget or the
// malformed value, never a crash, a hang or the kernel's OOM killer.
func TestRuntime(t *testing.T) {
	tests := []struct {
		file   string
		flags  []string
		want   string // in stderr; "" for a run that must succeed
		memKiB int64  // ulimit -v; 0: 4 GiB
	}{
		// One node asks for 4 GiB or more.
		{"constant_of_shape_4gib", nil, "memory budget exceeded", 0},
		{"expand_4gib", nil, "memory budget exceeded", 0},
		{"tile_4gib", nil, "memory budget exceeded", 0},
		{"resize_nearest_4gib", nil, "memory budget exceeded", 0},
		{"resize_linear_4gib", nil, "memory budget exceeded", 0},
		{"range_8gib", nil, "memory budget exceeded", 0},
		{"input_declared_4gib", nil, "memory budget exceeded", 0}, // random inputs of its declared shape
		{"reduce_1gib", nil, "memory budget exceeded", 0},         // the index table of a 1 GiB reduction
		// An output as large as a raised budget allows: it runs, and refit run prints it
		// without copying it (the default budget under 4 GiB of address space is 1 GiB).
		{"expand_output_1gib", []string{"--max-memory", "1400MiB"}, "", 0},
		// Tensors that each fit, but not together.
		{"sum_live_4gib", nil, "memory budget exceeded", 0},
		// Loops that pile up scan outputs or double their carried value.
		{"loop_scan_collect", nil, "memory budget exceeded", 1 << 20}, // 1 GiB: a 512 MiB budget fills 4x sooner
		{"loop_doubling", nil, "memory budget exceeded", 0},
		// Loops that would run for hours: the iteration budget over all nesting levels,
		// or a timeout that cancels the run.
		{"loop_nested", []string{"--max-iterations", "100000"}, "iteration budget exceeded", 0},
		{"loop_forever", []string{"--max-iterations", "100000"}, "iteration budget exceeded", 0},
		{"loop_nested", []string{"--timeout", "1s"}, "context deadline exceeded", 0},
		// Range bounds whose length overflows or is not a number.
		{"range_int64_overflow", nil, "tensor too large", 0},
		{"range_nan", nil, "no finite length", 0},
		// A few bytes of initializer declaring 2^40 elements.
		{"initializer_2p40_typed", nil, "needs 1099511627776 values, have 1", 0},
		{"initializer_2p40_raw", nil, "needs 4398046511104 bytes, have 4", 0},
	}
	for _, tc := range tests {
		t.Run(tc.file+strings.Join(tc.flags, ""), func(t *testing.T) {
			args := append([]string{"run"}, tc.flags...)
			args = append(args, filepath.Join("testdata", "runtime", tc.file+".onnx"))
			r := runRefit(t, limits{memKiB: tc.memKiB, timeout: 90 * time.Second}, args...)
			if tc.want == "" {
				if r.code != 0 {
					t.Fatalf("refit %v: want exit 0\n%v", args, r)
				}
				return
			}
			if r.code != 1 || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("refit %v: want exit 1 and %q\n%v", args, tc.want, r)
			}
		})
	}
}
