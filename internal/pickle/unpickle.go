package pickle

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"math/big"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/refit-ml/refit"
)

// Default limits; see Options.
const (
	DefaultMaxDepth = 10000
	DefaultMaxMemo  = 1 << 24
	maxLongDigits   = 10000 // decimal digits of a protocol-0 LONG
	maxLineLength   = 1 << 20
)

// Options configure Unpickle. The zero value refuses every global.
type Options struct {
	// Globals is the allowlist, keyed "module.name". A value implementing Callable can be
	// called by REDUCE/NEWOBJ/INST/OBJ; other values are plain constants (a dtype, a storage type).
	Globals map[string]any
	// Inert turns unknown globals into *Class and their instances into *Object records
	// instead of refusing them.
	Inert bool
	// PersistentLoad resolves BINPERSID/PERSID; nil refuses persistent ids.
	PersistentLoad PersistentLoader
	// MaxDepth caps open MARKs; 0 means DefaultMaxDepth.
	MaxDepth int
	// MaxMemo caps memo entries; 0 means DefaultMaxMemo.
	MaxMemo int
	// Budget is charged an estimate of the memory of every object and container element
	// the pickle creates, so that a small pickle building millions of objects is refused
	// (an error wrapping refit.ErrBudget) before it exhausts memory. Nil means no limit.
	// The charge stays on the budget after Decode returns: the objects live on in the result.
	Budget *refit.Budget
}

// Unpickle interprets the pickle in b.
func Unpickle(b []byte, opts *Options) (any, error) {
	v, _, err := Decode(bytes.NewReader(b), 0, int64(len(b)), opts)
	return v, err
}

// Decode interprets the pickle starting at offset off of r, reading no further than
// limit, and returns its value and the offset just past its STOP opcode.
func Decode(r io.ReaderAt, off, limit int64, opts *Options) (any, int64, error) {
	if opts == nil {
		opts = &Options{}
	}
	m := &machine{in: &reader{r: r, off: off, limit: limit}, opts: opts, memo: map[uint32]any{}}
	m.ops = NewOpReader(m.in)
	m.ops.BeforeData = m.chargeData
	m.maxDepth = opts.MaxDepth
	if m.maxDepth <= 0 {
		m.maxDepth = DefaultMaxDepth
	}
	m.maxMemo = opts.MaxMemo
	if m.maxMemo <= 0 {
		m.maxMemo = DefaultMaxMemo
	}
	v, err := m.run()
	if err != nil {
		return nil, m.in.off, err
	}
	return v, m.in.off, nil
}

// reader reads a byte stream from an io.ReaderAt through a small window.
type reader struct {
	r     io.ReaderAt
	off   int64 // offset of the next unread byte
	limit int64
	buf   []byte
	bufAt int64
}

// Offset, Remaining, ReadByte, Read and Discard make a reader an OpReader Source.
func (r *reader) Offset() int64 { return r.off }

func (r *reader) Remaining() int64 { return r.limit - r.off }

func (r *reader) remaining() int64 { return r.limit - r.off }

func (r *reader) Read(n int64) ([]byte, error) { return r.read(n) }

func (r *reader) Discard(n uint64) error {
	if n > uint64(r.remaining()) {
		return io.ErrUnexpectedEOF
	}
	r.off += int64(n)
	return nil
}

// read returns the next n bytes; the slice is valid until the next call.
func (r *reader) read(n int64) ([]byte, error) {
	if n < 0 || n > r.remaining() {
		return nil, io.ErrUnexpectedEOF
	}
	if r.off >= r.bufAt && r.off+n <= r.bufAt+int64(len(r.buf)) {
		s := r.buf[r.off-r.bufAt : r.off-r.bufAt+n]
		r.off += n
		return s, nil
	}
	size := max(n, 32<<10)
	size = min(size, r.remaining())
	if int64(cap(r.buf)) >= size {
		r.buf = r.buf[:size]
	} else {
		r.buf = make([]byte, size)
	}
	got, err := r.r.ReadAt(r.buf, r.off)
	if int64(got) < n {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	r.buf = r.buf[:got]
	r.bufAt = r.off
	r.off += n
	return r.buf[:n], nil
}

func (r *reader) ReadByte() (byte, error) {
	b, err := r.read(1)
	if err != nil {
		return 0, err
	}
	return b[0], nil
}

type machine struct {
	in        *reader
	ops       *OpReader
	opts      *Options
	stack     []any
	marks     []int
	memo      map[uint32]any
	maxDepth  int
	maxMemo   int
	pending   int64 // estimated bytes allocated by the current step, charged after it
	prepaid   int64 // part of pending already charged (payloads, before they are copied)
	stackHigh int   // the deepest the stack has been
}

func (m *machine) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: %s (at byte %d)", ErrMalformed, fmt.Sprintf(format, args...), m.in.off)
}

