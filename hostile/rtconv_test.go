package hostile

import (
	"path/filepath"
	"testing"
	"time"
)

// TestRtconv runs `refit run` on convolutions whose geometry would blow up the
// runtime's fast convolution layouts (made by testdata/gen/hostile_rtconv.py) under a
// 1 GiB address-space limit: the runtime must notice and take the gather path, so
// the run finishes instead of crashing on an allocation.
func TestRtconv(t *testing.T) {
	for _, file := range []string{"conv_kernel_as_wide_as_rows"} {
		t.Run(file, func(t *testing.T) {
			args := []string{"run", filepath.Join("testdata", "rtconv", file+".onnx")}
			r := runRefit(t, limits{memKiB: 1 << 20, timeout: 120 * time.Second}, args...)
			if r.code != 0 {
				t.Fatalf("refit %v: want exit 0\n%v", args, r)
			}
		})
	}
}
