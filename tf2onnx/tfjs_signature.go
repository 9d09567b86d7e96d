package tf2onnx

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/tfjs"
	"github.com/refit-ml/refit/graph"
)

// ONNX element types beyond graph's (TensorProto.DataType numbers).
const (
	elemBool   = 9
	elemDouble = 11
)

// Inside a converted graph every TensorFlow integer type is int64, every float type
// float32 and bool is bool: TF ops never mix types, so one ONNX type per kind keeps
// all binary ops consistent, and Shape/ArgMax/TopK already produce int64 in ONNX.
// Graph inputs and outputs keep the types TF.js gives them, with a Cast at the edge.

// tfKind returns the internal ONNX element type of a TF DataType ("DT_INT32" ...).
func tfKind(dtype string) int32 {
	switch dtype {
	case "DT_BOOL":
		return elemBool
	case "DT_INT32", "DT_INT64", "DT_INT8", "DT_UINT8", "DT_INT16", "DT_UINT16", "DT_UINT32":
		return elemInt64
	}
	return elemFloat
}

// tfEdgeElem returns the ONNX element type a graph input or output of dtype declares.
func tfEdgeElem(dtype string) int32 {
	switch dtype {
	case "DT_BOOL":
		return elemBool
	case "DT_INT32":
		return elemInt32
	case "DT_INT64":
		return elemInt64
	case "DT_UINT8":
		return elemUint8
	case "DT_INT8":
		return elemInt8
	}
	return elemFloat
}

func (n *gNode) dtype(name string) string {
	a, err := n.attr(name)
	if err != nil || a == nil {
		return ""
	}
	return a.Type
}

// placeholder declares a graph input with the Placeholder's dtype and shape.
func (c *tfjsConverter) placeholder(n *gNode) error {
	var shape []int64
	if a, err := n.attr("shape"); err == nil && a != nil && a.Shape != nil && !a.Shape.UnknownRank {
		shape = []int64{}
		for _, d := range a.Shape.Dim {
			s, err := strconv.ParseInt(d.Size, 10, 64)
			if err != nil {
				return fmt.Errorf("%w: shape dim %q", refit.ErrFormat, d.Size)
			}
			shape = append(shape, s)
		}
	}
	dt := n.dtype("dtype")
	name := c.b.Names.Fresh(n.Name)
	elem := tfEdgeElem(dt)
	c.b.Input(valueInfo(name, elem, shape))
	if kind := tfKind(dt); kind != elem {
		name = c.b.Op("Cast", n.Name+"_cast", []string{name}, graph.IntAttr("to", int64(kind)))
	}
	c.names[n.Name] = name
	return nil
}

// sigTensor is one entry of a TF.js signature's inputs or outputs.
type sigTensor struct {
	Key   string // the signature's key
	Name  string `json:"name"` // tensor name, "node:k"
	DType string `json:"dtype"`
}

// signatureOutputs returns the outputs the model's signature declares, in the order
// model.json lists them (userDefinedMetadata.signature wins over signature, as in TF.js).
func signatureOutputs(mj *tfjs.ModelJSON) ([]sigTensor, error) {
	raw := mj.Signature
	if len(mj.UserDefinedMetadata) > 0 {
		var udm struct {
			Signature json.RawMessage `json:"signature"`
		}
		if err := json.Unmarshal(mj.UserDefinedMetadata, &udm); err == nil && len(udm.Signature) > 0 {
			raw = udm.Signature
		}
	}
	if len(raw) == 0 {
		return nil, nil
	}
	var sig struct {
		Outputs json.RawMessage `json:"outputs"`
	}
	if err := json.Unmarshal(raw, &sig); err != nil {
		return nil, fmt.Errorf("%w: tf2onnx: model.json signature: %v", refit.ErrFormat, err)
	}
	if len(sig.Outputs) == 0 || string(sig.Outputs) == "null" {
		return nil, nil
	}
	// Decode the object key by key to keep its order.
	dec := json.NewDecoder(bytes.NewReader(sig.Outputs))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, fmt.Errorf("%w: tf2onnx: signature outputs are not an object", refit.ErrFormat)
	}
	var out []sigTensor
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%w: tf2onnx: signature outputs: %v", refit.ErrFormat, err)
		}
		key, _ := t.(string)
		var st sigTensor
		if err := dec.Decode(&st); err != nil {
			return nil, fmt.Errorf("%w: tf2onnx: signature output %q: %v", refit.ErrFormat, key, err)
		}
		st.Key = key
		if st.Name == "" {
			st.Name = key
		}
		out = append(out, st)
	}
	return out, nil
}

// graphOutputs declares the graph's outputs: those of the signature, named by its
// keys, when model.json has one; else every non-constant node nobody consumes.
func (c *tfjsConverter) graphOutputs(mj *tfjs.ModelJSON, order []*gNode, consumed map[string]bool) error {
	sig, err := signatureOutputs(mj)
	if err != nil {
		return err
	}
	if len(sig) == 0 {
		for _, n := range order {
			if consumed[n.Name] || n.Op == "Const" || n.Op == "NoOp" || n.Op == "Placeholder" {
				continue
			}
			if err := c.output(n.Name, n.Name, outDType(n)); err != nil {
				return err
			}
		}
		return nil
	}
	for _, st := range sig {
		ref := strings.TrimSuffix(st.Name, ":0")
		if _, ok := c.nodes[strings.SplitN(ref, ":", 2)[0]]; !ok {
			return fmt.Errorf("%w: tf2onnx: signature output %q names unknown tensor %q", refit.ErrFormat, st.Key, st.Name)
		}
		dt := st.DType
		if n := c.nodes[ref]; dt == "" && n != nil { // older signatures carry names only
			dt = outDType(n)
		}
		if err := c.output(st.Key, ref, dt); err != nil {
			return err
		}
	}
	return nil
}

// output adds a graph output named after name holding TF tensor ref of dtype.
func (c *tfjsConverter) output(name, ref, dtype string) error {
	v, err := c.value(ref)
	if err != nil {
		return err
	}
	out := c.b.Names.Fresh(name)
	elem := tfEdgeElem(dtype)
	if elem == tfKind(dtype) {
		c.b.Node("Identity", out, []string{v}, []string{out})
	} else {
		c.b.Node("Cast", out, []string{v}, []string{out}, graph.IntAttr("to", int64(elem)))
	}
	c.b.Output(valueInfo(out, elem, nil))
	return nil
}

// outDType guesses the dtype of a node's first output from its attributes (casts,
// Shape/ArgMax out_type, then T); comparisons give bool.
func outDType(n *gNode) string {
	switch n.Op {
	case "Greater", "GreaterEqual", "Less", "LessEqual", "Equal", "NotEqual", "LogicalAnd", "LogicalOr", "LogicalNot":
		return "DT_BOOL"
	case "Where":
		if len(dataInputs(n)) == 1 {
			return "DT_INT64"
		}
	}
	for _, a := range []string{"DstT", "out_type", "output_type", "T", "dtype"} {
		if dt := n.dtype(a); dt != "" {
			return dt
		}
	}
	return "DT_FLOAT"
}
