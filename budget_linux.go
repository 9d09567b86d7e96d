package refit

import (
	"os"
	"strconv"
	"strings"
	"syscall"
)

// availableMemory is the smallest of physical RAM, the cgroup memory limit and the
// address-space limit, in bytes, or 0 when none can be read.
func availableMemory() int64 {
	var avail int64
	lower := func(n int64) {
		if n > 0 && (avail == 0 || n < avail) {
			avail = n
		}
	}
	var si syscall.Sysinfo_t
	if syscall.Sysinfo(&si) == nil {
		lower(int64(si.Totalram) * int64(si.Unit))
	}
	for _, p := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		if b, err := os.ReadFile(p); err == nil {
			if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil {
				lower(n) // "max" (no limit) does not parse
			}
		}
	}
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_AS, &rl) == nil && rl.Cur < 1<<62 {
		lower(int64(rl.Cur))
	}
	return avail
}
