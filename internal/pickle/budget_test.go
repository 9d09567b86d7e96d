package pickle

import (
	"bytes"
	"encoding/binary"
	"errors"
	"runtime"
	"testing"

	"github.com/refit-ml/refit"
)

// repeated returns a protocol-2 pickle: an empty list, body n times, STOP.
func repeated(body string, n int) []byte {
	b := append([]byte("\x80\x02]"), bytes.Repeat([]byte(body), n)...)
	return append(b, '.')
}

func TestBudget(t *testing.T) {
	const budget = 1 << 20
	tests := []struct {
		name   string
		pickle []byte
		refuse bool
	}{
		// Each case is a few bytes per element; 100k elements are far beyond a 1 MiB budget
		// in Go memory, and 1k elements are well within it.
		{"empty dicts", repeated("}a", 100000), true},
		{"empty lists", repeated("]a", 100000), true},
		{"empty tuples", repeated(")a", 100000), true},
		{"references to one list", repeated("2a", 100000), true}, // DUP, APPEND: the list grows
		{"memo gets", append([]byte("\x80\x02]q\x00"), repeated("h\x00a", 100000)[3:]...), true},
		{"dict items", append([]byte("\x80\x02}"), bytes.Repeat([]byte("NNs"), 100000)...), false}, // one key: the dict stays small
		{"few dicts", repeated("}a", 1000), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.pickle
			if p[len(p)-1] != '.' {
				p = append(p, '.')
			}
			b := refit.NewBudget(budget)
			_, err := Unpickle(p, &Options{Budget: b})
			var be *refit.BudgetError
			if tt.refuse {
				if !errors.Is(err, refit.ErrBudget) || !errors.As(err, &be) || be.Limit != budget {
					t.Fatalf("Unpickle(%s) = %v, want a BudgetError of %d", tt.name, err, budget)
				}
				if b.Used() > budget {
					t.Errorf("budget used %d, more than its limit %d", b.Used(), budget)
				}
				return
			}
			if err != nil {
				t.Fatalf("Unpickle(%s) = %v, want nil", tt.name, err)
			}
			if b.Used() == 0 {
				t.Errorf("Unpickle(%s) charged nothing", tt.name)
			}
		})
	}
}

// TestBudgetCoversLiveMemory checks that the charge is at least the Go memory the objects
// hold, per element, for the container shapes a hostile pickle repeats.
func TestBudgetCoversLiveMemory(t *testing.T) {
	for _, body := range []string{"}a", "]a", ")a", "}\x94a", "(}}}e", "K\x01K\x02\x86a"} {
		const n = 20000
		b := refit.NewBudget(0)
		if _, err := Unpickle(repeated(body, n), &Options{Budget: b}); err != nil {
			t.Fatalf("Unpickle(%q x %d) = %v", body, n, err)
		}
		allocs := testingAllocBytes(func() { _, _ = Unpickle(repeated(body, n), &Options{}) })
		// allocs counts every byte allocated, garbage included; the live part is smaller.
		// Requiring the charge to reach half of it keeps the estimate honest.
		if b.Used() < allocs/2 {
			t.Errorf("%q x %d: charged %d bytes, allocated %d", body, n, b.Used(), allocs)
		}
	}
}

// testingAllocBytes is the number of heap bytes f allocates.
func testingAllocBytes(f func()) int64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return int64(after.TotalAlloc - before.TotalAlloc)
}

// TestBudgetBeforeCopy checks that a large BINBYTES8 payload is refused before it is copied.
func TestBudgetBeforeCopy(t *testing.T) {
	const n = 8 << 20
	p := append([]byte("\x80\x04\x8e"), binary.LittleEndian.AppendUint64(nil, n)...)
	p = append(p, make([]byte, n)...)
	p = append(p, '.')
	var err error
	allocated := testingAllocBytes(func() { _, err = Unpickle(p, &Options{Budget: refit.NewBudget(1 << 20)}) })
	if !errors.Is(err, refit.ErrBudget) {
		t.Fatalf("Unpickle of %d bytes with a 1 MiB budget = %v, want ErrBudget", n, err)
	}
	if allocated > n/2 {
		t.Errorf("refusing the payload allocated %d bytes", allocated)
	}
	b := refit.NewBudget(0)
	if _, err := Unpickle(p, &Options{Budget: b}); err != nil {
		t.Fatal(err)
	}
	if b.Used() < 2*n || b.Used() > 2*n+1024 { // the read window and the copy
		t.Errorf("a %d-byte payload charged %d bytes", n, b.Used())
	}
}
