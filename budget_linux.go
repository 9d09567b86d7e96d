package refit

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// memoryBudget is the smallest of half the physical RAM, half the cgroup memory limit, a
// quarter of the address-space limit and half the room left under the address-space and
// data limits (ulimit -v, -d) when it is first called, in bytes, or 0 when none can be
// read. Go's heap grows to about twice its live bytes before collecting, and an
// address-space limit also counts the runtime's own reservations (about 1.3 GB of a
// pure-Go binary's address space is mapped at start), hence the smaller shares.
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
	mapped := procStatus("VmSize:", "VmData:")
	for i, res := range []int{syscall.RLIMIT_AS, syscall.RLIMIT_DATA} {
		var rl syscall.Rlimit
		if syscall.Getrlimit(res, &rl) != nil || rl.Cur >= 1<<62 {
			continue
		}
		if res == syscall.RLIMIT_AS {
			lower(int64(rl.Cur) / 4)
		}
		// At least a sliver, so that a process at its limit still reads tiny files.
		lower(max((int64(rl.Cur)-mapped[i])/2, 64<<20))
	}
	return avail
}

// procStatus reads byte counts (given in kB) from /proc/self/status; 0 where missing.
func procStatus(keys ...string) []int64 {
	vals := make([]int64, len(keys))
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return vals
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		for i, k := range keys {
			if rest, ok := strings.CutPrefix(sc.Text(), k); ok {
				kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
				vals[i] = kb << 10
			}
		}
	}
	return vals
}
