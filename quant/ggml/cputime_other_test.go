//go:build !unix

package ggml

import "time"

// processCPUTime is unknown here; benchmarks then report wall time only.
func processCPUTime() time.Duration { return 0 }
