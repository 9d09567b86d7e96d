package runtime

import (
	"errors"
	"fmt"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"unsafe"
	"weak"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/tensor"
)

// ErrMemoryBudget reports an allocation that would take a session's tensors past
// Options.MaxMemory. The *MemoryError that carries it also matches ErrTooLarge.
var ErrMemoryBudget = errors.New("runtime: memory budget exceeded")

// ErrIterationBudget reports a run whose Loop and Scan iterations, summed over every
// nesting level, exceed Options.MaxIterations.
var ErrIterationBudget = errors.New("runtime: iteration budget exceeded")

// MemoryError is an allocation refused by the memory budget, before anything was
// allocated. errors.Is matches ErrMemoryBudget and ErrTooLarge.
type MemoryError struct {
	What      string // what was asked for: "output F32[1073741824]", "scratch buffer of 1048576 int"...
	Requested int64  // bytes asked for
	InUse     int64  // bytes of tensors held when it was refused
	Limit     int64  // Options.MaxMemory in effect
}

func (e *MemoryError) Error() string {
	return fmt.Sprintf("memory budget exceeded: %s needs %s with %s of tensors in use; the limit is %s (raise it with Options.MaxMemory or refit's --max-memory)",
		e.What, byteCount(e.Requested), byteCount(e.InUse), byteCount(e.Limit))
}

func (e *MemoryError) Is(target error) bool {
	return target == ErrMemoryBudget || target == ErrTooLarge
}

// byteCount prints n in binary units ("1.5 GiB").
func byteCount(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// minTracked is the smallest allocation the budget charges. Smaller ones cost less
// than the Value around them, and Go packs them with their neighbours, so a weak
// pointer to them may never clear; MaxIterations bounds how many a run can make.
const minTracked = 256

// valueOverhead is what the budget charges for each value a Loop or Scan collects
// besides its data: the Value, its shape and its buffer.
const valueOverhead = 256

// memBudget charges every tensor allocation of a session against a byte limit,
// before allocating. A charge is released when the garbage collector has freed the
// memory: each charged slice is tracked by a weak pointer, and the dead ones are
// swept from the list from time to time and, under pressure, after an explicit
// collection. So the count is the memory the session's tensors really hold (live
// values, pooled buffers and garbage not yet collected), whatever path a value took
// (pooled, returned by a subgraph, collected by a Loop), and a kernel never has to
// say when a value dies. Charging costs one atomic add; tracking a fresh slice takes
// a mutex, as making it does.
type memBudget struct {
	limit int64
	used  atomic.Int64
	peak  atomic.Int64 // the largest used has been
	// prepared is the part of used held by prepared (packed, transformed) weights.
	prepared atomic.Int64
	// sweptAt is the count of garbage collections when the last sweep began.
	sweptAt atomic.Uint64
	pool    *pool // its free buffers are dropped under pressure

	mu      sync.Mutex
	tracked []trackedSlice
	sweepAt int // len(tracked) that triggers the next sweep
}

type trackedSlice struct {
	ref   weak.Pointer[byte]
	bytes int64
}

func newMemBudget(limit int64, p *pool) *memBudget {
	if limit <= 0 {
		limit = DefaultMaxMemory()
	}
	return &memBudget{limit: limit, pool: p, sweepAt: 1024}
}

// inUse is the number of bytes charged now.
func (b *memBudget) inUse() int64 { return b.used.Load() }

// charge reserves n bytes, collecting garbage first when the reservation would
// not fit. The caller then allocates and tracks the slice, or releases the charge.
func (b *memBudget) charge(n int64, what func() string) error {
	if n <= 0 {
		return nil
	}
	if u := b.used.Add(n); u <= b.limit {
		if u > b.peak.Load() && b.collectedSinceSweep() {
			// A new peak: first drop the charges of slices the collector freed, which
			// only a sweep notices, or the peak would count the garbage of every
			// earlier run until 1024 tracked slices trigger one.
			b.mu.Lock()
			b.sweepLocked()
			b.mu.Unlock()
			u = b.used.Load()
		}
		b.notePeak(u)
		return nil
	}
	b.used.Add(-n)
	if n <= b.limit {
		b.reclaim()
		if u := b.used.Add(n); u <= b.limit {
			b.notePeak(u)
			return nil
		}
		b.used.Add(-n)
	}
	return &MemoryError{What: what(), Requested: n, InUse: b.used.Load(), Limit: b.limit}
}

func (b *memBudget) notePeak(u int64) {
	for p := b.peak.Load(); u > p && !b.peak.CompareAndSwap(p, u); p = b.peak.Load() {
	}
}

// PeakMemory reports the most bytes the session's tensors held at once since Load:
// initializers held in memory, packed weights, live values, pooled buffers, kernel scratch
// charged to the budget, and garbage not yet collected (as Options.MaxMemory counts).
func (s *Session) PeakMemory() int64 { return s.budget.peak.Load() }

// PreparedMemory reports the bytes of prepared weights (packed for the kernels,
// Winograd-transformed) the session holds; they are part of PeakMemory.
func (s *Session) PreparedMemory() int64 { return s.budget.prepared.Load() }

// release returns a charge whose memory is not tracked (a transient reservation).
func (b *memBudget) release(n int64) {
	if n > 0 {
		b.used.Add(-n)
	}
}

// track hands the charge of n bytes over to the allocation that starts at p: it is
// released once that is garbage collected.
func (b *memBudget) track(p *byte, n int64) {
	if p == nil {
		b.release(n)
		return
	}
	ref := weak.Make(p)
	b.mu.Lock()
	b.tracked = append(b.tracked, trackedSlice{ref, n})
	if len(b.tracked) >= b.sweepAt {
		b.sweepLocked()
		b.sweepAt = max(1024, 2*len(b.tracked))
	}
	b.mu.Unlock()
}

// collectedSinceSweep reports whether a garbage collection finished since the last
// sweep began (else a sweep would find nothing new to release).
func (b *memBudget) collectedSinceSweep() bool {
	s := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(s)
	return s[0].Value.Kind() == metrics.KindUint64 && s[0].Value.Uint64() != b.sweptAt.Load()
}

// sweepLocked releases the charges of collected slices.
func (b *memBudget) sweepLocked() {
	s := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(s)
	if s[0].Value.Kind() == metrics.KindUint64 {
		b.sweptAt.Store(s[0].Value.Uint64())
	}
	kept := b.tracked[:0]
	var freed int64
	for _, t := range b.tracked {
		if t.ref.Value() == nil {
			freed += t.bytes
			continue
		}
		kept = append(kept, t)
	}
	clear(b.tracked[len(kept):])
	b.tracked = kept
	b.used.Add(-freed)
}

// reclaim drops the pooled free buffers, runs a full garbage collection (which
// clears the weak pointers of everything unreachable) and releases what it freed.
func (b *memBudget) reclaim() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.pool != nil {
		b.pool.evict()
	}
	runtime.GC()
	b.sweepLocked()
}

