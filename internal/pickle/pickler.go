package pickle

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
)

// Global is a reference to module.name, written as a GLOBAL opcode.
type Global struct{ Module, Name string }

// Reduce is a call of Func (usually a Global) on Args, written as REDUCE.
type Reduce struct {
	Func any
	Args Tuple
}

// PersistentID is written as its value followed by BINPERSID.
type PersistentID struct{ Value any }

// OrderedDict is written as collections.OrderedDict() followed by SETITEMS, as torch writes
// state dicts. Keys and Values must have the same length.
type OrderedDict struct {
	Keys   []any
	Values []any
}

// Pickler writes protocol-2 pickles of the values above plus nil, bool, int, int64,
// float64, string, Tuple and *Dict. Globals are memoized (BINPUT/BINGET) so each is
// spelled once. The output is deterministic.
type Pickler struct {
	buf     bytes.Buffer
	globals map[Global]uint32
	next    uint32
}

// Marshal returns the pickle of v (PROTO 2 ... STOP).
func Marshal(v any) ([]byte, error) {
	p := &Pickler{globals: map[Global]uint32{}}
	p.buf.Write([]byte{0x80, 2})
	if err := p.value(v); err != nil {
		return nil, err
	}
	p.buf.WriteByte('.')
	return p.buf.Bytes(), nil
}

const batchSize = 1000 // items per APPENDS/SETITEMS, as CPython

func (p *Pickler) memoize() {
	if p.next < 256 {
		p.buf.Write([]byte{'q', byte(p.next)})
	} else {
		p.buf.WriteByte('r')
		p.buf.Write(binary.LittleEndian.AppendUint32(nil, p.next))
	}
	p.next++
}

func (p *Pickler) int(v int64) {
	switch {
	case v >= 0 && v < 256:
		p.buf.Write([]byte{'K', byte(v)})
	case v >= 0 && v < 65536:
		p.buf.Write([]byte{'M', byte(v), byte(v >> 8)})
	case v >= math.MinInt32 && v <= math.MaxInt32:
		p.buf.WriteByte('J')
		p.buf.Write(binary.LittleEndian.AppendUint32(nil, uint32(int32(v))))
	default: // LONG1 with a minimal two's complement encoding
		b := binary.LittleEndian.AppendUint64(nil, uint64(v))
		for len(b) > 1 {
			last, prev := b[len(b)-1], b[len(b)-2]
			if (last == 0 && prev&0x80 == 0) || (last == 0xff && prev&0x80 != 0) {
				b = b[:len(b)-1]
				continue
			}
			break
		}
		p.buf.Write([]byte{0x8a, byte(len(b))})
		p.buf.Write(b)
	}
}

func (p *Pickler) value(v any) error {
	switch x := v.(type) {
	case nil:
		p.buf.WriteByte('N')
	case bool:
		if x {
			p.buf.WriteByte(0x88)
		} else {
			p.buf.WriteByte(0x89)
		}
	case int:
		p.int(int64(x))
	case int64:
		p.int(x)
	case float64:
		p.buf.WriteByte('G')
		p.buf.Write(binary.BigEndian.AppendUint64(nil, math.Float64bits(x)))
	case string:
		p.buf.WriteByte('X')
		p.buf.Write(binary.LittleEndian.AppendUint32(nil, uint32(len(x))))
		p.buf.WriteString(x)
	case Tuple:
		switch len(x) {
		case 0:
			p.buf.WriteByte(')')
			return nil
		case 1, 2, 3:
			for _, e := range x {
				if err := p.value(e); err != nil {
					return err
				}
			}
			p.buf.WriteByte(0x84 + byte(len(x)))
			return nil
		}
		p.buf.WriteByte('(')
		for _, e := range x {
			if err := p.value(e); err != nil {
				return err
			}
		}
		p.buf.WriteByte('t')
	case Global:
		if idx, ok := p.globals[x]; ok {
			if idx < 256 {
				p.buf.Write([]byte{'h', byte(idx)})
			} else {
				p.buf.WriteByte('j')
				p.buf.Write(binary.LittleEndian.AppendUint32(nil, idx))
			}
			return nil
		}
		p.buf.WriteByte('c')
		p.buf.WriteString(x.Module + "\n" + x.Name + "\n")
		p.globals[x] = p.next
		p.memoize()
	case Reduce:
		if err := p.value(x.Func); err != nil {
			return err
		}
		if err := p.value(x.Args); err != nil {
			return err
		}
		p.buf.WriteByte('R')
	case PersistentID:
		if err := p.value(x.Value); err != nil {
			return err
		}
		p.buf.WriteByte('Q')
	case OrderedDict:
		if len(x.Keys) != len(x.Values) {
			return fmt.Errorf("pickle: OrderedDict with %d keys and %d values", len(x.Keys), len(x.Values))
		}
		if err := p.value(Reduce{Func: Global{"collections", "OrderedDict"}, Args: Tuple{}}); err != nil {
			return err
		}
		return p.items(x.Keys, x.Values)
	case *Dict:
		p.buf.WriteByte('}')
		return p.items(x.keys, x.vals)
	default:
		return fmt.Errorf("pickle: cannot write %T", v)
	}
	return nil
}

func (p *Pickler) items(keys, vals []any) error {
	for start := 0; start < len(keys); start += batchSize {
		end := min(start+batchSize, len(keys))
		p.buf.WriteByte('(')
		for i := start; i < end; i++ {
			if err := p.value(keys[i]); err != nil {
				return err
			}
			if err := p.value(vals[i]); err != nil {
				return err
			}
		}
		p.buf.WriteByte('u')
	}
	return nil
}
