package refit

import (
	"os"
	"strconv"
	"strings"
	"syscall"
)

// memoryBudget is the smallest of half the physical RAM, half the cgroup memory limit and
// a quarter of the address-space limit, in bytes, or 0 when none can be read. Go's heap
// grows to about twice its live bytes before collecting, and an address-space limit also
// counts the runtime's reservations, hence the smaller share of it.
func memoryBudget() int64 {
	var avail int64
	lower := func(n int64) {
		if n > 0 && (avail == 0 || n < avail) {
			avail = n
		}
	}
	var si syscall.Sysinfo_t
	if syscall.Sysinfo(&si) == nil {
		lower(int64(si.Totalram) * int64(si.Unit) / 2)
	}
	for _, p := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		if b, err := os.ReadFile(p); err == nil {
			if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil {
				lower(n / 2) // "max" (no limit) does not parse
			}
		}
	}
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_AS, &rl) == nil && rl.Cur < 1<<62 {
		lower(int64(rl.Cur) / 4)
	}
	return avail
}
