// Command runtime times Refit's ONNX runtime on one model for bench/runtime.py: it
// loads the model once, makes seeded random inputs (runtime.RandomInputs), runs
// -warmup untimed and -runs timed Session.Run calls, and prints JSON with the
// per-run times. -threads sets runtime.Options.Threads (0: GOMAXPROCS). -dump-inputs writes the inputs as .npy
// files so ONNX Runtime can be fed the same values.
//
// -memtrace prints the resident set (anonymous and file-backed, from /proc/self/status)
// and the Go heap's classes after each timed run, and -memprofile writes the allocations
// of the timed runs (go tool pprof -base file.base file): memory that grows with the
// number of runs shows there.
//
// Usage: go run ./bench/runtime -model m.onnx [-runs 10] [-warmup 3] [-threads 0] [-dim batch=1]
// [-dump-inputs dir] [-cpuprofile file] [-memprofile file] [-memtrace]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	goruntime "runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/numpy"
	"github.com/refit-ml/refit/format/onnx"
	"github.com/refit-ml/refit/runtime"
)

type result struct {
	Model      string    `json:"model"`
	GOMAXPROCS int       `json:"gomaxprocs"`
	Threads    int       `json:"threads"` // runtime.Options.Threads; 0 means GOMAXPROCS
	LoadMs     float64   `json:"load_ms"`
	TimesMs    []float64 `json:"times_ms"`
	MedianMs   float64   `json:"median_ms"`
	CPUMs      float64   `json:"cpu_ms"` // process CPU time per timed run, all threads
	// WeightBytes is the initializers' data; PeakTensorBytes the most the session's
	// tensors held at once (runtime.Session.PeakMemory: weights, activations, pooled
	// buffers); PreparedBytes the packed weights among them (Session.PreparedMemory);
	// MaxRSSBytes the process's peak resident set (getrusage).
	WeightBytes     int64 `json:"weight_bytes"`
	PeakTensorBytes int64 `json:"peak_tensor_bytes"`
	PreparedBytes   int64 `json:"prepared_bytes"`
	MaxRSSBytes     int64 `json:"max_rss_bytes"`

	Inputs map[string]string `json:"inputs,omitempty"`
}

type dimFlag map[string]int64

func (d dimFlag) String() string { return fmt.Sprint(map[string]int64(d)) }

func (d dimFlag) Set(s string) error {
	name, size, ok := strings.Cut(s, "=")
	n, err := strconv.ParseInt(size, 10, 64)
	if !ok || err != nil || n <= 0 {
		return fmt.Errorf("want name=size, got %q", s)
	}
	d[name] = n
	return nil
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench/runtime:", err)
		os.Exit(1)
	}
}

func run() error {
	model := flag.String("model", "", "ONNX model file")
	runs := flag.Int("runs", 10, "timed runs")
	warmup := flag.Int("warmup", 3, "untimed warm-up runs")
	threads := flag.Int("threads", 0, "goroutines per run (runtime.Options.Threads; 0: GOMAXPROCS)")
	seed := flag.Uint64("seed", 1, "input seed")
	dump := flag.String("dump-inputs", "", "write the inputs as .npy files into this folder")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the timed runs to this file")
	memProfile := flag.String("memprofile", "", "write the allocation profile after the timed runs to this file, and the one before them to file.base (go tool pprof -base)")
	memTrace := flag.Bool("memtrace", false, "print the resident memory and the Go heap's classes after each run to stderr")
	dims := dimFlag{}
	flag.Var(dims, "dim", "size of a symbolic dimension, name=size (repeatable)")
	flag.Parse()
	if *model == "" || *runs < 1 || *warmup < 0 {
		flag.Usage()
		os.Exit(2)
	}
	ctx := context.Background()
	start := time.Now()
	// As refit run does: the weights stay in the file's mapping unless packed.
	fsys, base := refit.FileFS(*model)
	mp, files, err := onnx.LoadMapped(fsys, base)
	if err != nil {
		return err
	}
	defer files.Close()
	sess, err := runtime.Load(mp, fsys, &runtime.Options{Threads: *threads})
	if err != nil {
		return err
	}
	res := result{Model: *model, GOMAXPROCS: goruntime.GOMAXPROCS(0), Threads: *threads, LoadMs: ms(time.Since(start))}
	in, err := runtime.RandomInputs(sess, *seed, &runtime.RandomOptions{DimSizes: dims})
	if err != nil {
		return err
	}
	if *dump != "" {
		if res.Inputs, err = dumpInputs(*dump, in); err != nil {
			return err
		}
	}
	for i := 0; i < *warmup; i++ {
		if _, err := sess.Run(ctx, in); err != nil {
			return err
		}
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if *memProfile != "" {
		// Sample every allocation of the timed runs: per-run garbage is what
		// makes the resident set grow with the number of runs.
		goruntime.MemProfileRate = 1
		goruntime.GC()
		if err := writeProfile(*memProfile+".base", "allocs"); err != nil {
			return err
		}
	}
	cpu0 := cpuTime()
	for i := 0; i < *runs; i++ {
		t0 := time.Now()
		if _, err := sess.Run(ctx, in); err != nil {
			return err
		}
		res.TimesMs = append(res.TimesMs, ms(time.Since(t0)))
		if *memTrace {
			memLine(os.Stderr, i)
		}
	}
	res.CPUMs = ms(cpuTime()-cpu0) / float64(*runs)
	if *memProfile != "" {
		goruntime.GC() // the profile shows allocations as of the last collection
		if err := writeProfile(*memProfile, "allocs"); err != nil {
			return err
		}
	}
	for _, v := range sess.Graph().Initializers {
		if v.Kind == runtime.KindTensor {
			res.WeightBytes += int64(v.Len()) * int64(max(v.DType.TypeSize(), 1))
		}
	}
	res.PeakTensorBytes = sess.PeakMemory()
	res.PreparedBytes = sess.PreparedMemory()
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		res.MaxRSSBytes = ru.Maxrss * 1024 // kilobytes on Linux
	}
	sorted := slices.Sorted(slices.Values(res.TimesMs))
	if n := len(sorted); n%2 == 1 {
		res.MedianMs = sorted[n/2]
	} else {
		res.MedianMs = (sorted[n/2-1] + sorted[n/2]) / 2
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

// cpuTime is the process's user+system CPU time: on a loaded machine it measures the
// work done, where wall time also counts waiting for a core.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func writeProfile(path, name string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	err = pprof.Lookup(name).WriteTo(f, 0)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func dumpInputs(dir string, in map[string]*runtime.Value) (map[string]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	files := map[string]string{}
	for i, name := range slices.Sorted(maps.Keys(in)) {
		t, err := in[name].Tensor(name)
		if err != nil {
			return nil, err
		}
		p := filepath.Join(dir, fmt.Sprintf("in%d.npy", i))
		f, err := os.Create(p)
		if err != nil {
			return nil, err
		}
		err = numpy.EncodeNPY(f, t)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, err
		}
		files[name] = p
	}
	return files, nil
}