// push pushes a value the current step created and counts its memory.
func (m *machine) push(v any) {
	m.pending += cost(v)
	m.pushRef(v)
}

// pushRef pushes another reference to an existing value (DUP, memo GET). Only a stack
// deeper than ever before takes more memory; values leaving the stack for a container are
// counted by the container.
func (m *machine) pushRef(v any) {
	m.stack = append(m.stack, v)
	if len(m.stack) > m.stackHigh {
		m.stackHigh = len(m.stack)
		m.pending += slotCost
	}
}

func (m *machine) pop() (any, error) {
	base := 0
	if len(m.marks) > 0 {
		base = m.marks[len(m.marks)-1]
	}
	if len(m.stack) <= base {
		return nil, m.errorf("stack underflow")
	}
	v := m.stack[len(m.stack)-1]
	m.stack = m.stack[:len(m.stack)-1]
	return v, nil
}

func (m *machine) top() (any, error) {
	base := 0
	if len(m.marks) > 0 {
		base = m.marks[len(m.marks)-1]
	}
	if len(m.stack) <= base {
		return nil, m.errorf("stack underflow")
	}
	return m.stack[len(m.stack)-1], nil
}

// popMark pops everything above the last MARK and the mark itself.
func (m *machine) popMark() ([]any, error) {
	if len(m.marks) == 0 {
		return nil, m.errorf("no MARK on the stack")
	}
	k := m.marks[len(m.marks)-1]
	m.marks = m.marks[:len(m.marks)-1]
	items := append([]any(nil), m.stack[k:]...)
	clear(m.stack[k:])
	m.stack = m.stack[:k]
	return items, nil
}

func (m *machine) memoPut(idx uint32, v any) error {
	if _, ok := m.memo[idx]; !ok {
		if len(m.memo) >= m.maxMemo {
			return fmt.Errorf("%w: memo exceeds %d entries", ErrLimit, m.maxMemo)
		}
		m.pending += memoEntryCost
	}
	m.memo[idx] = v
	return nil
}

func (m *machine) memoGet(idx uint32) error {
	v, ok := m.memo[idx]
	if !ok {
		return m.errorf("memo key %d not found", idx)
	}
	m.pushRef(v)
	return nil
}

func (m *machine) run() (any, error) {
	for {
		op, err := m.ops.Next()
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			return nil, err
		}
		if op.Code == '.' { // STOP
			return m.pop()
		}
		if err := m.step(op); err != nil {
			return nil, err
		}
		if m.pending > m.prepaid {
			if err := m.opts.Budget.Charge(m.pending-m.prepaid, "pickled objects"); err != nil {
				return nil, fmt.Errorf("pickle: at byte %d: %w", m.in.off, err)
			}
		}
		m.pending, m.prepaid = 0, 0
	}
}

// chargeData charges a payload before the OpReader reads it: a pickle read from a large
// file may hold gigabytes here, read through a window of n bytes (kept for later reads)
// and then copied. The copy's share is prepaid, so that pushing it does not charge it again.
func (m *machine) chargeData(n uint64) error {
	if err := m.opts.Budget.Charge(2*int64(n), "pickled bytes"); err != nil {
		return fmt.Errorf("pickle: at byte %d: %w", m.in.off, err)
	}
	m.prepaid += int64(n)
	return nil
}