// slicePointer returns a pointer to the first element of a typed slice, which is the
// start of its allocation; nil for an empty or unknown slice.
func slicePointer(data any) *byte {
	var p unsafe.Pointer
	switch d := data.(type) {
	case []float32:
		p = unsafe.Pointer(unsafe.SliceData(d))
	case []float64:
		p = unsafe.Pointer(unsafe.SliceData(d))
	case []uint16:
		p = unsafe.Pointer(unsafe.SliceData(d))
	case []int8:
		p = unsafe.Pointer(unsafe.SliceData(d))
	case []int16:
		p = unsafe.Pointer(unsafe.SliceData(d))
	case []int32:
		p = unsafe.Pointer(unsafe.SliceData(d))
	case []int64:
		p = unsafe.Pointer(unsafe.SliceData(d))
	case []uint8:
		p = unsafe.Pointer(unsafe.SliceData(d))
	case []uint32:
		p = unsafe.Pointer(unsafe.SliceData(d))
	case []uint64:
		p = unsafe.Pointer(unsafe.SliceData(d))
	case []bool:
		p = unsafe.Pointer(unsafe.SliceData(d))
	}
	if p == nil || sliceLen(data) == 0 {
		return nil
	}
	return (*byte)(p)
}

// newSlice makes a zeroed slice of n elements of dt, charged to the budget;
// what names it in the error.
func (b *memBudget) newSlice(dt tensor.DType, n int64, what func() string) (any, error) {
	bytes, ok := sliceBytes(dt, n)
	if !ok {
		return nil, &MemoryError{What: what(), Requested: bytes, InUse: b.used.Load(), Limit: b.limit}
	}
	if bytes < minTracked {
		return makeSlice(dt, int(n)), nil
	}
	if err := b.charge(bytes, what); err != nil {
		return nil, err
	}
	data := makeSlice(dt, int(n))
	b.track(slicePointer(data), bytes)
	return data, nil
}

// sliceBytes is the memory n elements of dt take; ok is false when it overflows.
func sliceBytes(dt tensor.DType, n int64) (int64, bool) {
	size := int64(elemBytes(dt))
	if n < 0 || (n > 0 && n > (1<<62)/size) {
		return 1<<63 - 1, false
	}
	return n * size, true
}

