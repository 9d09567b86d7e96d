package refit

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// ErrBudget reports input whose decoding would need more memory than the call's budget
// (DecodeOptions.MaxMemory). It is not ErrFormat: the input may be valid, only too large
// for the budget, which can be raised.
var ErrBudget = errors.New("refit: exceeds memory budget")

// BudgetError is the error a Budget returns when a charge does not fit.
// errors.Is(err, ErrBudget) holds for every BudgetError.
type BudgetError struct {
	What  string // what was being read, plural: "pickled objects", "metadata arrays"
	Need  int64  // bytes the budget would have reached
	Limit int64  // the budget
}

func (e *BudgetError) Error() string {
	return fmt.Sprintf("%s exceed the memory budget of %s", e.What, FormatSize(e.Limit))
}

func (e *BudgetError) Unwrap() error { return ErrBudget }

// Budget counts the memory one call spends on structures whose size the input chooses:
// pickled objects and containers, metadata arrays, decompressed bytes. Decoders charge it
// before or while they allocate, so a hostile file is refused with a BudgetError instead of
// exhausting memory. It bounds what the input can make Refit allocate, not the process's
// total use. A Budget is safe for concurrent use; a nil *Budget has no limit.
type Budget struct {
	limit int64
	used  atomic.Int64
}

// NewBudget returns a budget of limit bytes; limit <= 0 means no limit.
func NewBudget(limit int64) *Budget {
	if limit <= 0 {
		limit = math.MaxInt64
	}
	return &Budget{limit: limit}
}

// Limit is the budget in bytes (math.MaxInt64 when unlimited).
func (b *Budget) Limit() int64 {
	if b == nil {
		return math.MaxInt64
	}
	return b.limit
}

// Used is the number of bytes currently charged.
func (b *Budget) Used() int64 {
	if b == nil {
		return 0
	}
	return b.used.Load()
}

// Charge adds n bytes to the budget, or returns a *BudgetError naming what and leaves
// the budget unchanged when they do not fit. Negative n is a programmer error.
func (b *Budget) Charge(n int64, what string) error {
	if b == nil || n == 0 {
		return nil
	}
	if n < 0 {
		panic("refit: negative Budget.Charge")
	}
	for {
		old := b.used.Load()
		if n > b.limit-old {
			need := int64(math.MaxInt64)
			if old <= math.MaxInt64-n {
				need = old + n
			}
			return &BudgetError{What: what, Need: need, Limit: b.limit}
		}
		if b.used.CompareAndSwap(old, old+n) {
			return nil
		}
	}
}

// Release returns n bytes charged earlier, when the memory they stood for is freed or
// handed to the caller.
func (b *Budget) Release(n int64) {
	if b == nil {
		return
	}
	if b.used.Add(-n) < 0 {
		panic("refit: Budget.Release of more than was charged")
	}
}

// NewBudget returns a fresh budget for one call with these options: MaxMemory bytes, or
// DefaultMaxMemory when MaxMemory is zero, or no limit when it is negative. Every call
// (Open, Decode) makes its own, so budgets are never shared between calls.
func (o *DecodeOptions) NewBudget() *Budget {
	if o == nil || o.MaxMemory == 0 {
		return NewBudget(DefaultMaxMemory())
	}
	return NewBudget(o.MaxMemory)
}

// DefaultMaxMemory is the default budget of every decoder and of the runtime: the
// smallest of half the physical RAM, half the cgroup memory limit, a quarter of the
// address-space limit (ulimit -v) and half the room left under the address-space and data
// limits, or 4 GiB where none of them can be read. The budget counts live bytes; Go's heap
// grows to about twice that between collections, hence the halves.
func DefaultMaxMemory() int64 { return defaultMaxMemory() }

var defaultMaxMemory = sync.OnceValue(func() int64 {
	if n := memoryBudget(); n > 0 {
		return n
	}
	return 4 << 30
})

var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"KIB", 1 << 10}, {"MIB", 1 << 20}, {"GIB", 1 << 30}, {"TIB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"T", 1 << 40},
	{"B", 1},
}

// ParseSize parses a byte count: plain bytes ("1048576"), or a number with a decimal
// (KB, MB, GB, TB) or binary (KiB, MiB, GiB, TiB; K, M, G, T) unit, case-insensitive,
// e.g. "512MiB", "4GB", "1.5G".
func ParseSize(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range sizeUnits {
		if rest, ok := strings.CutSuffix(t, u.suffix); ok {
			t, mult = strings.TrimSpace(rest), u.mult
			break
		}
	}
	if n, err := strconv.ParseInt(t, 10, 64); err == nil {
		if n < 0 || n > math.MaxInt64/mult {
			return 0, fmt.Errorf("refit: size %q out of range", s)
		}
		return n * mult, nil
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 || math.IsNaN(f) || f*float64(mult) >= math.MaxInt64 {
		return 0, fmt.Errorf("refit: bad size %q (want bytes or a number with a unit, e.g. 512MiB, 4GB)", s)
	}
	return int64(f * float64(mult)), nil
}

// FormatSize prints a byte count with a binary unit, e.g. "512 MiB", "1.5 GiB", "100 bytes".
func FormatSize(n int64) string {
	if n == math.MaxInt64 {
		return "unlimited"
	}
	units := []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	if n < 1<<10 && n > -1<<10 {
		return fmt.Sprintf("%d bytes", n)
	}
	f := float64(n)
	for _, u := range units {
		f /= 1024
		if f < 1024 || u == units[len(units)-1] {
			return strconv.FormatFloat(math.Round(f*10)/10, 'f', -1, 64) + " " + u
		}
	}
	return strconv.FormatInt(n, 10)
}
