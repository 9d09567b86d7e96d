package runtime

import (
	"fmt"
	goruntime "runtime"
	"runtime/debug"
	"sync"
)

// workerPanic carries a panic out of a worker goroutine so the executor's recover,
// which names the node, sees it in the goroutine that ran the kernel.
type workerPanic struct {
	val   any
	stack []byte
}

func (p *workerPanic) Error() string { return fmt.Sprintf("panic in worker: %v\n%s", p.val, p.stack) }

// parallelFor splits [0, n) into chunks of at least grain items and runs fn on them
// on up to GOMAXPROCS goroutines. A panic in fn is re-raised in the caller.
func parallelFor(n, grain int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	workers := goruntime.GOMAXPROCS(0)
	if grain < 1 {
		grain = 1
	}
	if maxW := (n + grain - 1) / grain; workers > maxW {
		workers = maxW
	}
	if workers <= 1 {
		fn(0, n)
		return
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		perr *workerPanic
	)
	chunk := (n + workers - 1) / workers
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if r := recover(); r != nil {
					mu.Lock()
					if perr == nil {
						perr = &workerPanic{r, debug.Stack()}
					}
					mu.Unlock()
				}
			}()
			fn(lo, hi)
		}()
	}
	wg.Wait()
	if perr != nil {
		panic(perr)
	}
}
