//go:build !unix

package llm

import "time"

// processCPU is not measured here; the benchmark's per-CPU-second figure is then +Inf.
func processCPU() time.Duration { return 0 }
