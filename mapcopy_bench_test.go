//go:build unix

package refit

import (
	"context"
	"hash/crc32"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the process's user + system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkCopyMapped copies a 64 MiB range of a mapped file (in the page cache) into
// an output file, as a conversion copies an unchanged tensor: through a buffer at the
// destination's page phase with the source's CRC-32 ("shifted"), the same with the
// output re-read on a second goroutine ("shifted+readback", what a verified convert
// does), and file to file where the source declares the CRC ("file-to-file",
// copy_file_range, with the offsets at the same page phase; "file-to-file-64" with
// the output 64 bytes off it).
//
// AMD EPYC Zen 4, 2 cores shared with other jobs (load average 5-11), ext4, page
// cache; MB/s and CPU time of all goroutines per GiB, the output's removal included:
// shifted (off the source's page phase: 1 MiB writes) 3.1 GB/s, 0.35; shifted+readback
// 2.6 GB/s, 0.50-0.51; file-to-file 3.3 GB/s, 0.34; file-to-file-64 2.6-2.9 GB/s,
// 0.38-0.42. With 256 KiB writes (load 15-18) shifted cost 0.44, with read-back
// 0.55-0.59.
func BenchmarkCopyMapped(b *testing.B) {
	const size = 64 << 20
	dir := b.TempDir()
	src := make([]byte, size+8192)
	for i := range src {
		src[i] = byte(i*131 + i>>9)
	}
	srcPath := filepath.Join(dir, "src.bin")
	if err := os.WriteFile(srcPath, src, 0o644); err != nil {
		b.Fatal(err)
	}
	f, err := OpenMapped(srcPath)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	for _, c := range []struct {
		name        string
		lead, off   int64
		readBack    bool
		declaredCRC bool
	}{
		{"shifted", 24, 4096 + 64, false, false},
		{"shifted+readback", 24, 4096 + 64, true, false},
		{"file-to-file", 4096, 8192, false, true},
		{"file-to-file-64", 4096 + 64, 8192, false, true},
	} {
		b.Run(c.name, func(b *testing.B) {
			if c.declaredCRC {
				f.NoteCRC(c.off, size, crc32.ChecksumIEEE(src[c.off:c.off+size]), true)
			}
			b.SetBytes(size)
			c0, n := cpuTime(b), 0
			for b.Loop() {
				n++
				po, err := CreatePendingOutput(context.Background(), filepath.Join(dir, "out.bin"), false, true)
				if err != nil {
					b.Fatal(err)
				}
				if c.readBack {
					po.ReadBack()
				}
				w, err := po.Create("out.bin")
				if err != nil {
					b.Fatal(err)
				}
				if _, err := w.Write(make([]byte, c.lead)); err != nil {
					b.Fatal(err)
				}
				if _, err := f.CopyRange(w, c.off, size); err != nil {
					b.Fatal(err)
				}
				if c.readBack {
					if _, ok := po.ReadBackCRC("out.bin", c.lead, size); !ok {
						b.Fatal("range not read back")
					}
				}
				po.Abort()
			}
			// CPU time, every goroutine's, steadier than wall time on a shared machine.
			b.ReportMetric((cpuTime(b)-c0).Seconds()/float64(n)*float64(1<<30)/size, "CPU-s/GiB")
		})
	}
}
