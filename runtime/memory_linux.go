package runtime

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// availableMemory is the least of the machine's RAM, the cgroup v2 memory limit, and
// the room left under the address-space and data limits (ulimit -v, -d) by what the
// process has mapped already: the Go runtime alone reserves about a gigabyte of
// address space, which counts against ulimit -v. 0 when nothing is known.
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
	if b, err := os.ReadFile("/sys/fs/cgroup/memory.max"); err == nil {
		if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil {
			lower(n)
		}
	}
	mapped := procStatus("VmSize:", "VmData:")
	for i, res := range []int{syscall.RLIMIT_AS, syscall.RLIMIT_DATA} {
		var rl syscall.Rlimit
		if syscall.Getrlimit(res, &rl) == nil && rl.Cur < 1<<62 {
			// At least a sliver, so that a process at its limit still runs tiny graphs.
			lower(max(int64(rl.Cur)-mapped[i], 64<<20))
		}
	}
	return least
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
