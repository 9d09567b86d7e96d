//go:build unix

package llm

import (
	"syscall"
	"time"
)

// processCPU is the user+system CPU time of the process: benchmarks report work per
// CPU-second, which a machine shared with other loads disturbs less than wall time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
