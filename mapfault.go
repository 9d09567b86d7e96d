package refit

import (
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"unsafe"
)

// A file mapped by OpenMapped and truncated by another process while it is read gives
// the reader a SIGBUS (or SIGSEGV) at the first page past the new end, which kills the
// process unless the goroutine asked for faults as panics (debug.SetPanicOnFault).
// Readers of mapped bytes (the runtime's kernels on weights left in the file, the LLM
// on GGUF weights used in place, conversions) turn such a panic into an error with
// MappingFault; GuardMapped wraps a call in both.

// MappingFault returns an error wrapping ErrFormat and io.ErrUnexpectedEOF when r, a
// value recovered from a panic (possibly wrapped in an error, as a worker's panic
// carried to its caller is), is a memory fault at an address inside the mapping of an
// open MappedFile: the file changed (was truncated) while it was read. It returns nil
// for any other value, which the caller should panic with again.
func MappingFault(r any) error {
	err, ok := r.(error)
	if !ok {
		return nil
	}
	var fault interface{ Addr() uintptr }
	if !errors.As(err, &fault) {
		return nil
	}
	addr := fault.Addr()
	liveMappings.Lock()
	defer liveMappings.Unlock()
	for _, lm := range liveMappings.maps {
		base := uintptr(unsafe.Pointer(&lm.m[0]))
		if addr >= base && addr-base < uintptr(len(lm.m)) {
			return &FormatError{
				Format: "refit",
				Offset: int64(addr - base),
				Msg:    fmt.Sprintf("%s changed while reading (truncated or rewritten by another process?)", lm.name),
				Err:    io.ErrUnexpectedEOF,
			}
		}
	}
	return nil
}

// GuardMapped calls fn with memory faults turned into panics on this goroutine, and
// returns MappingFault's error for a fault in a file's mapping instead of crashing.
// Other panics pass through. Goroutines that fn starts need their own guard (or must
// carry their panics back to fn's goroutine, as internal/parallel does).
func GuardMapped(fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if ferr := MappingFault(r); ferr != nil {
				err = ferr
				return
			}
			panic(r)
		}
	}()
	return fn()
}
