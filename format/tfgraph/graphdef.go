package tfgraph

import (
	"google.golang.org/protobuf/encoding/protowire"
)

// DataType is TensorFlow's types.proto DataType (reference types, +100, are
// folded onto their base type by the parser).
type DataType int32

// The DataTypes Refit reads.
const (
	DTFloat    DataType = 1
	DTDouble   DataType = 2
	DTInt32    DataType = 3
	DTUint8    DataType = 4
	DTInt16    DataType = 5
	DTInt8     DataType = 6
	DTString   DataType = 7
	DTInt64    DataType = 9
	DTBool     DataType = 10
	DTBfloat16 DataType = 14
	DTUint16   DataType = 17
	DTHalf     DataType = 19
	DTResource DataType = 20
	DTVariant  DataType = 21
	DTUint32   DataType = 22
	DTUint64   DataType = 23
)

// Graph is a GraphDef: its nodes and the functions of its library.
type Graph struct {
	Nodes     []*Node
	Functions []*Function
	Producer  int64 // versions.producer
}

// Node is a NodeDef.
type Node struct {
	Name, Op, Device string
	Input            []string // "node", "node:1" or "^node" (control)
	Attr             map[string]*Attr
}

// Attr is an AttrValue; Has says which of its fields was set.
type Attr struct {
	Has         AttrField
	S           []byte
	I           int64
	F           float32
	B           bool
	Type        DataType
	Shape       *Shape
	Tensor      *Tensor
	List        *List
	Func        *Func
	Placeholder string
}

// AttrField names the field an AttrValue sets.
type AttrField int

// AttrValue fields.
const (
	AttrNone AttrField = iota
	AttrList
	AttrS
	AttrI
	AttrF
	AttrB
	AttrType
	AttrShape
	AttrTensor
	AttrPlaceholder
	AttrFunc
)

// List is an AttrValue.ListValue.
type List struct {
	S      [][]byte
	I      []int64
	F      []float32
	B      []bool
	Type   []DataType
	Shape  []*Shape
	Tensor []*Tensor
	Func   []*Func
}

// Func is a NameAttrList: a function name and its attributes.
type Func struct {
	Name string
	Attr map[string]*Attr
}

// Shape is a TensorShapeProto; -1 marks an unknown dimension.
type Shape struct {
	Dims        []int64
	UnknownRank bool
}

// Tensor is a TensorProto. Content is tensor_content (little-endian, row-major),
// a view of the file's bytes at ContentOffset; the typed value fields hold the
// other encodings (a short list repeats its last value to fill the shape).
type Tensor struct {
	DType         DataType
	Shape         Shape
	Content       []byte
	ContentOffset int64
	Float         []float32
	Double        []float64
	Int           []int64 // int_val (int32, int16, int8, uint8, uint16), half_val (float16/bfloat16 bits), bool_val, int64_val, uint32_val, uint64_val
	String        [][]byte
}

// Function is a FunctionDef: its signature, nodes and return mapping.
type Function struct {
	Name    string
	Inputs  []Arg
	Outputs []Arg
	Nodes   []*Node
	Ret     map[string]string // output arg -> "node:out_arg:index"
	Attr    map[string]*Attr
}

// Arg is an OpDef.ArgDef.
type Arg struct {
	Name                 string
	Type                 DataType
	TypeAttr, NumberAttr string
}

// maxDepth bounds the nesting of attribute values (lists of functions of attributes ...).
const maxDepth = 32

func parseGraph(m msg) (*Graph, error) {
	g := &Graph{}
	for m.more() {
		f, err := m.next()
		if err != nil {
			return nil, err
		}
		switch f.num {
		case 1:
			if err := f.need(protowire.BytesType); err != nil {
				return nil, err
			}
			n, err := parseNode(f.sub)
			if err != nil {
				return nil, err
			}
			g.Nodes = append(g.Nodes, n)
		case 2:
			if err := f.need(protowire.BytesType); err != nil {
				return nil, err
			}
			lib := f.sub
			for lib.more() {
				lf, err := lib.next()
				if err != nil {
					return nil, err
				}
				if lf.num != 1 || lf.typ != protowire.BytesType {
					continue // gradients
				}
				fn, err := parseFunction(lf.sub)
				if err != nil {
					return nil, err
				}
				g.Functions = append(g.Functions, fn)
			}
		case 4:
			if err := f.need(protowire.BytesType); err != nil {
				return nil, err
			}
			v := f.sub
			for v.more() {
				vf, err := v.next()
				if err != nil {
					return nil, err
				}
				if vf.num == 1 && vf.typ == protowire.VarintType {
					g.Producer = int64(vf.v)
				}
			}
		}
	}
	return g, nil
}

