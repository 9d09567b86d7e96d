package scan

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/refit-ml/refit/internal/pickle"
)

// Limits of the symbolic interpreter. Exceeding one stops the walk with an error,
// which the report shows; nothing hides behind a limit silently.
const (
	maxLine       = 1 << 16 // longest text-opcode argument (GLOBAL, INT, STRING...)
	maxTracked    = 1 << 16 // longest string kept as a value; longer ones become opaque
	maxStack      = 1 << 17 // values on the stack
	maxMemo       = 1 << 21 // memo entries
	maxTuple      = 8       // tuples with more items are opaque (persistent ids have 5-6)
	maxListItems  = 1 << 20 // items kept for a list (legacy torch storage keys)
	maxBigIntByte = 64      // LONG1/LONG4 payloads converted to a decimal value
)

type kind uint8

const (
	kOther      kind = iota // anything the scan does not need to know
	kStr                    // a constant str
	kBytes                  // a constant bytes
	kInt                    // an integer; s holds its decimal form
	kGlobal                 // a class or function from GLOBAL/STACK_GLOBAL/EXT
	kTuple                  // a short tuple; x.items
	kList                   // a list; x.list
	kCall                   // the result of calling something
	kPersistent             // the result of a persistent load
)

// value is what the walker knows about one stack or memo slot.
type value struct {
	kind kind
	s    string
	x    *extra
}

type extra struct {
	items  []value  // kTuple
	list   *[]value // kList
	module string   // kGlobal
	name   string   // kGlobal
	level  Level    // kGlobal
}

var errNoPickle = errors.New("not a pickle")

// source reads opcodes and arguments, tracking the absolute offset. It is the
// pickle.Source of the walker's OpReader.
type source struct {
	r       *bufio.Reader
	off     int64
	seeker  io.ReadSeeker // set when skip may seek instead of reading
	scratch []byte
}

func (s *source) fixed(n int) ([]byte, error) {
	var buf [8]byte
	if _, err := io.ReadFull(s.r, buf[:n]); err != nil {
		return nil, unexpected(err)
	}
	s.off += int64(n)
	return buf[:n], nil
}

func (s *source) Offset() int64 { return s.off }

// Remaining is unknown: the source is a stream.
func (s *source) Remaining() int64 { return -1 }

func (s *source) ReadByte() (byte, error) {
	c, err := s.r.ReadByte()
	if err != nil {
		return 0, err
	}
	s.off++
	return c, nil
}

// Read is only asked for at most maxTracked bytes: longer payloads are discarded.
func (s *source) Read(n int64) ([]byte, error) {
	if n > maxTracked {
		return nil, fmt.Errorf("read of %d bytes: %w", n, io.ErrUnexpectedEOF)
	}
	if int64(cap(s.scratch)) < n {
		s.scratch = make([]byte, n)
	}
	buf := s.scratch[:n]
	k, err := io.ReadFull(s.r, buf)
	s.off += int64(k)
	if err != nil {
		return nil, unexpected(err)
	}
	return buf, nil
}

