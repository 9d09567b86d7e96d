package parallel

import (
	goruntime "runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// The helpers of Do are goroutines kept for the life of the process. A fork-join
// that started a goroutine per piece paid for waking an idle OS thread on every
// call (tens of microseconds on a virtual machine, where the idle vCPU has to be
// woken too), which a model made of many short kernels pays hundreds of times a
// run. So a helper that runs out of work keeps polling for the next job for
// helperSpin before it parks, and the caller waits for its helpers the same way:
// the next kernel's fork (usually microseconds away) then reaches a running thread.
// ONNX Runtime's and OpenMP's pools spin for the same reason.
const (
	// helperSpin is how long an idle helper polls for a job before it parks.
	helperSpin = 100 * time.Microsecond
	// joinSpin is how long Do polls for its helpers to finish before it blocks.
	joinSpin = 200 * time.Microsecond
)

// job is one call of Do. Each of its slots is taken by at most one helper, or
// withdrawn by the caller when it finishes before any helper came: the caller
// waits only for helpers that started, never for one still asleep.
type job struct {
	fn      func()
	slots   atomic.Int32 // slots not yet taken or withdrawn; < 0 once withdrawn
	running atomic.Int32 // slots taken and not yet finished, plus withdrawn ones not yet counted
	wg      sync.WaitGroup
}

var (
	jobs        = make(chan *job, 256)
	helpersMu   sync.Mutex
	helperCount int
)

// Do runs fn on the calling goroutine and on up to Threads(threads)-1 helper
// goroutines at once, and returns when every call of fn that started has returned.
// fn must split its work itself (claiming pieces from a shared counter), and a
// helper may start only after the caller's fn has returned, or not at all: the
// caller's call alone must be able to do all the work. A panic in a helper is the
// helper's fn's to recover (For and ForChunks do).
func Do(threads int, fn func()) {
	t := Threads(threads)
	if t <= 1 {
		fn()
		return
	}
	startHelpers(t - 1)
	j := &job{fn: fn}
	j.slots.Store(int32(t - 1))
	j.running.Store(int32(t - 1))
	j.wg.Add(t - 1)
	for range t - 1 {
		select {
		case jobs <- j:
		default: // every helper is far behind: withdraw in finish
		}
	}
	fn()
	// Withdraw the slots no helper took; those helpers will not run fn.
	if left := j.slots.Swap(-1 << 30); left > 0 {
		j.running.Add(-left)
		j.wg.Add(-int(left))
	}
	j.join()
	// The queue may still hold j for a helper to discard: it must not keep what fn
	// refers to (a caller's tensors) alive. No helper reads fn any more.
	j.fn = nil
}

// join waits for the helpers that took a slot of j to finish.
func (j *job) join() {
	deadline := time.Now().Add(joinSpin)
	for i := 0; j.running.Load() != 0; i++ {
		if i%64 == 63 {
			if time.Now().After(deadline) {
				j.wg.Wait()
				return
			}
			goruntime.Gosched()
		}
	}
}

// startHelpers makes sure at least n helpers exist.
func startHelpers(n int) {
	helpersMu.Lock()
	for ; helperCount < n; helperCount++ {
		go helper()
	}
	helpersMu.Unlock()
}

func helper() {
	// A fault on mapped memory (a weight in a file another process truncated)
	// becomes a panic, which For, ForChunks and blas carry to the caller, instead of
	// ending the process.
	debug.SetPanicOnFault(true)
	for {
		var j *job
		select {
		case j = <-jobs:
		default:
			j = spinForJob()
		}
		if j.slots.Add(-1) < 0 {
			continue // withdrawn: the caller did the work
		}
		j.fn()
		j.running.Add(-1)
		j.wg.Done()
	}
}

// spinForJob polls the job queue for helperSpin, yielding the processor to any
// other runnable goroutine between polls, then blocks on it.
func spinForJob() *job {
	deadline := time.Now().Add(helperSpin)
	for i := 0; ; i++ {
		select {
		case j := <-jobs:
			return j
		default:
		}
		if i%16 == 15 {
			if time.Now().After(deadline) {
				return <-jobs
			}
			goruntime.Gosched()
		}
	}
}
