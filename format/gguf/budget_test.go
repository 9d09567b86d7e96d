package gguf

import (
	"bytes"
	"errors"
	"runtime"
	"testing"

	"github.com/refit-ml/refit"
)

// arrayOfArrays is a GGUF file with one KV: an array of n empty UINT8 arrays.
func arrayOfArrays(n int) []byte {
	empty := cat(u32(uint32(TypeUint8)), u64(0))
	return header(3, 0, 1, str("x"), u32(uint32(TypeArray)), u32(uint32(TypeArray)), u64(uint64(n)), bytes.Repeat(empty, n))
}

func TestParseBudget(t *testing.T) {
	const budget = 1 << 20
	tests := []struct {
		name   string
		file   []byte
		refuse bool
	}{
		{"empty arrays", arrayOfArrays(100000), true},
		{"strings", header(3, 0, 1, str("x"), u32(uint32(TypeArray)), u32(uint32(TypeString)), u64(200000), bytes.Repeat(str(""), 200000)), true},
		{"uint64 array", header(3, 0, 1, str("x"), u32(uint32(TypeArray)), u32(uint32(TypeUint64)), u64(200000), make([]byte, 8*200000)), true},
		{"long key", header(3, 0, 1, str(string(make([]byte, 2<<20))), u32(uint32(TypeUint8)), []byte{1}), true},
		{"few arrays", arrayOfArrays(1000), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := refit.NewBudget(budget)
			_, err := ParseBudget(bytes.NewReader(tt.file), int64(len(tt.file)), b)
			if !tt.refuse {
				if err != nil || b.Used() == 0 {
					t.Fatalf("ParseBudget(%s) = %v with %d bytes charged, want nil and a charge", tt.name, err, b.Used())
				}
				return
			}
			var be *refit.BudgetError
			if !errors.Is(err, refit.ErrBudget) || !errors.As(err, &be) || be.Limit != budget {
				t.Fatalf("ParseBudget(%s) = %v, want a BudgetError of %d", tt.name, err, budget)
			}
			if errors.Is(err, refit.ErrFormat) {
				t.Errorf("ParseBudget(%s) = %v, a format error; the file is well formed", tt.name, err)
			}
		})
	}
	// Decode takes the budget from DecodeOptions.MaxMemory.
	f := arrayOfArrays(100000)
	if _, err := Decode(bytes.NewReader(f), int64(len(f)), &refit.DecodeOptions{MaxMemory: budget}); !errors.Is(err, refit.ErrBudget) {
		t.Errorf("Decode with MaxMemory %d = %v, want ErrBudget", budget, err)
	}
	if _, err := Decode(bytes.NewReader(f), int64(len(f)), nil); err != nil {
		t.Errorf("Decode with the default budget = %v", err)
	}
}

// TestParseBudgetCoversAllocations checks that what Parse allocates for many empty arrays
// stays within a small multiple of the charge (each once took a 4 KiB buffer).
func TestParseBudgetCoversAllocations(t *testing.T) {
	const n = 20000
	f := arrayOfArrays(n)
	b := refit.NewBudget(0)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := ParseBudget(bytes.NewReader(f), int64(len(f)), b)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	allocated := int64(after.TotalAlloc-before.TotalAlloc) - 64<<10 // the bufio.Reader
	if allocated > 2*b.Used() {
		t.Errorf("Parse of %d empty arrays allocated %d bytes, charged %d", n, allocated, b.Used())
	}
}
