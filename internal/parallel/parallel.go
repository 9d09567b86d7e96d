// Package parallel splits loops over goroutines for a thread count chosen by the
// caller. It is the one fan-out of the module: the runtime's kernels, the GGML
// quantizers, the block dequantizers and calibration all use it, so a thread count
// given to a call (runtime.Options.Threads, a quantizer's Threads option) bounds every
// goroutine that call starts. There is no process-wide setting.
//
// Results must not depend on the thread count: callers give each piece disjoint
// output and keep every reduction inside one piece.
package parallel

import (
	"fmt"
	goruntime "runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
)

// Threads resolves a requested thread count: n <= 0 means GOMAXPROCS.
func Threads(n int) int {
	if n > 0 {
		return n
	}
	return goruntime.GOMAXPROCS(0)
}

// Panic carries a panic out of a worker goroutine so that it is raised again in the
// goroutine that called For, where a recover can see it. Stack is the worker's stack
// at the panic, for debugging; it is not meant for users.
type Panic struct {
	Value any
	Stack []byte
}

func (p *Panic) Error() string { return fmt.Sprintf("panic in worker: %v", p.Value) }

// Unwrap returns the panic value when it is an error.
func (p *Panic) Unwrap() error {
	err, _ := p.Value.(error)
	return err
}

// For splits [0, n) into near-equal contiguous pieces of at least grain items, at most
// Threads(threads) of them, and runs fn on each piece concurrently (on the pool of
// Do; the caller runs pieces too). It returns when every piece is done. A panic in a
// piece is raised again in the caller as a *Panic once every piece has finished.
func For(threads, n, grain int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	grain = max(grain, 1)
	workers := min(Threads(threads), (n+grain-1)/grain)
	if workers <= 1 {
		fn(0, n)
		return
	}
	chunk := (n + workers - 1) / workers
	claimAll(workers, n, chunk, fn)
}

// ForChunks runs fn over [0, n) in chunks of chunk items (the last may be shorter)
// on up to Threads(threads) goroutines, the caller included, each claiming the next
// unclaimed chunk when it finishes one, so a goroutine slowed by other load on the
// machine does not hold up the rest. Panics are handled as in For.
func ForChunks(threads, n, chunk int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	chunk = max(chunk, 1)
	workers := min(Threads(threads), (n+chunk-1)/chunk)
	if workers <= 1 {
		fn(0, n)
		return
	}
	claimAll(workers, n, chunk, fn)
}

// claimAll runs fn over the chunks of [0, n) on up to workers goroutines of Do, each
// claiming the next chunk until none is left.
func claimAll(workers, n, chunk int, fn func(lo, hi int)) {
	var (
		g    group
		next atomic.Int64
	)
	Do(workers, func() {
		g.run(func() {
			for {
				lo := int(next.Add(int64(chunk))) - chunk
				if lo >= n {
					return
				}
				fn(lo, min(lo+chunk, n))
			}
		})
	})
	if g.panic != nil {
		panic(g.panic)
	}
}

// group keeps the first panic among the goroutines of one call.
type group struct {
	mu    sync.Mutex
	panic *Panic
}

func (g *group) run(fn func()) {
	// A fault on mapped memory (a weight left in a file that another process
	// truncated) becomes a panic carried to the caller, which can report it, instead
	// of ending the process. Goroutines start with this off; the caller's own piece
	// keeps the caller's setting.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			p, ok := r.(*Panic)
			if !ok {
				p = &Panic{Value: r, Stack: debug.Stack()}
			}
			g.mu.Lock()
			if g.panic == nil {
				g.panic = p
			}
			g.mu.Unlock()
		}
	}()
	fn()
}
