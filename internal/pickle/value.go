package pickle

import (
	"errors"
	"fmt"
	"math/big"
)

var (
	// ErrGlobal reports a global (module.name) that is not on the allowlist.
	ErrGlobal = errors.New("pickle: global not allowed")
	// ErrMalformed reports a pickle that is not well formed (bad opcode, stack underflow...).
	ErrMalformed = errors.New("pickle: malformed")
	// ErrLimit reports a pickle that exceeds a resource limit (depth, memo size).
	ErrLimit = errors.New("pickle: limit exceeded")
	// ErrUnsupported reports a valid opcode Refit does not implement (EXT*, out-of-band buffers).
	ErrUnsupported = errors.New("pickle: unsupported")
)

// GlobalError names a refused global.
type GlobalError struct{ Module, Name string }

func (e *GlobalError) Error() string {
	return fmt.Sprintf("pickle: global %q not allowed", e.Module+"."+e.Name)
}

// Is makes errors.Is(err, ErrGlobal) hold.
func (e *GlobalError) Is(target error) bool { return target == ErrGlobal }

// Tuple is a Python tuple.
type Tuple []any

// List is a Python list; a pointer, because pickles mutate lists after creating them.
type List struct{ Items []any }

// Set is a Python set or frozenset.
type Set struct {
	Items  []any
	Frozen bool
}

// Dict is an insertion-ordered Python dict (also used for collections.OrderedDict).
// Keys of type string, int64, bool, float64 and nil are deduplicated as Python would;
// other keys (tuples...) are kept in order without deduplication.
type Dict struct {
	keys  []any
	vals  []any
	index map[any]int
	// State is what a BUILD opcode set on the dict (e.g. an OrderedDict's _metadata), or nil.
	State any
}

// NewDict returns an empty dict.
func NewDict() *Dict { return &Dict{} }

func hashable(k any) bool {
	switch k.(type) {
	case nil, string, int64, bool, float64:
		return true
	}
	return false
}

// Set stores v under k.
func (d *Dict) Set(k, v any) {
	if hashable(k) {
		if d.index == nil {
			d.index = make(map[any]int)
		}
		if i, ok := d.index[k]; ok {
			d.vals[i] = v
			return
		}
		d.index[k] = len(d.keys)
	}
	d.keys = append(d.keys, k)
	d.vals = append(d.vals, v)
}

// Get returns the value stored under a hashable key.
func (d *Dict) Get(k any) (any, bool) {
	if !hashable(k) || d.index == nil {
		return nil, false
	}
	i, ok := d.index[k]
	if !ok {
		return nil, false
	}
	return d.vals[i], true
}

// Len is the number of entries.
func (d *Dict) Len() int { return len(d.keys) }

// Key returns the i-th key in insertion order.
func (d *Dict) Key(i int) any { return d.keys[i] }

// Value returns the i-th value in insertion order.
func (d *Dict) Value(i int) any { return d.vals[i] }

// Class is a global that inert mode let through without resolving it.
type Class struct{ Module, Name string }

// String returns "module.name".
func (c *Class) String() string { return c.Module + "." + c.Name }

// Object is an inert record of an instance of an unknown class: what the pickle said to
// construct, never constructed.
type Object struct {
	Module, Name string
	Args         []any   // arguments of REDUCE / NEWOBJ / INST / OBJ
	Kwargs       *Dict   // NEWOBJ_EX keyword arguments, or nil
	State        any     // argument of BUILD, or nil
	Items        []any   // APPEND / APPENDS on the object (list subclasses)
	DictItems    *Dict   // SETITEM / SETITEMS on the object (dict subclasses), or nil
	Callee       *Object // when an Object itself was called, the object called
}

// Callable is an allowlisted global that REDUCE, NEWOBJ, INST and OBJ may call.
type Callable interface {
	Call(args []any) (any, error)
}

// Func adapts a Go function to Callable.
type Func func(args []any) (any, error)

// Call implements Callable.
func (f Func) Call(args []any) (any, error) { return f(args) }

// Builder is an allowlisted value that accepts BUILD (setstate).
type Builder interface {
	SetState(state any) error
}

// PersistentLoader resolves a persistent id (BINPERSID / PERSID) to a value.
type PersistentLoader func(pid any) (any, error)

// Int returns v as an int64 if it is an integer (bool excluded) that fits.
func Int(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case *big.Int:
		if x.IsInt64() {
			return x.Int64(), true
		}
	}
	return 0, false
}