func (m *machine) step(op Op) error {
	switch op.Code {
	case 0x80: // PROTO
		if op.Uint > 5 {
			return fmt.Errorf("%w: pickle protocol %d", ErrUnsupported, op.Uint)
		}
	case 0x95: // FRAME: checked by the OpReader
	case '(': // MARK
		if len(m.marks) >= m.maxDepth {
			return fmt.Errorf("%w: nesting deeper than %d", ErrLimit, m.maxDepth)
		}
		m.marks = append(m.marks, len(m.stack))
	case '0': // POP
		if len(m.marks) > 0 && m.marks[len(m.marks)-1] == len(m.stack) {
			_, err := m.popMark() // POP of a bare mark discards it, as CPython does
			return err
		}
		_, err := m.pop()
		return err
	case '1': // POP_MARK
		_, err := m.popMark()
		return err
	case '2': // DUP
		v, err := m.top()
		if err != nil {
			return err
		}
		m.pushRef(v)

	// Constants.
	case 'N':
		m.push(nil)
	case 0x88:
		m.push(true)
	case 0x89:
		m.push(false)
	case 'I': // INT (text); "01"/"00" are True/False
		switch op.Line {
		case "01":
			m.push(true)
		case "00":
			m.push(false)
		default:
			v, err := m.parseInt(op.Line)
			if err != nil {
				return err
			}
			m.push(v)
		}
	case 'L': // LONG (text), optional trailing L
		v, err := m.parseInt(strings.TrimSuffix(op.Line, "L"))
		if err != nil {
			return err
		}
		m.push(v)
	case 'J':
		m.push(op.Int)
	case 'K', 'M':
		m.push(int64(op.Uint))
	case 0x8a, 0x8b: // LONG1, LONG4
		m.push(DecodeLong(op.Data))
	case 'F':
		f, err := strconv.ParseFloat(strings.TrimSpace(op.Line), 64)
		if err != nil {
			return m.errorf("bad FLOAT %q", op.Line)
		}
		m.push(f)
	case 'G':
		m.push(op.Float)

	// Strings and bytes.
	case 'S': // STRING: a quoted Python 2 str literal
		v, err := UnquoteString(op.Line)
		if err != nil {
			return m.errorf("%v", err)
		}
		m.push(v)
	case 'T', 'U':
		m.push(string(op.Data))
	case 'V': // UNICODE: raw-unicode-escape
		v, err := DecodeRawUnicode(op.Line)
		if err != nil {
			return m.errorf("%v", err)
		}
		m.push(v)
	case 'X', 0x8c, 0x8d:
		if !utf8.Valid(op.Data) {
			return m.errorf("string is not valid UTF-8")
		}
		m.push(string(op.Data))
	case 'B', 'C', 0x8e, 0x96: // BINBYTES, SHORT_BINBYTES, BINBYTES8, BYTEARRAY8
		m.push(op.Data)
	case 0x97, 0x98:
		return fmt.Errorf("%w: out-of-band buffers (opcode 0x%02x)", ErrUnsupported, op.Code)
	case 0x82, 0x83, 0x84:
		return fmt.Errorf("%w: extension registry (opcode 0x%02x)", ErrUnsupported, op.Code)

	// Containers.
	case ')':
		m.push(Tuple{})
	case 0x85, 0x86, 0x87: // TUPLE1..3
		n := int(op.Code - 0x84)
		base := 0
		if len(m.marks) > 0 {
			base = m.marks[len(m.marks)-1]
		}
		if len(m.stack)-base < n {
			return m.errorf("stack underflow")
		}
		t := append(Tuple(nil), m.stack[len(m.stack)-n:]...)
		m.stack = m.stack[:len(m.stack)-n]
		m.push(t)
	case 't':
		items, err := m.popMark()
		if err != nil {
			return err
		}
		m.push(Tuple(items))
	case ']':
		m.push(&List{})
	case 'l':
		items, err := m.popMark()
		if err != nil {
			return err
		}
		m.push(&List{Items: items})
	case '}':
		m.push(NewDict())
	case 'd':
		items, err := m.popMark()
		if err != nil {
			return err
		}
		if len(items)%2 != 0 {
			return m.errorf("DICT with an odd number of items")
		}
		d := NewDict()
		for i := 0; i < len(items); i += 2 {
			d.Set(items[i], items[i+1])
		}
		m.push(d)
	case 0x8f:
		m.push(&Set{})
	case 0x91:
		items, err := m.popMark()
		if err != nil {
			return err
		}
		m.push(&Set{Items: items, Frozen: true})
	case 'a':
		v, err := m.pop()
		if err != nil {
			return err
		}
		return m.appendTo([]any{v})
	case 'e':
		items, err := m.popMark()
		if err != nil {
			return err
		}
		return m.appendTo(items)
	case 's':
		v, err := m.pop()
		if err != nil {
			return err
		}
		k, err := m.pop()
		if err != nil {
			return err
		}
		return m.setItems([]any{k, v})
	case 'u':
		items, err := m.popMark()
		if err != nil {
			return err
		}
		if len(items)%2 != 0 {
			return m.errorf("SETITEMS with an odd number of items")
		}
		return m.setItems(items)
	case 0x90: // ADDITEMS
		items, err := m.popMark()
		if err != nil {
			return err
		}
		t, err := m.top()
		if err != nil {
			return err
		}
		s, ok := t.(*Set)
		if !ok {
			return m.errorf("ADDITEMS on %T", t)
		}
		s.Items = append(s.Items, items...)
		m.pending += elemCost * int64(len(items))

	// Memo.
	case 'p', 'q', 'r':
		if op.Uint > math.MaxUint32 {
			return m.errorf("bad PUT index %q", op.Line)
		}
		return m.putTop(uint32(op.Uint))
	case 0x94: // MEMOIZE
		return m.putTop(uint32(len(m.memo)))
	case 'g', 'h', 'j':
		if op.Uint > math.MaxUint32 {
			return m.errorf("bad GET index %q", op.Line)
		}
		return m.memoGet(uint32(op.Uint))

	// Globals and objects.
	case 'c':
		v, err := m.global(op.Line, op.Name)
		if err != nil {
			return err
		}
		m.push(v)
	case 0x93: // STACK_GLOBAL
		nv, err := m.pop()
		if err != nil {
			return err
		}
		mv, err := m.pop()
		if err != nil {
			return err
		}
		mod, ok1 := mv.(string)
		name, ok2 := nv.(string)
		if !ok1 || !ok2 {
			return m.errorf("STACK_GLOBAL needs two strings, got %T and %T", mv, nv)
		}
		v, err := m.global(mod, name)
		if err != nil {
			return err
		}
		m.push(v)
	case 'R': // REDUCE
		args, err := m.pop()
		if err != nil {
			return err
		}
		fn, err := m.pop()
		if err != nil {
			return err
		}
		t, ok := args.(Tuple)
		if !ok {
			return m.errorf("REDUCE arguments are %T, not a tuple", args)
		}
		v, err := m.call(fn, t, nil)
		if err != nil {
			return err
		}
		m.push(v)
	case 0x81: // NEWOBJ: cls.__new__(cls, *args)
		args, err := m.pop()
		if err != nil {
			return err
		}
		cls, err := m.pop()
		if err != nil {
			return err
		}
		t, ok := args.(Tuple)
		if !ok {
			return m.errorf("NEWOBJ arguments are %T, not a tuple", args)
		}
		v, err := m.call(cls, t, nil)
		if err != nil {
			return err
		}
		m.push(v)
	case 0x92: // NEWOBJ_EX
		kw, err := m.pop()
		if err != nil {
			return err
		}
		args, err := m.pop()
		if err != nil {
			return err
		}
		cls, err := m.pop()
		if err != nil {
			return err
		}
		t, ok1 := args.(Tuple)
		d, ok2 := kw.(*Dict)
		if !ok1 || !ok2 {
			return m.errorf("NEWOBJ_EX needs a tuple and a dict, got %T and %T", args, kw)
		}
		v, err := m.call(cls, t, d)
		if err != nil {
			return err
		}
		m.push(v)
	case 'i': // INST module\nname\n, arguments above the mark
		items, err := m.popMark()
		if err != nil {
			return err
		}
		cls, err := m.global(op.Line, op.Name)
		if err != nil {
			return err
		}
		v, err := m.call(cls, items, nil)
		if err != nil {
			return err
		}
		m.push(v)
	case 'o': // OBJ: mark, class, arguments
		items, err := m.popMark()
		if err != nil {
			return err
		}
		if len(items) == 0 {
			return m.errorf("OBJ without a class")
		}
		v, err := m.call(items[0], items[1:], nil)
		if err != nil {
			return err
		}
		m.push(v)
	case 'b': // BUILD
		state, err := m.pop()
		if err != nil {
			return err
		}
		obj, err := m.top()
		if err != nil {
			return err
		}
		return m.build(obj, state)
	case 'P':
		return m.persistent(op.Line)
	case 'Q':
		pid, err := m.pop()
		if err != nil {
			return err
		}
		return m.persistent(pid)
	default:
		return m.errorf("unknown opcode 0x%02x", op.Code)
	}
	return nil
}

