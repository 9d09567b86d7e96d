package graph

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/refit-ml/refit"
)

// UnsupportedError lists what a converter cannot translate (operators, layers) with
// how often each occurs. It wraps refit.ErrUnsupported.
type UnsupportedError struct {
	Converter string         // who failed, the message prefix: "tf2onnx", "keras2onnx", ...
	Kind      string         // what the names are: "operators", "layers", "tflite operators"
	Counts    map[string]int // name -> occurrences
	Note      string         // why, or what to do, appended to the message when set
}

func (e *UnsupportedError) Error() string {
	names := slices.Sorted(maps.Keys(e.Counts))
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s (%d)", n, e.Counts[n])
	}
	msg := fmt.Sprintf("%s: unsupported %s: %s", e.Converter, e.Kind, strings.Join(parts, ", "))
	if e.Note != "" {
		msg += "; " + e.Note
	}
	return msg
}

// Unwrap makes errors.Is(err, refit.ErrUnsupported) hold.
func (e *UnsupportedError) Unwrap() error { return refit.ErrUnsupported }
