// Package pickle interprets Python pickles (protocols 0 to 5) without executing anything,
// and writes the small subset of protocol 2 that torch.save produces.
//
// # What it returns
//
// [Unpickle] runs the pickle virtual machine and returns the value left by STOP.
// Python values map onto Go values:
//
//	None -> nil               bool -> bool           int -> int64 (or *big.Int)
//	float -> float64          str -> string          bytes, bytearray -> []byte
//	tuple -> Tuple            list -> *List          dict -> *Dict (ordered)
//	set, frozenset -> *Set    class -> whatever the allowlist maps it to, or *Class
//	instance of an unknown class (inert mode only) -> *Object
//
// [OpReader] decodes opcodes and their arguments one at a time, like pickletools.genops;
// the unpickler and package scan's symbolic walker both read through it, so argument
// parsing and its length checks exist once.
//
// # Security
//
// Nothing found in a pickle is ever imported or called. GLOBAL and STACK_GLOBAL look the
// name up in [Options.Globals], an allowlist of Go values supplied by the caller; REDUCE,
// NEWOBJ, INST and OBJ call only values implementing [Callable] from that list. Any other
// global is refused with an error naming it (errors.Is(err, [ErrGlobal])), unless
// [Options.Inert] is set: then the class becomes a *Class and calling it builds an inert
// *Object record (module, name, arguments, state) — data, not code.
//
// Extension registry opcodes (EXT1/2/4) and out-of-band buffers (NEXT_BUFFER,
// READONLY_BUFFER) are refused.
//
// # Memory
//
// Every length read from the input is checked against the bytes remaining before anything
// is allocated, so a pickle of n bytes allocates O(n) memory. The number of open MARKs
// (nesting of list/tuple/dict construction) is capped by [Options.MaxDepth] and the memo by
// [Options.MaxMemo]. A pickle can still build millions of small objects from a few bytes
// each ("}a" appends an empty dict in two bytes), so [Options.Budget] is charged an
// estimate of the Go memory of every object, container element, memo entry and stack slot
// as it is created, rounded up so the charge exceeds what the heap holds; past the budget
// the pickle is refused with an error wrapping refit.ErrBudget. Pickles may contain reference cycles (a list holding itself); callers
// walking the result must track what they visit.
//
// Spec: Lib/pickletools.py in CPython documents every opcode.
package pickle
