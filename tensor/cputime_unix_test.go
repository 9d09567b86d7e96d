//go:build unix

package tensor

import (
	"syscall"
	"testing"
	"time"
)

// processCPUTime is the user plus system CPU time the process has used.
func processCPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPUThroughput reports bytesPerOp over the CPU time since cpu0, in MB per
// CPU-second: unlike wall time, not inflated by other jobs sharing the cores.
func reportCPUThroughput(b *testing.B, bytesPerOp int64, cpu0 time.Duration) {
	if cpu := processCPUTime() - cpu0; cpu > 0 {
		b.ReportMetric(float64(bytesPerOp)*float64(b.N)/cpu.Seconds()/1e6, "cpu-MB/s")
	}
}
