package pytorch

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/internal/pickle"
	"github.com/refit-ml/refit/tensor"
)

const (
	maxWalkDepth  = 1000    // nesting of containers and objects
	maxWalkVisits = 1 << 20 // node visits: shared sub-trees can multiply paths
	maxNameBytes  = 1 << 26 // total bytes of the names generated while walking
)

// walker turns the unpickled object tree into named tensors and metadata.
type walker struct {
	m       *refit.Model
	extract bool
	onPath  map[any]bool
	visits  int
	names   map[string]bool
	// objDepth counts enclosing objects: their scalar attributes are not metadata.
	objDepth int
	// nameBytes bounds the work of naming: a DAG of shared tuples has exponentially many paths.
	nameBytes int
}

func flatten(root any, opts *refit.DecodeOptions) (*refit.Model, error) {
	w := &walker{m: &refit.Model{Format: "pytorch"}, extract: opts.Extract, onPath: map[any]bool{}, names: map[string]bool{}}
	if opts.Key != "" {
		sub, ok := w.lookup(root, opts.Key)
		if !ok {
			return nil, fmt.Errorf("pytorch: key %q not found: %w", opts.Key, refit.ErrFormat)
		}
		root = sub
	}
	if err := w.walk(root, "", 0); err != nil {
		return nil, err
	}
	return w.m, nil
}

func keyString(k any) (string, bool) {
	switch x := k.(type) {
	case string:
		return x, true
	case int64:
		return strconv.FormatInt(x, 10), true
	}
	return "", false
}

// children lists a container's named children.
func (w *walker) children(v any) (names []string, vals []any) {
	switch x := v.(type) {
	case *pickle.Dict:
		for i := range x.Len() {
			if k, ok := keyString(x.Key(i)); ok {
				names = append(names, k)
				vals = append(vals, x.Value(i))
			}
		}
	case *pickle.List:
		for i, e := range x.Items {
			names, vals = append(names, strconv.Itoa(i)), append(vals, e)
		}
	case pickle.Tuple:
		for i, e := range x {
			names, vals = append(names, strconv.Itoa(i)), append(vals, e)
		}
	case *pickle.Object:
		return w.objectChildren(x)
	}
	return names, vals
}

// objectChildren names an inert object's parts as torch's state_dict would: an nn.Module's
// _parameters, _buffers and _modules by key, and otherwise its attributes (TorchScript
// modules keep parameters as plain attributes).
func (w *walker) objectChildren(o *pickle.Object) (names []string, vals []any) {
	if !w.extract {
		return nil, nil
	}
	state := o.State
	if t, ok := state.(pickle.Tuple); ok && len(t) == 2 { // (dict, slots)
		state = t[0]
	}
	d, _ := state.(*pickle.Dict)
	if d != nil {
		_, hasParams := d.Get("_parameters")
		_, hasModules := d.Get("_modules")
		if hasParams || hasModules {
			for _, attr := range []string{"_parameters", "_buffers", "_modules"} {
				sub, _ := d.Get(attr)
				n, v := w.children(sub)
				names, vals = append(names, n...), append(vals, v...)
			}
			return names, vals
		}
		n, v := w.children(d)
		names, vals = append(names, n...), append(vals, v...)
	}
	if o.DictItems != nil {
		n, v := w.children(o.DictItems)
		names, vals = append(names, n...), append(vals, v...)
	}
	for i, e := range o.Items {
		names, vals = append(names, strconv.Itoa(i)), append(vals, e)
	}
	for i, e := range o.Args {
		if _, ok := e.(*tensorRef); ok {
			names, vals = append(names, strconv.Itoa(i)), append(vals, e)
		}
	}
	return names, vals
}

// lookup finds the sub-tree named by a dotted key; dict keys may themselves contain dots.
func (w *walker) lookup(v any, key string) (any, bool) {
	if key == "" {
		return v, true
	}
	names, vals := w.children(v)
	for i, n := range names {
		if n == key {
			return vals[i], true
		}
		if rest, ok := strings.CutPrefix(key, n+"."); ok {
			if sub, ok := w.lookup(vals[i], rest); ok {
				return sub, true
			}
		}
	}
	return nil, false
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

func (w *walker) walk(v any, name string, depth int) error {
	w.visits++
	w.nameBytes += len(name)
	if w.visits > maxWalkVisits || w.nameBytes > maxNameBytes {
		return errorf("more than %d nested values (or %d bytes of names): shared references multiply paths", maxWalkVisits, maxNameBytes)
	}
	if depth > maxWalkDepth {
		return errorf("nesting deeper than %d", maxWalkDepth)
	}
	switch x := v.(type) {
	case *tensorRef:
		return w.addTensor(x, name)
	case nil:
		return nil
	case bool, int64, float64, string:
		if name != "" && w.objDepth == 0 {
			w.m.Metadata.Set(name, x)
		}
		return nil
	case *big.Int:
		if name != "" {
			w.m.Metadata.Set(name, x.String())
		}
		return nil
	case *pickle.Dict, *pickle.List, *pickle.Object:
		if w.onPath[x] {
			return nil // a reference cycle: already being named higher up
		}
		w.onPath[x] = true
		defer delete(w.onPath, x)
	case pickle.Tuple:
	case *pickle.Class:
		return nil
	default:
		return nil // bytes, sets, dtypes, devices: nothing to name
	}
	if o, ok := v.(*pickle.Object); ok {
		if !w.extract {
			return fmt.Errorf("pytorch: %s.%s: %w", o.Module, o.Name, refit.ErrUnsupported)
		}
		w.objDepth++
		defer func() { w.objDepth-- }()
	}
	names, vals := w.children(v)
	for i := range names {
		if err := w.walk(vals[i], join(name, names[i]), depth+1); err != nil {
			return err
		}
	}
	return nil
}

func (w *walker) addTensor(t *tensorRef, name string) error {
	if name == "" {
		name = "tensor"
	}
	if w.names[name] {
		return errorf("two tensors named %q", name)
	}
	w.names[name] = true
	d := t.st.dtype
	data, err := t.data(d)
	if err != nil {
		return fmt.Errorf("pytorch: tensor %q: %w", name, err)
	}
	tt, err := tensor.New(name, d, tensor.Shape(t.shape).Clone(), data)
	if err != nil {
		return errorf("%v", err)
	}
	w.m.Tensors = append(w.m.Tensors, tt)
	return nil
}