func (m *machine) putTop(idx uint32) error {
	v, err := m.top()
	if err != nil {
		return err
	}
	return m.memoPut(idx, v)
}

func (m *machine) persistent(pid any) error {
	if m.opts.PersistentLoad == nil {
		return m.errorf("persistent id without a persistent loader")
	}
	v, err := m.opts.PersistentLoad(pid)
	if err != nil {
		return err
	}
	m.push(v)
	return nil
}

func (m *machine) appendTo(items []any) error {
	t, err := m.top()
	if err != nil {
		return err
	}
	switch x := t.(type) {
	case *List:
		x.Items = append(x.Items, items...)
	case *Object:
		x.Items = append(x.Items, items...)
	default:
		return m.errorf("APPEND to %T", t)
	}
	m.pending += elemCost * int64(len(items))
	return nil
}

func (m *machine) setItems(kv []any) error {
	t, err := m.top()
	if err != nil {
		return err
	}
	var d *Dict
	switch x := t.(type) {
	case *Dict:
		d = x
	case *Object:
		if x.DictItems == nil {
			x.DictItems = NewDict()
		}
		d = x.DictItems
	default:
		return m.errorf("SETITEM on %T", t)
	}
	n := d.Len()
	for i := 0; i < len(kv); i += 2 {
		d.Set(kv[i], kv[i+1])
	}
	m.pending += dictEntryCost * int64(d.Len()-n) // a key set again takes no more memory
	return nil
}

