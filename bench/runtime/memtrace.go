package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"runtime/metrics"
	"strconv"
	"strings"
)

// memLine is one -memtrace line: the process's resident memory split as the kernel
// sees it (anonymous, file-backed) beside the Go runtime's own classes, to tell heap
// growth from memory the runtime holds but does not use.
func memLine(w io.Writer, run int) {
	st := procStatus("VmRSS", "RssAnon", "RssFile", "VmHWM")
	samples := []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/free:bytes"},
		{Name: "/memory/classes/heap/released:bytes"},
		{Name: "/memory/classes/heap/unused:bytes"},
		{Name: "/memory/classes/heap/stacks:bytes"},
		{Name: "/memory/classes/total:bytes"},
		{Name: "/gc/heap/goal:bytes"},
		{Name: "/gc/cycles/total:gc-cycles"},
		{Name: "/gc/heap/allocs:bytes"},
		{Name: "/gc/heap/allocs:objects"},
	}
	metrics.Read(samples)
	v := func(i int) float64 { return float64(samples[i].Value.Uint64()) / (1 << 20) }
	fmt.Fprintf(w, "run %d rss %.1f anon %.1f file %.1f hwm %.1f | objects %.1f free %.1f released %.1f unused %.1f stacks %.1f total %.1f goal %.1f gcs %d allocs %.1f MiB %d\n",
		run, st[0], st[1], st[2], st[3], v(0), v(1), v(2), v(3), v(4), v(5), v(6), samples[7].Value.Uint64(), v(8), samples[9].Value.Uint64())
}

// procStatus reads fields of /proc/self/status in MiB (0 where absent).
func procStatus(names ...string) []float64 {
	out := make([]float64, len(names))
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return out
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		for i, n := range names {
			if k == n {
				kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
				out[i] = kb / 1024
			}
		}
	}
	return out
}