// elemBytes is the size of one element in the runtime's Go representation.
func elemBytes(dt tensor.DType) int {
	switch dt {
	case tensor.F64, tensor.I64, tensor.U64:
		return 8
	case tensor.F32, tensor.I32, tensor.U32:
		return 4
	case tensor.F16, tensor.BF16, tensor.U16, tensor.I16:
		return 2
	}
	return 1
}

// scratchSlice makes a zeroed temporary slice of n elements for a kernel, charged to the
// session's budget (released once the slice is garbage); c nil charges nothing. Like
// Alloc it fails on a negative, oversized or over-budget size.
func scratchSlice[T any](c *Call, n int) ([]T, error) {
	var zero T
	size := int64(unsafe.Sizeof(zero))
	if n < 0 || (n > 0 && int64(n) > (1<<62)/size) {
		return nil, fmt.Errorf("scratch of %d elements: %w", n, ErrTooLarge)
	}
	bytes := int64(n) * size
	if c == nil || c.sess == nil || bytes < minTracked {
		return make([]T, n), nil
	}
	if int64(n) > c.sess.maxElements {
		return nil, fmt.Errorf("scratch of %d elements: %w (limit %d)", n, ErrTooLarge, c.sess.maxElements)
	}
	b := c.sess.budget
	if err := b.charge(bytes, func() string { return fmt.Sprintf("scratch buffer of %d %T", n, zero) }); err != nil {
		return nil, err
	}
	s := make([]T, n)
	b.track((*byte)(unsafe.Pointer(unsafe.SliceData(s))), bytes)
	return s, nil
}

// float64s is v.AsFloat64s with the copy charged to the budget as scratch.
func (c *Call) float64s(v *Value) ([]float64, error) {
	out, err := scratchSlice[float64](c, v.Len())
	if err != nil {
		return nil, err
	}
	for i := range out {
		out[i] = elemFloat64(v, i)
	}
	return out, nil
}

// reserve charges n bytes to the budget until the kernel returns (callNode
// releases it): for memory the kernel holds through Go values it does not allocate
// itself, such as the values a Loop collects.
func (c *Call) reserve(n int64, what func() string) error {
	if c.sess == nil || n <= 0 {
		return nil
	}
	if err := c.sess.budget.charge(n, what); err != nil {
		return err
	}
	c.reserved += n
	return nil
}

// countIteration adds one Loop or Scan iteration to the run's total and fails once
// the total passes Options.MaxIterations; it also reports a cancelled context.
func (c *Call) countIteration() error {
	if err := c.Context().Err(); err != nil {
		return err
	}
	if c.sess == nil || c.env == nil || c.env.run == nil {
		return nil
	}
	if n := c.env.run.iterations.Add(1); n > c.sess.maxIterations {
		return fmt.Errorf("%w: more than %d Loop and Scan iterations in one run (raise it with Options.MaxIterations or refit run --max-iterations)", ErrIterationBudget, c.sess.maxIterations)
	}
	return nil
}

// runState is what the nodes of one Run share across subgraphs.
type runState struct {
	iterations atomic.Int64
}

// DefaultMaxMemory is the memory budget of a session whose Options.MaxMemory is 0:
// refit.DefaultMaxMemory, the one default every decoder of the module uses.
func DefaultMaxMemory() int64 { return refit.DefaultMaxMemory() }

// garbageSlack is how much garbage the heap may hold when a Run ends before the
// Run collects it. Go's collector starts a cycle when the heap has grown by GOGC
// percent (100 by default) of what was live after the last one; a session's packed
// weights and pooled blocks are long-lived and large, so that would let every Run's
// small garbage (an output copy, kernels' bookkeeping) pile up to the size of the
// weights and activations again, and the resident set grow with the number of runs
// up to twice the model's footprint. Collecting once the garbage passes garbageSlack
// bounds it instead: such a collection is cheap, as the large slices are free of
// pointers and are not scanned.
const garbageSlack = 16 << 20

// collecting is set while a Run's collection (collectGarbage) is under way, so that
// Runs ending together start one collection, not one each.
var collecting atomic.Bool

// collectGarbage runs a garbage collection when the heap holds more than
// garbageSlack bytes beyond what the last collection found live, unless the
// collector is off (GOGC=off).
func collectGarbage() {
	s := []metrics.Sample{
		{Name: "/gc/heap/live:bytes"},
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/gc/gogc:percent"},
	}
	metrics.Read(s)
	for _, v := range s {
		if v.Value.Kind() != metrics.KindUint64 {
			return
		}
	}
	live, objects, gogc := s[0].Value.Uint64(), s[1].Value.Uint64(), s[2].Value.Uint64()
	if gogc > 1<<31 || objects < live || objects-live <= garbageSlack {
		return // off (-1 read as uint64), or little garbage
	}
	if collecting.CompareAndSwap(false, true) {
		runtime.GC()
		collecting.Store(false)
	}
}