func parseNode(m msg) (*Node, error) {
	n := &Node{}
	for m.more() {
		f, err := m.next()
		if err != nil {
			return nil, err
		}
		if f.num <= 5 {
			if err := f.need(protowire.BytesType); err != nil {
				return nil, err
			}
		}
		switch f.num {
		case 1:
			n.Name = f.str()
		case 2:
			n.Op = f.str()
		case 3:
			n.Input = append(n.Input, f.str())
		case 4:
			n.Device = f.str()
		case 5:
			if n.Attr == nil {
				n.Attr = map[string]*Attr{}
			}
			if err := parseAttrEntry(f.sub, n.Attr, 0); err != nil {
				return nil, err
			}
		}
	}
	if n.Name == "" {
		return nil, m.errorf("node without a name")
	}
	return n, nil
}

// parseAttrEntry reads one map<string, AttrValue> entry into attrs.
func parseAttrEntry(m msg, attrs map[string]*Attr, depth int) error {
	var key string
	a := &Attr{}
	for m.more() {
		f, err := m.next()
		if err != nil {
			return err
		}
		if err := f.need(protowire.BytesType); err != nil {
			return err
		}
		switch f.num {
		case 1:
			key = f.str()
		case 2:
			if a, err = parseAttr(f.sub, depth+1); err != nil {
				return err
			}
		}
	}
	attrs[key] = a
	return nil
}

func parseAttr(m msg, depth int) (*Attr, error) {
	if depth > maxDepth {
		return nil, m.errorf("attribute values nested deeper than %d", maxDepth)
	}
	a := &Attr{}
	for m.more() {
		f, err := m.next()
		if err != nil {
			return nil, err
		}
		switch f.num {
		case 1:
			if err := f.need(protowire.BytesType); err != nil {
				return nil, err
			}
			if a.List, err = parseList(f.sub, depth); err != nil {
				return nil, err
			}
		case 2:
			if err := f.need(protowire.BytesType); err != nil {
				return nil, err
			}
			a.S = f.sub.buf
		case 3:
			a.I = int64(f.v)
		case 4:
			if err := f.need(protowire.Fixed32Type); err != nil {
				return nil, err
			}
			var fs []float32
			fs, _ = f.floats(fs)
			a.F = fs[0]
		case 5:
			a.B = f.v != 0
		case 6:
			a.Type = baseType(f.v)
		case 7:
			if err := f.need(protowire.BytesType); err != nil {
				return nil, err
			}
			if a.Shape, err = parseShape(f.sub); err != nil {
				return nil, err
			}
		case 8:
			if err := f.need(protowire.BytesType); err != nil {
				return nil, err
			}
			if a.Tensor, err = parseTensor(f.sub); err != nil {
				return nil, err
			}
		case 9:
			a.Placeholder = f.str()
		case 10:
			if err := f.need(protowire.BytesType); err != nil {
				return nil, err
			}
			if a.Func, err = parseFunc(f.sub, depth); err != nil {
				return nil, err
			}
		default:
			continue
		}
		a.Has = AttrField(f.num)
	}
	return a, nil
}

func baseType(v uint64) DataType {
	t := DataType(int32(v))
	if t > 100 {
		t -= 100
	}
	return t
}

func parseList(m msg, depth int) (*List, error) {
	l := &List{}
	for m.more() {
		f, err := m.next()
		if err != nil {
			return nil, err
		}
		switch f.num {
		case 2:
			l.S = append(l.S, f.sub.buf)
		case 3:
			if l.I, err = f.ints(l.I); err != nil {
				return nil, err
			}
		case 4:
			if l.F, err = f.floats(l.F); err != nil {
				return nil, err
			}
		case 5, 6:
			var v []int64
			if v, err = f.ints(v); err != nil {
				return nil, err
			}
			for _, x := range v {
				if f.num == 5 {
					l.B = append(l.B, x != 0)
				} else {
					l.Type = append(l.Type, baseType(uint64(x)))
				}
			}
		case 7:
			s, err := parseShape(f.sub)
			if err != nil {
				return nil, err
			}
			l.Shape = append(l.Shape, s)
		case 8:
			t, err := parseTensor(f.sub)
			if err != nil {
				return nil, err
			}
			l.Tensor = append(l.Tensor, t)
		case 9:
			fn, err := parseFunc(f.sub, depth)
			if err != nil {
				return nil, err
			}
			l.Func = append(l.Func, fn)
		}
	}
	return l, nil
}

