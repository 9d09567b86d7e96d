package runtime

import (
	"fmt"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/refit-ml/refit"

	"github.com/refit-ml/refit/tensor"
)

// prepared is the state kernels derive from constant inputs of one node, such as a
// weight matrix packed for the GEMM micro-kernel, reused on every Run. It holds one
// slot per state type: a kernel may pick between layouts by input shape (a Conv's
// transposed tiles at 7 x 7, its plain packing at 28 x 28), and each layout is then
// built once, not rebuilt whenever the shape flips. Concurrent Runs read the slot
// list without a lock; adding a slot or building its state takes one.
type prepared struct {
	mu    sync.Mutex
	slots atomic.Pointer[[]*prepSlot] // copied on write
}

// prepSlot is the state of one type. done is set once state is final: src is the
// initializer it was made from (nil when the input was not constant, so no call uses
// it); a call whose input is another value (an overriding graph input) does not use it.
type prepSlot struct {
	key  any // a nil *T for state type T
	mu   sync.Mutex
	done atomic.Bool
	src  *Value
	data any
}

// slot returns the slot for key, adding it on first use.
func (p *prepared) slot(key any) *prepSlot {
	if s := p.slots.Load(); s != nil {
		for _, sl := range *s {
			if sl.key == key {
				return sl
			}
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var cur []*prepSlot
	if s := p.slots.Load(); s != nil {
		cur = *s
	}
	for _, sl := range cur {
		if sl.key == key {
			return sl
		}
	}
	sl := &prepSlot{key: key}
	next := append(slices.Clip(cur), sl)
	p.slots.Store(&next)
	return sl
}

// prepare returns the state made by build from input i of c's node when that input
// is a constant initializer of the node's graph (never overridable by a graph input),
// building it on the first call for type T. ok is false when the input is not
// constant; the caller then computes without cached state. The state is charged to
// the session's memory budget for as long as the node keeps it; when the budget has
// no room for it, the call gets it uncached and a later call builds it again.
func prepare[T any](c *Call, i int, build func(v *Value) T) (state T, ok bool) {
	n := c.Node
	v := c.Input(i)
	if v == nil || c.sess == nil {
		return state, false
	}
	sl := n.prep.slot((*T)(nil))
	if !sl.done.Load() {
		sl.mu.Lock()
		if !sl.done.Load() {
			if i >= len(n.Inputs) || !c.sess.constantInput(n, n.Inputs[i], v) {
				sl.done.Store(true)
				sl.mu.Unlock()
				return state, false
			}
			state = build(v)
			size := stateBytes(reflect.ValueOf(&state).Elem(), map[uintptr]bool{})
			if err := c.sess.budget.charge(size, func() string { return fmt.Sprintf("prepared weights of %d bytes", size) }); err != nil {
				sl.mu.Unlock()
				return state, true // over budget: used by this call only, garbage after it
			}
			c.sess.budget.prepared.Add(size)
			sl.data, sl.src = state, v
			sl.done.Store(true)
		}
		sl.mu.Unlock()
	}
	if sl.src != v {
		return state, false
	}
	state, ok = sl.data.(T)
	return state, ok
}

// stateBytes is the memory held by a prepared state: the backing arrays of its
// slices and what its pointers reach, each counted once (seen holds their addresses).
func stateBytes(v reflect.Value, seen map[uintptr]bool) int64 {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() || seen[v.Pointer()] {
			return 0
		}
		seen[v.Pointer()] = true
		return int64(v.Type().Elem().Size()) + stateBytes(v.Elem(), seen)
	case reflect.Interface:
		if v.IsNil() {
			return 0
		}
		e := v.Elem()
		n := stateBytes(e, seen)
		if e.Kind() != reflect.Pointer {
			n += int64(e.Type().Size())
		}
		return n
	case reflect.Slice:
		if v.Cap() == 0 || seen[v.Pointer()] {
			return 0
		}
		seen[v.Pointer()] = true
		et := v.Type().Elem()
		n := int64(v.Cap()) * int64(et.Size())
		if holdsMemory(et) {
			for j := range v.Len() {
				n += stateBytes(v.Index(j), seen)
			}
		}
		return n
	case reflect.Array:
		var n int64
		if holdsMemory(v.Type().Elem()) {
			for j := range v.Len() {
				n += stateBytes(v.Index(j), seen)
			}
		}
		return n
	case reflect.Struct:
		var n int64
		for j := range v.NumField() {
			n += stateBytes(v.Field(j), seen)
		}
		return n
	}
	return 0
}

// holdsMemory reports whether values of type t can refer to memory stateBytes counts.
func holdsMemory(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Pointer, reflect.Interface, reflect.Slice:
		return true
	case reflect.Array:
		return holdsMemory(t.Elem())
	case reflect.Struct:
		for j := range t.NumField() {
			if holdsMemory(t.Field(j).Type) {
				return true
			}
		}
	}
	return false
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
