package refit

import (
	"errors"
	"math"
	"testing"
)

func TestBudgetCharge(t *testing.T) {
	b := NewBudget(100)
	if err := b.Charge(60, "a"); err != nil {
		t.Fatalf("Charge(60) = %v, want nil", err)
	}
	err := b.Charge(41, "pickle objects")
	var be *BudgetError
	if !errors.Is(err, ErrBudget) || !errors.As(err, &be) || be.Need != 101 || be.Limit != 100 {
		t.Fatalf("Charge(41) = %v, want a BudgetError needing 101 of 100", err)
	}
	if b.Used() != 60 {
		t.Errorf("Used after a refused charge = %d, want 60", b.Used())
	}
	b.Release(60)
	if err := b.Charge(100, "a"); err != nil {
		t.Errorf("Charge(100) after Release = %v, want nil", err)
	}
	if err := b.Charge(math.MaxInt64, "huge"); !errors.Is(err, ErrBudget) {
		t.Errorf("Charge(MaxInt64) = %v, want ErrBudget", err)
	}
	var nilBudget *Budget
	if err := nilBudget.Charge(math.MaxInt64, "x"); err != nil {
		t.Errorf("nil budget Charge = %v, want nil", err)
	}
}

func TestDecodeOptionsNewBudget(t *testing.T) {
	if got := (&DecodeOptions{}).NewBudget().Limit(); got != DefaultMaxMemory() || got <= 0 {
		t.Errorf("zero MaxMemory gives a budget of %d, want DefaultMaxMemory %d", got, DefaultMaxMemory())
	}
	if got := (&DecodeOptions{MaxMemory: 1 << 20}).NewBudget().Limit(); got != 1<<20 {
		t.Errorf("MaxMemory 1 MiB gives %d", got)
	}
	if got := (&DecodeOptions{MaxMemory: -1}).NewBudget().Limit(); got != math.MaxInt64 {
		t.Errorf("negative MaxMemory gives %d, want no limit", got)
	}
	a, b := (&DecodeOptions{}).NewBudget(), (&DecodeOptions{}).NewBudget()
	if a == b {
		t.Error("two calls share one budget")
	}
}

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"1048576", 1 << 20}, {"512MiB", 512 << 20}, {"4GB", 4e9}, {"4gb", 4e9}, {"2G", 2 << 30},
		{"1.5GiB", 3 << 29}, {"10 KiB", 10 << 10}, {"7B", 7}, {"0", 0},
	} {
		if got, err := ParseSize(tc.in); err != nil || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v, want %d", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "MiB", "-1", "1XB", "99999999999TiB", "NaN"} {
		if got, err := ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", bad, got)
		}
	}
}

func TestFormatSize(t *testing.T) {
	for n, want := range map[int64]string{100: "100 bytes", 512 << 20: "512 MiB", 3 << 29: "1.5 GiB", math.MaxInt64: "unlimited"} {
		if got := FormatSize(n); got != want {
			t.Errorf("FormatSize(%d) = %q, want %q", n, got, want)
		}
	}
}