// Discard skips a payload without allocating.
func (s *source) Discard(n uint64) error {
	k, err := io.CopyN(io.Discard, s.r, int64(n))
	s.off += k
	if err != nil {
		return unexpected(err)
	}
	return nil
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// walker symbolically interprets one pickle: it keeps constant strings, globals and short
// tuples on a stack and in the memo, executes nothing, and records a Finding for every global.
type walker struct {
	src      *source
	ops      *pickle.OpReader
	path     string
	stack    []value
	marks    []int
	memo     map[uint64]value
	findings []Finding
	// storages maps a torch storage key to its storage type ("torch.FloatStorage"),
	// from persistent ids ('storage', type, key, ...).
	storages map[string]string
}

func newWalker(src *source, path string) *walker {
	ops := pickle.NewOpReader(src)
	ops.MaxLine, ops.MaxData = maxLine, maxTracked
	return &walker{src: src, ops: ops, path: path, memo: map[uint64]value{}, storages: map[string]string{}}
}

type pickleError struct {
	offset int64
	op     string
	err    error
}

func (e *pickleError) Error() string {
	if e.op == "" {
		return fmt.Sprintf("pickle: at byte %d: %v", e.offset, e.err)
	}
	return fmt.Sprintf("pickle: %s at byte %d: %v", e.op, e.offset, e.err)
}
func (e *pickleError) Unwrap() error { return e.err }

func (w *walker) push(v value) error {
	if len(w.stack) >= maxStack {
		return fmt.Errorf("stack deeper than %d", maxStack)
	}
	w.stack = append(w.stack, v)
	return nil
}

var errUnderflow = errors.New("stack underflow")

// avail is how many values sit above the innermost MARK: like Python's unpickler, ops
// after a MARK cannot reach below it.
func (w *walker) avail() int {
	if len(w.marks) == 0 {
		return len(w.stack)
	}
	return len(w.stack) - w.marks[len(w.marks)-1]
}

func (w *walker) pop() (value, error) {
	if w.avail() <= 0 {
		return value{}, errUnderflow
	}
	v := w.stack[len(w.stack)-1]
	w.stack = w.stack[:len(w.stack)-1]
	return v, nil
}

func (w *walker) top() (value, error) {
	if w.avail() <= 0 {
		return value{}, errUnderflow
	}
	return w.stack[len(w.stack)-1], nil
}

func (w *walker) popMark() ([]value, error) {
	if len(w.marks) == 0 {
		return nil, errors.New("no MARK on the stack")
	}
	m := w.marks[len(w.marks)-1]
	w.marks = w.marks[:len(w.marks)-1]
	items := w.stack[m:]
	w.stack = w.stack[:m]
	return items, nil
}

func (w *walker) setMemo(idx uint64) error {
	v, err := w.top()
	if err != nil {
		return err
	}
	if _, ok := w.memo[idx]; !ok && len(w.memo) >= maxMemo {
		return fmt.Errorf("memo larger than %d entries", maxMemo)
	}
	w.memo[idx] = v
	return nil
}

func (w *walker) getMemo(idx uint64) error {
	v, ok := w.memo[idx]
	if !ok {
		return fmt.Errorf("memo entry %d not found", idx)
	}
	return w.push(v)
}

// global records a reference to module.name and returns it as a value.
func (w *walker) global(module, name, op string, off int64) value {
	lvl, note := classify(module, name)
	w.findings = append(w.findings, Finding{Path: w.path, Module: module, Name: name, Level: lvl,
		Offset: off, Opcode: op, Note: note})
	return value{kind: kGlobal, x: &extra{module: module, name: name, level: lvl}}
}

// call records calling fn: a dangerous global is reported again at the call, and calling
// anything that is not a global (say, what getattr returned) is dangerous.
func (w *walker) call(fn value, op string, off int64) value {
	switch {
	case fn.kind == kGlobal && fn.x.level == Dangerous:
		w.findings = append(w.findings, Finding{Path: w.path, Module: fn.x.module, Name: fn.x.name,
			Level: Dangerous, Offset: off, Opcode: op, Note: "called"})
	case fn.kind != kGlobal:
		w.findings = append(w.findings, Finding{Path: w.path, Module: "?", Name: "(" + describe(fn) + ")",
			Level: Dangerous, Offset: off, Opcode: op,
			Note: "calls a value that is not a global, e.g. what getattr returned"})
	}
	return value{kind: kCall}
}

func describe(v value) string {
	switch v.kind {
	case kStr:
		return "str"
	case kBytes:
		return "bytes"
	case kInt:
		return "int"
	case kGlobal:
		return "global"
	case kTuple:
		return "tuple"
	case kList:
		return "list"
	case kCall:
		return "computed value"
	case kPersistent:
		return "persistent object"
	}
	return "non-constant value"
}

func str(s string, ok bool) value {
	if !ok {
		return value{}
	}
	return value{kind: kStr, s: s}
}

// walk interprets one pickle up to and including STOP and returns the value it would
// produce. It returns io.EOF when the source is empty before the first opcode.
func (w *walker) walk() (value, error) {
	first := true
	for {
		op, err := w.ops.Next()
		if err != nil {
			if w.src.off == op.Offset { // no opcode byte
				if first && err == io.EOF {
					return value{}, io.EOF
				}
				return value{}, &pickleError{op.Offset, "", unexpected(err)}
			}
			return value{}, &pickleError{op.Offset, opName(op.Code), err}
		}
		first = false
		v, stop, err := w.step(op)
		if err != nil {
			name := opName(op.Code)
			if errors.Is(err, errNoPickle) {
				name = ""
			}
			return value{}, &pickleError{op.Offset, name, err}
		}
		if stop {
			return v, nil
		}
	}
}

// step executes one opcode symbolically.
func (w *walker) step(o pickle.Op) (ret value, stop bool, err error) {
	op, off := o.Code, o.Offset
	pushErr := func(v value) (value, bool, error) { return value{}, false, w.push(v) }
	switch op {
	case '(': // MARK
		w.marks = append(w.marks, len(w.stack))
		if len(w.marks) > maxStack {
			return value{}, false, fmt.Errorf("more than %d marks", maxStack)
		}
	case '.': // STOP
		v, err := w.pop()
		return v, err == nil, err
	case '0': // POP: an empty stack pops the mark instead
		if w.avail() == 0 {
			_, err = w.popMark()
		} else {
			_, err = w.pop()
		}
	case '1': // POP_MARK
		_, err = w.popMark()
	case '2': // DUP
		var v value
		if v, err = w.top(); err == nil {
			err = w.push(v)
		}
	case 'F': // FLOAT
		return pushErr(value{})
	case 'I', 'L': // INT, LONG
		return pushErr(value{kind: kInt, s: strings.TrimSuffix(o.Line, "L")})
	case 'J': // BININT
		return pushErr(value{kind: kInt, s: strconv.FormatInt(o.Int, 10)})
	case 'K', 'M': // BININT1, BININT2
		return pushErr(value{kind: kInt, s: strconv.FormatUint(o.Uint, 10)})
	case 0x8a, 0x8b: // LONG1, LONG4
		if o.Skipped || len(o.Data) > maxBigIntByte {
			return pushErr(value{kind: kInt})
		}
		return pushErr(value{kind: kInt, s: fmt.Sprint(pickle.DecodeLong(o.Data))})
	case 'N', 0x88, 0x89, 'G', '}', 0x8f, 0x97: // NONE, TRUE, FALSE, BINFLOAT, empty dict and set, NEXT_BUFFER
		return pushErr(value{})
	case ')':
		return pushErr(value{kind: kTuple, x: &extra{}})
	case ']':
		return pushErr(value{kind: kList, x: &extra{list: new([]value)}})
	case 0x98: // READONLY_BUFFER
		_, err = w.top()
	case 'P': // PERSID
		return pushErr(value{kind: kPersistent})
	case 'Q': // BINPERSID
		pid, err := w.pop()
		if err != nil {
			return value{}, false, err
		}
		w.recordStorage(pid)
		if cls, ok := w.moduleClass(pid, off); ok {
			return pushErr(cls)
		}
		return pushErr(value{kind: kPersistent})
	case 'R': // REDUCE
		if _, err := w.pop(); err != nil {
			return value{}, false, err
		}
		fn, err := w.pop()
		if err != nil {
			return value{}, false, err
		}
		return pushErr(w.call(fn, "REDUCE", off))
	case 0x81, 0x92: // NEWOBJ, NEWOBJ_EX
		n := 1 // arguments above the class
		if op == 0x92 {
			n = 2
		}
		if w.avail() < n+1 {
			return value{}, false, errUnderflow
		}
		cls := w.stack[len(w.stack)-1-n]
		w.stack = w.stack[:len(w.stack)-1-n]
		return pushErr(w.call(cls, opName(op), off))
	case 'o': // OBJ
		items, err := w.popMark()
		if err != nil {
			return value{}, false, err
		}
		if len(items) == 0 {
			return value{}, false, errUnderflow
		}
		return pushErr(w.call(items[0], "OBJ", off))
	case 'b': // BUILD
		if _, err := w.pop(); err != nil {
			return value{}, false, err
		}
		inst, err := w.top()
		if err != nil {
			return value{}, false, err
		}
		if inst.kind == kGlobal {
			w.findings = append(w.findings, Finding{Path: w.path, Module: inst.x.module, Name: inst.x.name,
				Level: Dangerous, Offset: off, Opcode: "BUILD",
				Note: "BUILD on a global sets attributes of a module-level object"})
		}
	case 'S': // STRING: a quoted Python bytes literal, decoded to str
		s, err := pickle.UnquoteString(o.Line)
		// Python stops at a trailing backslash; the scanner reads on with the backslash
		// kept, so that what follows is still seen. Other bad escapes end the scan.
		if esc := (*pickle.EscapeError)(nil); errors.As(err, &esc) && esc.Trailing() {
			err = nil
		}
		if err != nil {
			return value{}, false, err
		}
		return pushErr(str(s, len(s) <= maxTracked))
	case 'V': // UNICODE: raw-unicode-escape
		// Python stops at a bad \u escape; the scanner reads on with it kept as written.
		s, _ := pickle.DecodeRawUnicode(o.Line)
		return pushErr(str(s, true))
	case 'B', 'C', 0x8e, 0x96: // bytes
		if o.Skipped {
			return pushErr(value{})
		}
		return pushErr(value{kind: kBytes, s: string(o.Data)})
	case 'T', 'U', 'X', 0x8c, 0x8d: // strings
		return pushErr(str(string(o.Data), !o.Skipped))
	case 'a': // APPEND
		v, err := w.pop()
		if err != nil {
			return value{}, false, err
		}
		l, err := w.top()
		if err == nil {
			appendList(l, v)
		}
	case 'e', 0x90: // APPENDS, ADDITEMS
		items, err := w.popMark()
		if err != nil {
			return value{}, false, err
		}
		l, err := w.top()
		if err == nil {
			appendList(l, items...)
		}
	case 'l': // LIST
		items, err := w.popMark()
		if err != nil {
			return value{}, false, err
		}
		l := value{kind: kList, x: &extra{list: new([]value)}}
		appendList(l, items...)
		return pushErr(l)
	case 'd', 0x91: // DICT, FROZENSET
		if _, err := w.popMark(); err != nil {
			return value{}, false, err
		}
		return pushErr(value{})
	case 's': // SETITEM
		if w.avail() < 3 {
			return value{}, false, errUnderflow
		}
		w.stack = w.stack[:len(w.stack)-2]
	case 'u': // SETITEMS
		if _, err := w.popMark(); err != nil {
			return value{}, false, err
		}
		_, err = w.top()
	case 't': // TUPLE
		items, err := w.popMark()
		if err != nil {
			return value{}, false, err
		}
		return pushErr(tuple(items))
	case 0x85, 0x86, 0x87: // TUPLE1..3
		n := int(op-0x85) + 1
		if w.avail() < n {
			return value{}, false, errUnderflow
		}
		items := w.stack[len(w.stack)-n:]
		t := tuple(items)
		w.stack = w.stack[:len(w.stack)-n]
		return pushErr(t)
	case 'c': // GLOBAL
		return pushErr(w.global(o.Line, o.Name, "GLOBAL", off))
	case 'i': // INST: a GLOBAL, then a call with the items above the mark
		g := w.global(o.Line, o.Name, "INST", off)
		if _, err := w.popMark(); err != nil {
			return value{}, false, err
		}
		return pushErr(w.call(g, "INST", off))
	case 0x93: // STACK_GLOBAL
		name, err := w.pop()
		if err != nil {
			return value{}, false, err
		}
		module, err := w.pop()
		if err != nil {
			return value{}, false, err
		}
		if module.kind == kStr && name.kind == kStr {
			return pushErr(w.global(module.s, name.s, "STACK_GLOBAL", off))
		}
		w.findings = append(w.findings, Finding{Path: w.path, Module: "(" + describe(module) + ")",
			Name: "(" + describe(name) + ")", Level: Dangerous, Offset: off, Opcode: "STACK_GLOBAL",
			Note: "non-constant STACK_GLOBAL: module or name is not a constant string"})
		return pushErr(value{kind: kGlobal, x: &extra{module: "?", name: "?", level: Dangerous}})
	case 0x82, 0x83, 0x84: // EXT1, EXT2, EXT4
		code := strconv.FormatUint(o.Uint, 10)
		w.findings = append(w.findings, Finding{Path: w.path, Module: "copyreg", Name: "extension " + code,
			Level: Dangerous, Offset: off, Opcode: opName(op),
			Note: "extension registry code: the global it names is not visible in the file"})
		return pushErr(value{kind: kGlobal, x: &extra{module: "copyreg", name: "extension " + code, level: Dangerous}})
	case 'p', 'q', 'r': // PUT, BINPUT, LONG_BINPUT
		return value{}, false, w.setMemo(o.Uint)
	case 0x94: // MEMOIZE
		return value{}, false, w.setMemo(uint64(len(w.memo)))
	case 'g', 'h', 'j': // GET, BINGET, LONG_BINGET
		return value{}, false, w.getMemo(o.Uint)
	case 0x80: // PROTO
		if o.Uint > 5 {
			return value{}, false, fmt.Errorf("unsupported protocol %d", o.Uint)
		}
	case 0x95: // FRAME: the frame's opcodes follow inline
	default:
		return value{}, false, fmt.Errorf("%w: invalid opcode 0x%02x", errNoPickle, op)
	}
	return value{}, false, err
}

func tuple(items []value) value {
	if len(items) > maxTuple {
		return value{}
	}
	return value{kind: kTuple, x: &extra{items: append([]value(nil), items...)}}
}

func appendList(l value, items ...value) {
	if l.kind != kList || l.x.list == nil {
		return
	}
	if len(*l.x.list)+len(items) > maxListItems {
		l.x.list = nil
		return
	}
	*l.x.list = append(*l.x.list, items...)
}

// moduleClass resolves a persistent id of a legacy torch.save full-model pickle,
// ('module', class, source file, source): torch's loader returns the class, which the
// pickle then calls to rebuild the module. The class was reported where GLOBAL named it;
// the id is reported again with its source file and the first line of its source (the
// code that defines the class, which loading imports, never this scan).
func (w *walker) moduleClass(pid value, off int64) (value, bool) {
	if pid.kind != kTuple || len(pid.x.items) < 2 {
		return value{}, false
	}
	it := pid.x.items
	if it[0].kind != kStr || it[0].s != "module" || it[1].kind != kGlobal {
		return value{}, false
	}
	note := "legacy torch module id"
	if len(it) > 2 && it[2].kind == kStr {
		note += "; source file " + strconv.Quote(it[2].s)
	}
	if len(it) > 3 && it[3].kind == kStr {
		first, _, _ := strings.Cut(strings.TrimSpace(it[3].s), "\n")
		if len(first) > 80 {
			first = first[:80] + "..."
		}
		note += fmt.Sprintf("; source (%d bytes) begins %q", len(it[3].s), first)
	}
	cls := it[1]
	w.findings = append(w.findings, Finding{Path: w.path, Module: cls.x.module, Name: cls.x.name,
		Level: cls.x.level, Offset: off, Opcode: "BINPERSID", Note: note})
	return cls, true
}

// recordStorage remembers torch persistent ids ('storage', type, key, location, numel, ...).
func (w *walker) recordStorage(pid value) {
	if pid.kind != kTuple || len(pid.x.items) < 3 {
		return
	}
	it := pid.x.items
	if it[0].kind == kStr && it[0].s == "storage" && it[1].kind == kGlobal && it[2].kind == kStr {
		w.storages[it[2].s] = it[1].x.module + "." + it[1].x.name
	}
}

var opNames = map[byte]string{
	'(': "MARK", '.': "STOP", '0': "POP", '1': "POP_MARK", '2': "DUP", 'F': "FLOAT", 'I': "INT",
	'J': "BININT", 'K': "BININT1", 'L': "LONG", 'M': "BININT2", 'N': "NONE", 'P': "PERSID",
	'Q': "BINPERSID", 'R': "REDUCE", 'S': "STRING", 'T': "BINSTRING", 'U': "SHORT_BINSTRING",
	'V': "UNICODE", 'X': "BINUNICODE", 'a': "APPEND", 'b': "BUILD", 'c': "GLOBAL", 'd': "DICT",
	'}': "EMPTY_DICT", 'e': "APPENDS", 'g': "GET", 'h': "BINGET", 'i': "INST", 'j': "LONG_BINGET",
	'l': "LIST", ']': "EMPTY_LIST", 'o': "OBJ", 'p': "PUT", 'q': "BINPUT", 'r': "LONG_BINPUT",
	's': "SETITEM", 't': "TUPLE", ')': "EMPTY_TUPLE", 'u': "SETITEMS", 'G': "BINFLOAT",
	0x80: "PROTO", 0x81: "NEWOBJ", 0x82: "EXT1", 0x83: "EXT2", 0x84: "EXT4", 0x85: "TUPLE1",
	0x86: "TUPLE2", 0x87: "TUPLE3", 0x88: "NEWTRUE", 0x89: "NEWFALSE", 0x8a: "LONG1", 0x8b: "LONG4",
	'B': "BINBYTES", 'C': "SHORT_BINBYTES", 0x8c: "SHORT_BINUNICODE", 0x8d: "BINUNICODE8",
	0x8e: "BINBYTES8", 0x8f: "EMPTY_SET", 0x90: "ADDITEMS", 0x91: "FROZENSET", 0x92: "NEWOBJ_EX",
	0x93: "STACK_GLOBAL", 0x94: "MEMOIZE", 0x95: "FRAME", 0x96: "BYTEARRAY8", 0x97: "NEXT_BUFFER",
	0x98: "READONLY_BUFFER",
}

func opName(op byte) string {
	if n, ok := opNames[op]; ok {
		return n
	}
	return fmt.Sprintf("0x%02x", op)
}