func (m *machine) global(mod, name string) (any, error) {
	if v, ok := m.opts.Globals[mod+"."+name]; ok {
		return v, nil
	}
	if m.opts.Inert {
		return &Class{Module: mod, Name: name}, nil
	}
	return nil, &GlobalError{Module: mod, Name: name}
}

// call applies an allowlisted callable, or records an inert object in inert mode.
func (m *machine) call(fn any, args []any, kw *Dict) (any, error) {
	switch f := fn.(type) {
	case Callable:
		if kw != nil && kw.Len() > 0 {
			return nil, m.errorf("keyword arguments to an allowlisted callable")
		}
		return f.Call(args)
	case *Class:
		if f.Module == "copyreg" || f.Module == "copy_reg" {
			if f.Name == "_reconstructor" && len(args) >= 1 {
				if c, ok := args[0].(*Class); ok {
					return &Object{Module: c.Module, Name: c.Name}, nil
				}
			}
		}
		return &Object{Module: f.Module, Name: f.Name, Args: args, Kwargs: kw}, nil
	case *Object:
		if m.opts.Inert {
			return &Object{Module: f.Module, Name: f.Name, Args: args, Kwargs: kw, Callee: f}, nil
		}
	}
	return nil, m.errorf("%T is not callable", fn)
}

func (m *machine) build(obj, state any) error {
	switch x := obj.(type) {
	case *Object:
		x.State = state
	case *Dict:
		x.State = state
	case Builder:
		return x.SetState(state)
	default:
		return m.errorf("BUILD on %T", obj)
	}
	return nil
}

func (m *machine) parseInt(s string) (any, error) {
	s = strings.TrimSpace(s)
	if len(s) > maxLongDigits {
		return nil, fmt.Errorf("%w: integer literal of %d digits", ErrLimit, len(s))
	}
	if v, err := strconv.ParseInt(s, 10, 64); err == nil {
		return v, nil
	}
	b, ok := new(big.Int).SetString(s, 10)
	if !ok {
		return nil, m.errorf("bad integer %q", s)
	}
	return b, nil
}

// DecodeLong decodes a LONG1/LONG4 payload (little-endian two's complement) to an int64,
// or a *big.Int when it does not fit.
func DecodeLong(b []byte) any {
	if len(b) == 0 {
		return int64(0)
	}
	if len(b) <= 8 {
		var v uint64
		for i := len(b) - 1; i >= 0; i-- {
			v = v<<8 | uint64(b[i])
		}
		shift := uint(64 - 8*len(b))
		return int64(v<<shift) >> shift
	}
	be := make([]byte, len(b))
	for i := range b {
		be[len(b)-1-i] = b[i]
	}
	v := new(big.Int).SetBytes(be)
	if b[len(b)-1]&0x80 != 0 {
		v.Sub(v, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	if v.IsInt64() {
		return v.Int64()
	}
	return v
}
