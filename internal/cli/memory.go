package cli

import (
	"errors"
	"math"
	"strings"

	"github.com/refit-ml/refit"
)

// maxMemory is the --max-memory flag: bytes, 0 for the library default, -1 for no limit.
// inspect, convert (input and --weights), diff of checkpoints, prune, GGUF quantize and
// distill's data pass it on as DecodeOptions.MaxMemory and run as
// runtime.Options.MaxMemory; other reads use refit.DefaultMaxMemory.
type maxMemory int64

func (m *maxMemory) String() string {
	switch {
	case *m == 0:
		return ""
	case *m < 0:
		return "unlimited"
	}
	return refit.FormatSize(int64(*m))
}

func (m *maxMemory) Set(s string) error {
	if t := strings.ToLower(strings.TrimSpace(s)); t == "unlimited" || t == "none" {
		*m = -1
		return nil
	}
	n, err := refit.ParseSize(s)
	if err != nil {
		return err
	}
	if n == 0 {
		return errors.New("a budget of 0 bytes; say unlimited for no limit")
	}
	*m = maxMemory(n)
	return nil
}

func (m *maxMemory) Type() string { return "size" }

func maxMemoryUsage() string {
	return "memory budget for reading hostile inputs: 512MiB, 4GB, plain bytes or unlimited (default half the available memory, here " +
		refit.FormatSize(refit.DefaultMaxMemory()) + ")"
}

// runtimeBytes is the flag as runtime.Options.MaxMemory: 0 for the default, no limit
// as the largest budget.
func (m maxMemory) runtimeBytes() int64 {
	if m < 0 {
		return math.MaxInt64
	}
	return int64(m)
}

// budgetHint names the flag that raises the budget when err is a budget error.
func budgetHint(err error) string {
	if errors.Is(err, refit.ErrBudget) {
		return " (--max-memory)"
	}
	return ""
}
