package tf2onnx

import (
	"github.com/refit-ml/refit/graph"
)

// Operators that come with TensorFlow control flow: the loop condition's comparisons
// and logic, and the TensorList / TensorArray operators tf.map_fn builds its loops
// from. A list is represented by the stacked tensor of its elements; writes inside a
// loop are scan outputs (see tf_control.go), so the list operators left here are
// reads and identities.

var controlBinary = map[string]string{"Less": "Less", "Greater": "Greater", "LessEqual": "LessOrEqual",
	"GreaterEqual": "GreaterOrEqual", "Equal": "Equal", "LogicalAnd": "And", "LogicalOr": "Or"}

// controlOp converts n if it is one of these operators; ok reports whether it was.
func (c *tfjsConverter) controlOp(n *gNode) (ok bool, err error) {
	if op, found := controlBinary[n.Op]; found {
		ins, err := c.inputs(n, 2)
		if err != nil {
			return true, err
		}
		x, err := c.value(ins[0])
		if err != nil {
			return true, err
		}
		y, err := c.value(ins[1])
		if err != nil {
			return true, err
		}
		c.names[n.Name] = c.b.Op(op, n.Name, []string{x, y})
		return true, nil
	}
	// list is the input holding the stacked elements, index the element read.
	list, index := -1, -1
	switch n.Op {
	case "LogicalNot", "NotEqual":
		return true, c.not(n)
	case "Range": // TensorArray scatters and gathers index with it
		ins, err := c.inputs(n, 3)
		if err != nil {
			return true, err
		}
		var xs [3]string
		for i := range xs {
			if xs[i], err = c.value(ins[i]); err != nil {
				return true, err
			}
		}
		c.names[n.Name] = c.b.Op("Range", n.Name, xs[:])
		return true, nil
	case "SelectV2": // broadcasting like ONNX Where (tf_functions.go); broadcasting like ONNX Where
		ins, err := c.inputs(n, 3)
		if err != nil {
			return true, err
		}
		var xs [3]string
		for i := range xs {
			if xs[i], err = c.value(ins[i]); err != nil {
				return true, err
			}
		}
		c.names[n.Name] = c.b.Op("Where", n.Name, xs[:])
		return true, nil
	case "TensorListReserve", "TensorArrayV3":
		// A list with nothing written yet: only loops write into it (as scan outputs).
		return true, nil
	case "TensorListFromTensor", "TensorListStack":
		list = 0
	case "TensorArrayScatterV3":
		if err := c.wholeRange(n, 1); err != nil {
			return true, err
		}
		list = 2
	case "TensorArrayGatherV3":
		if err := c.wholeRange(n, 1); err != nil {
			return true, err
		}
		list = 2
	case "TensorListGetItem":
		list, index = 0, 1
	case "TensorArrayReadV3":
		list, index = 2, 1
	case "TensorArraySizeV3":
		list, index = 1, -2
	case "TensorListLength":
		list, index = 0, -2
	default:
		return false, nil
	}
	ins, err := c.inputs(n, list+1)
	if err != nil {
		return true, err
	}
	x, err := c.value(ins[list])
	if err != nil {
		return true, err
	}
	switch index {
	case -1:
		c.names[n.Name] = c.b.Op("Identity", n.Name, []string{x})
	case -2: // the number of elements: the leading dimension
		shape := c.b.Op("Shape", n.Name+"_shape", []string{x})
		c.names[n.Name] = c.b.Op("Gather", n.Name, []string{shape, c.b.IntData(n.Name+"_0", elemInt64, nil, []int64{0})})
	default:
		if len(ins) <= index {
			return true, unsupported("%s without an index", n.Op)
		}
		i, err := c.value(ins[index])
		if err != nil {
			return true, err
		}
		c.names[n.Name] = c.b.Op("Gather", n.Name, []string{x, i}, graph.IntAttr("axis", 0))
	}
	return true, nil
}

func (c *tfjsConverter) not(n *gNode) error {
	ins, err := c.inputs(n, 1)
	if err != nil {
		return err
	}
	x, err := c.value(ins[0])
	if err != nil {
		return err
	}
	if n.Op == "NotEqual" {
		if len(ins) < 2 {
			return unsupported("NotEqual with one input")
		}
		y, err := c.value(ins[1])
		if err != nil {
			return err
		}
		x = c.b.Op("Equal", n.Name+"_eq", []string{x, y})
	}
	c.names[n.Name] = c.b.Op("Not", n.Name, []string{x})
	return nil
}

// wholeRange checks that input k of n (the indices of a TensorArray scatter or
// gather) is 0, 1, ..., n-1 in order: a constant, or a Range from 0 by 1. Other index
// lists would reorder elements, which the stacked representation does not model.
func (c *tfjsConverter) wholeRange(n *gNode, k int) error {
	ins, err := c.inputs(n, k+1)
	if err != nil {
		return err
	}
	if v, ok, err := c.constant(refNode(ins[k])); err != nil {
		return err
	} else if ok {
		for i, x := range v.ints() {
			if x != int64(i) {
				return unsupported("%s with indices other than 0..n-1", n.Op)
			}
		}
		return nil
	}
	r := c.nodes[refNode(ins[k])]
	if r == nil || r.Op != "Range" {
		return unsupported("%s with computed indices", n.Op)
	}
	rin := dataInputs(r)
	if len(rin) != 3 {
		return unsupported("%s with computed indices", n.Op)
	}
	start, ok1, _ := c.constant(refNode(rin[0]))
	delta, ok2, _ := c.constant(refNode(rin[2]))
	if !ok1 || !ok2 || start.len() != 1 || delta.len() != 1 || start.ints()[0] != 0 || delta.ints()[0] != 1 {
		return unsupported("%s with indices other than 0..n-1", n.Op)
	}
	return nil
}
