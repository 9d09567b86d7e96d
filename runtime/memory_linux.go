package runtime

import (
	"os"
	"strconv"
	"strings"
	"syscall"
)

// availableMemory is the least of the machine's RAM, the address-space and data
// limits (ulimit -v, -d) and the cgroup v2 memory limit; 0 when none is known.
func availableMemory() int64 {
	var least int64
	lower := func(n int64) {
		if n > 0 && (least == 0 || n < least) {
			least = n
		}
	}
	var si syscall.Sysinfo_t
	if syscall.Sysinfo(&si) == nil {
		lower(int64(si.Totalram) * int64(si.Unit))
	}
	for _, res := range []int{syscall.RLIMIT_AS, syscall.RLIMIT_DATA} {
		var rl syscall.Rlimit
		if syscall.Getrlimit(res, &rl) == nil && rl.Cur < 1<<62 {
			lower(int64(rl.Cur))
		}
	}
	if b, err := os.ReadFile("/sys/fs/cgroup/memory.max"); err == nil {
		if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil {
			lower(n)
		}
	}
	return least
}
