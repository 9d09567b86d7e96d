package runtime

import "fmt"

// AttrError reports a missing or ill-typed attribute.
type AttrError struct {
	Name string
	Msg  string
}

func (e *AttrError) Error() string { return fmt.Sprintf("attribute %q: %s", e.Name, e.Msg) }

// Has reports whether the node carries attribute name.
func (n *Node) Has(name string) bool { _, ok := n.Attrs[name]; return ok }

func (n *Node) attr(name string, kind AttrKind) (*Attr, bool, error) {
	a, ok := n.Attrs[name]
	if !ok {
		return nil, false, nil
	}
	if a.Kind != kind {
		return nil, false, &AttrError{name, fmt.Sprintf("is %v, want %v", a.Kind, kind)}
	}
	return a, true, nil
}

// Int returns an int attribute, or def when absent.
func (n *Node) Int(name string, def int64) (int64, error) {
	a, ok, err := n.attr(name, AttrInt)
	if !ok {
		return def, err
	}
	return a.Int, nil
}

// Float returns a float attribute, or def when absent.
func (n *Node) Float(name string, def float32) (float32, error) {
	a, ok, err := n.attr(name, AttrFloat)
	if !ok {
		return def, err
	}
	return a.Float, nil
}

// String returns a string attribute, or def when absent.
func (n *Node) String(name, def string) (string, error) {
	a, ok, err := n.attr(name, AttrString)
	if !ok {
		return def, err
	}
	return a.String, nil
}

// Ints returns an ints attribute, or def when absent. A single int is accepted too.
func (n *Node) Ints(name string, def []int64) ([]int64, error) {
	if a, ok := n.Attrs[name]; ok && a.Kind == AttrInt {
		return []int64{a.Int}, nil
	}
	a, ok, err := n.attr(name, AttrInts)
	if !ok {
		return def, err
	}
	return a.Ints, nil
}

// Floats returns a floats attribute, or def when absent.
func (n *Node) Floats(name string, def []float32) ([]float32, error) {
	a, ok, err := n.attr(name, AttrFloats)
	if !ok {
		return def, err
	}
	return a.Floats, nil
}

// Strings returns a strings attribute, or def when absent.
func (n *Node) Strings(name string, def []string) ([]string, error) {
	a, ok, err := n.attr(name, AttrStrings)
	if !ok {
		return def, err
	}
	return a.Strings, nil
}

// TensorAttr returns a tensor attribute, or nil when absent.
func (n *Node) TensorAttr(name string) (*Value, error) {
	a, ok, err := n.attr(name, AttrTensor)
	if !ok {
		return nil, err
	}
	return a.Tensor, nil
}

// GraphAttr returns a graph attribute; it is an error when absent.
func (n *Node) GraphAttr(name string) (*Graph, error) {
	a, ok, err := n.attr(name, AttrGraph)
	if err != nil {
		return nil, err
	}
	if !ok || a.Graph == nil {
		return nil, &AttrError{name, "is required"}
	}
	return a.Graph, nil
}

// attrs reads several attributes at once, keeping the first error; kernels use it as
//
//	var a attrs
//	axis := a.int(n, "axis", 0)
//	if a.err != nil { return nil, a.err }
type attrs struct{ err error }

func (a *attrs) int(n *Node, name string, def int64) int64 {
	v, err := n.Int(name, def)
	a.keep(err)
	return v
}

func (a *attrs) float(n *Node, name string, def float32) float32 {
	v, err := n.Float(name, def)
	a.keep(err)
	return v
}

func (a *attrs) str(n *Node, name, def string) string {
	v, err := n.String(name, def)
	a.keep(err)
	return v
}

func (a *attrs) ints(n *Node, name string, def []int64) []int64 {
	v, err := n.Ints(name, def)
	a.keep(err)
	return v
}

func (a *attrs) floats(n *Node, name string, def []float32) []float32 {
	v, err := n.Floats(name, def)
	a.keep(err)
	return v
}

func (a *attrs) keep(err error) {
	if a.err == nil {
		a.err = err
	}
}