func parseFunc(m msg, depth int) (*Func, error) {
	fn := &Func{Attr: map[string]*Attr{}}
	for m.more() {
		f, err := m.next()
		if err != nil {
			return nil, err
		}
		if err := f.need(protowire.BytesType); err != nil {
			return nil, err
		}
		switch f.num {
		case 1:
			fn.Name = f.str()
		case 2:
			if err := parseAttrEntry(f.sub, fn.Attr, depth); err != nil {
				return nil, err
			}
		}
	}
	return fn, nil
}

// maxRank bounds the rank of shapes read from a file.
const maxRank = 64

func parseShape(m msg) (*Shape, error) {
	s := &Shape{Dims: []int64{}}
	for m.more() {
		f, err := m.next()
		if err != nil {
			return nil, err
		}
		switch f.num {
		case 2:
			if err := f.need(protowire.BytesType); err != nil {
				return nil, err
			}
			if len(s.Dims) == maxRank {
				return nil, m.errorf("shape of rank over %d", maxRank)
			}
			size := int64(0)
			d := f.sub
			for d.more() {
				df, err := d.next()
				if err != nil {
					return nil, err
				}
				if df.num == 1 && df.typ == protowire.VarintType {
					size = int64(df.v)
				}
			}
			if size < -1 {
				return nil, m.errorf("dimension %d", size)
			}
			s.Dims = append(s.Dims, size)
		case 3:
			s.UnknownRank = f.v != 0
		}
	}
	return s, nil
}

func parseTensor(m msg) (*Tensor, error) {
	t := &Tensor{}
	for m.more() {
		f, err := m.next()
		if err != nil {
			return nil, err
		}
		switch f.num {
		case 1:
			t.DType = baseType(f.v)
		case 2:
			if err := f.need(protowire.BytesType); err != nil {
				return nil, err
			}
			s, err := parseShape(f.sub)
			if err != nil {
				return nil, err
			}
			t.Shape = *s
		case 4:
			if err := f.need(protowire.BytesType); err != nil {
				return nil, err
			}
			t.Content, t.ContentOffset = f.sub.buf, f.sub.base
		case 5:
			if t.Float, err = f.floats(t.Float); err != nil {
				return nil, err
			}
		case 6:
			if t.Double, err = f.doubles(t.Double); err != nil {
				return nil, err
			}
		case 7, 10, 11, 13, 16, 17:
			if t.Int, err = f.ints(t.Int); err != nil {
				return nil, err
			}
		case 8:
			if err := f.need(protowire.BytesType); err != nil {
				return nil, err
			}
			t.String = append(t.String, f.sub.buf)
		}
	}
	return t, nil
}

func parseFunction(m msg) (*Function, error) {
	fn := &Function{Ret: map[string]string{}, Attr: map[string]*Attr{}}
	for m.more() {
		f, err := m.next()
		if err != nil {
			return nil, err
		}
		if f.typ != protowire.BytesType {
			continue
		}
		switch f.num {
		case 1: // OpDef signature
			sig := f.sub
			for sig.more() {
				sf, err := sig.next()
				if err != nil {
					return nil, err
				}
				if sf.typ != protowire.BytesType {
					continue
				}
				switch sf.num {
				case 1:
					fn.Name = sf.str()
				case 2, 3:
					a, err := parseArg(sf.sub)
					if err != nil {
						return nil, err
					}
					if sf.num == 2 {
						fn.Inputs = append(fn.Inputs, a)
					} else {
						fn.Outputs = append(fn.Outputs, a)
					}
				}
			}
		case 3:
			n, err := parseNode(f.sub)
			if err != nil {
				return nil, err
			}
			fn.Nodes = append(fn.Nodes, n)
		case 4:
			k, v, err := parseStringEntry(f.sub)
			if err != nil {
				return nil, err
			}
			fn.Ret[k] = v
		case 5:
			if err := parseAttrEntry(f.sub, fn.Attr, 0); err != nil {
				return nil, err
			}
		}
	}
	return fn, nil
}

func parseArg(m msg) (Arg, error) {
	var a Arg
	for m.more() {
		f, err := m.next()
		if err != nil {
			return a, err
		}
		switch f.num {
		case 1:
			a.Name = f.str()
		case 3:
			a.Type = baseType(f.v)
		case 4:
			a.TypeAttr = f.str()
		case 5:
			a.NumberAttr = f.str()
		}
	}
	return a, nil
}

// parseStringEntry reads a map<string, string> entry.
func parseStringEntry(m msg) (string, string, error) {
	var k, v string
	for m.more() {
		f, err := m.next()
		if err != nil {
			return "", "", err
		}
		if f.typ != protowire.BytesType {
			continue
		}
		switch f.num {
		case 1:
			k = f.str()
		case 2:
			v = f.str()
		}
	}
	return k, v, nil
}
