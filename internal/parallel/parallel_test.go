package parallel

import (
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// cover runs a splitter and checks that every index in [0, n) is visited exactly once
// and that no more than the allowed number of goroutines ran pieces at a time.
func cover(t *testing.T, name string, n int, split func(fn func(lo, hi int))) {
	t.Helper()
	seen := make([]int, n)
	var mu sync.Mutex
	split(func(lo, hi int) {
		if lo < 0 || hi > n || lo >= hi {
			t.Errorf("%s: piece [%d, %d) outside [0, %d)", name, lo, hi, n)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		for i := lo; i < hi; i++ {
			seen[i]++
		}
	})
	for i, c := range seen {
		if c != 1 {
			t.Fatalf("%s: index %d visited %d times, want 1", name, i, c)
		}
	}
}

func TestForCoversEveryIndexOnce(t *testing.T) {
	for _, n := range []int{0, 1, 2, 7, 100, 1001} {
		for _, threads := range []int{0, 1, 2, 3, 16} {
			for _, grain := range []int{0, 1, 4, 1000} {
				cover(t, "For", n, func(fn func(lo, hi int)) { For(threads, n, grain, fn) })
				cover(t, "ForChunks", n, func(fn func(lo, hi int)) { ForChunks(threads, n, grain, fn) })
			}
		}
	}
}

func TestForPieceCount(t *testing.T) {
	tests := []struct{ threads, n, grain, want int }{
		{1, 100, 1, 1},
		{2, 100, 1, 2},
		{4, 100, 1, 4},
		{4, 100, 50, 2},
		{4, 3, 1, 3},
		{8, 100, 1000, 1},
	}
	for _, tt := range tests {
		var mu sync.Mutex
		var pieces [][2]int
		For(tt.threads, tt.n, tt.grain, func(lo, hi int) {
			mu.Lock()
			pieces = append(pieces, [2]int{lo, hi})
			mu.Unlock()
		})
		if len(pieces) != tt.want {
			t.Errorf("For(%d, %d, %d) ran %d pieces %v, want %d", tt.threads, tt.n, tt.grain, len(pieces), pieces, tt.want)
		}
	}
}

func TestForOneThreadRunsOnCaller(t *testing.T) {
	// With one thread the pieces run in order on the caller: a plain loop.
	var order []int
	ForChunks(1, 10, 3, func(lo, hi int) { order = append(order, lo) })
	For(1, 10, 1, func(lo, hi int) { order = append(order, lo) })
	if want := []int{0, 0}; !slices.Equal(order, want) {
		t.Errorf("pieces started at %v, want %v", order, want)
	}
}

func TestWorkerPanicReachesCaller(t *testing.T) {
	boom := errors.New("boom")
	for _, split := range []func(fn func(lo, hi int)){
		func(fn func(lo, hi int)) { For(4, 8, 1, fn) },
		func(fn func(lo, hi int)) { ForChunks(4, 8, 1, fn) },
	} {
		func() {
			defer func() {
				r := recover()
				p, ok := r.(*Panic)
				if !ok {
					t.Fatalf("recovered %T %v, want *Panic", r, r)
				}
				if !errors.Is(p, boom) {
					t.Errorf("panic %v does not unwrap to the worker's error", p)
				}
			}()
			split(func(lo, hi int) {
				if lo <= 5 && 5 < hi {
					panic(boom)
				}
			})
		}()
	}
}

func TestThreads(t *testing.T) {
	if got := Threads(3); got != 3 {
		t.Errorf("Threads(3) = %d, want 3", got)
	}
	if got := Threads(0); got < 1 {
		t.Errorf("Threads(0) = %d, want >= 1", got)
	}
}

func TestDoRunsOnAtMostThreadsGoroutines(t *testing.T) {
	for _, threads := range []int{1, 2, 3, 8} {
		var mu sync.Mutex
		active, most, calls := 0, 0, 0
		Do(threads, func() {
			mu.Lock()
			active++
			calls++
			most = max(most, active)
			mu.Unlock()
			time.Sleep(time.Millisecond)
			mu.Lock()
			active--
			mu.Unlock()
		})
		if most > threads || calls > threads || calls < 1 {
			t.Errorf("Do(%d): %d calls, %d at once", threads, calls, most)
		}
		if active != 0 {
			t.Errorf("Do(%d) returned with %d calls still running", threads, active)
		}
	}
}

func TestDoNestedAndConcurrent(t *testing.T) {
	// Nested and concurrent calls must neither deadlock nor lose pieces: a caller
	// never waits for a helper that did not start, so every call completes even
	// when all helpers are busy elsewhere.
	var wg sync.WaitGroup
	var total atomic.Int64
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				For(3, 6, 1, func(lo, hi int) { // three pieces of two
					ForChunks(2, 10, 3, func(lo, hi int) { total.Add(int64(hi - lo)) })
				})
			}
		}()
	}
	wg.Wait()
	if want := int64(8 * 50 * 3 * 10); total.Load() != want {
		t.Errorf("visited %d items, want %d", total.Load(), want)
	}
}

// BenchmarkForForkJoin is For over two pieces of 20 us each, after 10 us of serial
// work: a kernel of a model run on two threads. Ideal is 30 us per op. On the 2-core
// AMD EPYC (Zen 4, KVM) of issue 14, with no other load (chrt -f 1), starting a
// goroutine per piece took 64.5 us (waking the idle thread and vCPU cost more than the
// second piece); with the spinning helpers of Do it takes 31.0 us.
func BenchmarkForForkJoin(b *testing.B) {
	spin := func(d time.Duration) {
		for end := time.Now().Add(d); time.Now().Before(end); {
		}
	}
	for b.Loop() {
		spin(10 * time.Microsecond)
		For(2, 2, 1, func(lo, hi int) { spin(20 * time.Microsecond) })
	}
}
