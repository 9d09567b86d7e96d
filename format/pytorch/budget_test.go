package pytorch

import (
	"errors"
	"os"
	"testing"

	"github.com/refit-ml/refit"
)

// TestBudget checks that the pickle and every inflation of a deflated storage are charged
// to the call's budget.
func TestBudget(t *testing.T) {
	b, err := os.ReadFile("testdata/deflated.pt")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decodeBytes(b, &refit.DecodeOptions{MaxMemory: 64}); !errors.Is(err, refit.ErrBudget) {
		t.Errorf("Decode with a 64-byte budget = %v, want ErrBudget", err)
	}
	m, err := decodeBytes(b, &refit.DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, x := range m.Tensors {
		total += x.Size()
	}
	if total == 0 {
		t.Fatal("deflated.pt has no tensor bytes")
	}
	// Find the smallest budget that decodes, then check that reading every tensor needs more.
	lo, hi := int64(1), int64(1<<30)
	for lo < hi {
		mid := (lo + hi) / 2
		if _, err := decodeBytes(b, &refit.DecodeOptions{MaxMemory: mid}); err == nil {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	m, err = decodeBytes(b, &refit.DecodeOptions{MaxMemory: lo})
	if err != nil {
		t.Fatal(err)
	}
	var readErr error
	for _, x := range m.Tensors {
		if _, err := x.Bytes(); err != nil {
			readErr = err
			break
		}
	}
	if !errors.Is(readErr, refit.ErrBudget) {
		t.Errorf("reading deflated storages with no budget left = %v, want ErrBudget", readErr)
	}
}
