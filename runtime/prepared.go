package runtime

import (
	"fmt"
	"slices"
	"sync"
	"unsafe"

	"github.com/refit-ml/refit"

	"github.com/refit-ml/refit/tensor"
)

// prepared is state a kernel derives once from one constant input of its node, such
// as a weight matrix packed for the GEMM micro-kernel, and reuses on every Run. It
// is filled at most once, under once, by the first call; concurrent Runs then only
// read it. src is the initializer it was made from: a call whose input is another
// value (an initializer overridden by a graph input) does not use it.
type prepared struct {
	once sync.Once
	src  *Value
	data any
}

// prepare returns the state made by build from input i of c's node when that input
// is a constant initializer of the node's graph (never overridable by a graph input),
// building it on the first call. ok is false when the input is not constant; the
// caller then computes without cached state.
func prepare[T any](c *Call, i int, build func(v *Value) T) (state T, ok bool) {
	n := c.Node
	v := c.Input(i)
	if v == nil || c.sess == nil {
		return state, false
	}
	n.prep.once.Do(func() {
		if i < len(n.Inputs) && c.sess.constantInput(n, n.Inputs[i], v) {
			n.prep.data = build(v)
			n.prep.src = v
		}
	})
	if n.prep.src != v {
		return state, false
	}
	state, ok = n.prep.data.(T)
	return state, ok
}

// constantInput reports whether value v, read by node n under name, is an
// initializer of the graph that holds n and not also a graph input (which a caller
// could override).
func (s *Session) constantInput(n *Node, name string, v *Value) bool {
	g := n.owner // searching the graph for every node with weights would be quadratic
	if g == nil {
		g = graphOf(s.graph, n)
	}
	if g == nil || v.buf != nil {
		return false
	}
	if init, ok := g.Initializers[name]; !ok || init != v {
		return false
	}
	return !slices.ContainsFunc(g.Inputs, func(in ValueInfo) bool { return in.Name == name })
}

// graphOf finds the graph (g or one of its subgraphs) whose node list holds n.
func graphOf(g *Graph, n *Node) *Graph {
	if g == nil {
		return nil
	}
	for _, m := range g.Nodes {
		if m == n {
			return g
		}
	}
	for _, m := range g.Nodes {
		for _, a := range m.Attrs {
			if found := graphOf(a.Graph, n); found != nil {
				return found
			}
			for _, sg := range a.Graphs {
				if found := graphOf(sg, n); found != nil {
					return found
				}
			}
		}
	}
	return nil
}

// allocRaw is Alloc without zero-filling a reused buffer: for kernels that write
// every element of their output. It applies the same size and budget checks.
func (c *Call) allocRaw(dt tensor.DType, shape []int64) (*Value, error) {
	return c.alloc(dt, shape, false)
}

// checkElements returns an error wrapping ErrTooLarge when a scratch or output
// buffer of n elements would exceed the session's MaxElements, and reserves the
// memory budget for n float32 until the kernel returns: kernels call it before
// allocating a scratch buffer sized by attributes or input values.
func (c *Call) checkElements(n int64) error {
	if c.sess == nil {
		return nil
	}
	if n < 0 || n > c.sess.maxElements {
		return fmt.Errorf("buffer of %d elements: %w (limit %d)", n, ErrTooLarge, c.sess.maxElements)
	}
	return c.reserve(4*n, func() string { return fmt.Sprintf("scratch buffer of %d float32", n) })
}

// preparePacked is prepare for kernels that never read the constant input again
// once build has packed it: when the input's data lies in a file's mapping (a model
// loaded with onnx.LoadMapped), its pages are then dropped from the resident set, so
// that a weight takes memory once, in its packed layout, not twice.
func preparePacked[T any](c *Call, i int, build func(v *Value) T) (state T, ok bool) {
	return prepare(c, i, func(v *Value) T {
		state := build(v)
		if d, ok := v.Data.([]float32); ok && len(d) > 0 {
			refit.ReleaseMapped(unsafe.Slice((*byte)(unsafe.Pointer(&d[0])), 4*len(d)))
		}
		return state
	})
}
