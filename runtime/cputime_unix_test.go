//go:build unix

package runtime

import (
	"syscall"
	"time"
)

// processCPUTime is the user+system CPU time of the process; benchmarks divide work by it
// to see kernel speed on a machine shared with other loads.
func processCPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
