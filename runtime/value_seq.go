package runtime

import (
	"fmt"
	"slices"

	"github.com/refit-ml/refit/tensor"
)

// Kind tells a tensor Value from ONNX's container values.
type Kind uint8

// Value kinds.
const (
	KindTensor   Kind = iota // a dense tensor: DType, Shape, Data
	KindSequence             // an ordered list of values in Elems, all of one dtype
	KindOptional             // zero or one value in Elems
	KindString               // a tensor of strings: Shape and Data []string, DType Invalid
)

func (k Kind) String() string {
	switch k {
	case KindTensor:
		return "tensor"
	case KindSequence:
		return "sequence"
	case KindOptional:
		return "optional"
	case KindString:
		return "string"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// NewSequence returns a sequence of elems, whose dtype is dt (Invalid when unknown:
// an empty sequence of undeclared type). Pooled elements are pinned and referenced
// through pool-free views: a sequence may outlive the names its elements had.
func NewSequence(dt tensor.DType, elems ...*Value) *Value {
	s := &Value{DType: dt, Kind: KindSequence, Elems: make([]*Value, len(elems))}
	for i, e := range elems {
		s.Elems[i] = detach(e)
	}
	return s
}

// NewOptional returns an optional holding elem, or an empty optional when elem is nil.
func NewOptional(dt tensor.DType, elem *Value) *Value {
	o := &Value{DType: dt, Kind: KindOptional}
	if elem != nil {
		o.DType = elem.DType
		o.Elems = []*Value{detach(elem)}
	}
	return o
}

// detach returns v without pool ownership: its buffer (if any) is pinned so the pool
// never reuses it while a container holds it.
func detach(v *Value) *Value {
	if v == nil || v.buf == nil {
		return v
	}
	v.pin()
	d := *v
	d.buf = nil
	return &d
}

func (v *Value) validateContainer() error {
	if v.Kind == KindString {
		return v.validateStrings()
	}
	if v.Data != nil || v.Shape != nil {
		return fmt.Errorf("runtime: %v value has tensor data", v.Kind)
	}
	switch v.Kind {
	case KindSequence:
	case KindOptional:
		if len(v.Elems) > 1 {
			return fmt.Errorf("runtime: optional holds %d values", len(v.Elems))
		}
	default:
		return fmt.Errorf("runtime: unknown value kind %v", v.Kind)
	}
	for i, e := range v.Elems {
		if e == nil {
			return fmt.Errorf("runtime: %v element %d is nil", v.Kind, i)
		}
		if err := e.Validate(); err != nil {
			return fmt.Errorf("runtime: %v element %d: %w", v.Kind, i, err)
		}
	}
	return nil
}

func (v *Value) containerString() string {
	if v.Kind == KindString {
		return fmt.Sprintf("string%v", tensor.Shape(v.Shape))
	}
	if v.Kind == KindOptional && len(v.Elems) == 0 {
		return fmt.Sprintf("optional(%v)[]", v.DType)
	}
	parts := make([]string, len(v.Elems))
	for i, e := range v.Elems {
		parts[i] = e.String()
	}
	return fmt.Sprintf("%v%v", v.Kind, parts)
}

func (v *Value) cloneContainer() *Value {
	if v.Kind == KindString {
		return &Value{Kind: KindString, Shape: slices.Clone(v.Shape), Data: slices.Clone(v.Strings())}
	}
	c := &Value{DType: v.DType, Kind: v.Kind, Elems: make([]*Value, len(v.Elems))}
	for i, e := range v.Elems {
		c.Elems[i] = e.Clone()
	}
	if v.Elems == nil {
		c.Elems = nil
	}
	return c
}

// sequenceInput returns input i as a sequence, or an error naming it.
func sequenceInput(c *Call, i int) (*Value, error) {
	v := c.Input(i)
	if v == nil || v.Kind != KindSequence {
		return nil, fmt.Errorf("input %d must be a sequence, have %v", i, v)
	}
	return v, nil
}

// tensorInput returns input i as a tensor, or an error naming it.
func tensorInput(c *Call, i int) (*Value, error) {
	v := c.Input(i)
	if v == nil || v.Kind != KindTensor {
		return nil, fmt.Errorf("input %d must be a tensor, have %v", i, v)
	}
	return v, nil
}

// seqPosition normalizes a scalar position input against length n; insert allows n.
func seqPosition(p *Value, n int, insert bool) (int, error) {
	if p.Len() != 1 || !p.DType.Integer() {
		return 0, fmt.Errorf("position must be an integer scalar, have %v", p)
	}
	pos := elemInt64(p, 0)
	hi := int64(n)
	if !insert {
		hi--
	}
	if pos < -int64(n) || pos > hi {
		return 0, fmt.Errorf("position %d is outside [%d, %d] for a sequence of %d", pos, -n, hi, n)
	}
	if pos < 0 {
		pos += int64(n)
	}
	return int(pos), nil
}

// seqWith returns a new sequence with elems, keeping s's dtype.
func seqWith(s *Value, elems []*Value) *Value {
	return &Value{DType: s.DType, Kind: KindSequence, Elems: slices.Clip(elems)}
}

// containerOps are the operators that take sequence or optional inputs; every other
// kernel sees tensors only.
var containerOps = map[string]bool{
	"SequenceAt": true, "SequenceInsert": true, "SequenceErase": true, "SequenceLength": true,
	"ConcatFromSequence": true, "SequenceMap": true, "Optional": true, "OptionalHasElement": true,
	"OptionalGetElement": true, "Identity": true, "If": true, "Loop": true,
	"StringNormalizer": true, "Cast": true, "CastLike": true, "TfIdfVectorizer": true,
}

// viewContainer is View for non-tensor kinds: containers are shared as they are
// immutable; a string tensor takes the new shape.
func viewContainer(v *Value, shape []int64) *Value {
	if v.Kind == KindString {
		return &Value{Kind: KindString, Shape: slices.Clone(shape), Data: v.Data}
	}
	return &Value{DType: v.DType, Kind: v.Kind, Elems: v.Elems}
}

// checkContainerInputs rejects a sequence or optional fed to a tensor operator.
func checkContainerInputs(n *Node, inputs []*Value) error {
	if n.Domain == "" && containerOps[n.OpType] {
		return nil
	}
	for i, v := range inputs {
		if v != nil && v.Kind != KindTensor {
			return fmt.Errorf("input %d is a %v; %s takes tensors", i, v.Kind, n.OpType)
		}
	}
	return nil
}
