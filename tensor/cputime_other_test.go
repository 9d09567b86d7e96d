//go:build !unix

package tensor

import (
	"testing"
	"time"
)

// processCPUTime is unknown here; benchmarks then report wall time only.
func processCPUTime() time.Duration { return 0 }

func reportCPUThroughput(b *testing.B, bytesPerOp int64, cpu0 time.Duration) {}
