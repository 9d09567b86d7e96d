package onnxq

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/graph"
)

// quantOpset is the default-domain opset the quantized graph needs: DynamicQuantizeLinear
// came in opset 11, QuantizeLinear/DequantizeLinear with an axis (per-channel) in 13, the
// other quantized operators in 10. 0: nothing quantized was added.
func quantOpset(g *onnxpb.GraphProto) int64 {
	var need int64
	for _, n := range g.GetNode() {
		if n.GetDomain() != "" && n.GetDomain() != "ai.onnx" {
			continue
		}
		switch n.GetOpType() {
		case "DynamicQuantizeLinear":
			need = max(need, 11)
		case "QuantizeLinear", "DequantizeLinear":
			need = max(need, 10)
			for _, a := range n.GetAttribute() {
				if a.GetName() == "axis" {
					need = max(need, 13)
				}
			}
		case "QLinearConv", "QLinearMatMul", "MatMulInteger", "ConvInteger":
			need = max(need, 10)
		}
		for _, sg := range graph.Subgraphs(n) {
			need = max(need, quantOpset(sg))
		}
	}
	return need
}

// upgradeOpset raises the model's default-domain opset to v, rewriting the operators
// whose signature changed on the way (Paddle2ONNX still writes opset 9: Clip and Slice
// with attributes, Squeeze with an axes attribute, Softmax over a flattened 2-D view).
// An operator it cannot carry over is an error and leaves mp unchanged in meaning only
// if the caller drops mp.
func upgradeOpset(mp *onnxpb.ModelProto, v int64) error {
	from := graph.Opset(mp, "")
	if from >= v {
		return nil
	}
	names := map[string]bool{}
	collectNames(mp.GetGraph(), names)
	u := &upgrader{from: from, to: v, names: names}
	if err := u.graph(mp.GetGraph()); err != nil {
		return err
	}
	graph.EnsureOpset(mp, "", v)
	return nil
}

type upgrader struct {
	from, to int64
	names    map[string]bool
}

func collectNames(g *onnxpb.GraphProto, names map[string]bool) {
	for _, t := range g.GetInitializer() {
		names[t.GetName()] = true
	}
	for _, vi := range g.GetInput() {
		names[vi.GetName()] = true
	}
	for _, n := range g.GetNode() {
		for _, o := range n.GetOutput() {
			names[o] = true
		}
		for _, a := range n.GetAttribute() {
			for _, sg := range append(slices.Clone(a.GetGraphs()), a.GetG()) {
				if sg != nil {
					collectNames(sg, names)
				}
			}
		}
	}
}

func (u *upgrader) fresh(base string) string {
	name := base
	for i := 1; u.names[name]; i++ {
		name = fmt.Sprintf("%s_%d", base, i)
	}
	u.names[name] = true
	return name
}

// int64s adds a 1-D int64 initializer to g and returns its name.
func (u *upgrader) int64s(g *onnxpb.GraphProto, base string, v []int64) string {
	raw := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(raw[8*i:], uint64(x))
	}
	name := u.fresh(base)
	g.Initializer = append(g.Initializer, &onnxpb.TensorProto{Name: proto.String(name),
		DataType: proto.Int32(int32(onnxpb.TensorProto_INT64)), Dims: []int64{int64(len(v))}, RawData: raw})
	return name
}

// float32Scalar adds a scalar float initializer to g and returns its name.
func (u *upgrader) float32Scalar(g *onnxpb.GraphProto, base string, f float32) string {
	raw := binary.LittleEndian.AppendUint32(nil, math.Float32bits(f))
	name := u.fresh(base)
	g.Initializer = append(g.Initializer, &onnxpb.TensorProto{Name: proto.String(name),
		DataType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), RawData: raw})
	return name
}

// takeAttr removes attribute name from n and returns it (nil when absent).
func takeAttr(n *onnxpb.NodeProto, name string) *onnxpb.AttributeProto {
	for i, a := range n.GetAttribute() {
		if a.GetName() == name {
			n.Attribute = slices.Delete(n.Attribute, i, i+1)
			return a
		}
	}
	return nil
}

// setInput puts name at input position i of n, padding skipped optional inputs with "".
func setInput(n *onnxpb.NodeProto, i int, name string) {
	for len(n.Input) <= i {
		n.Input = append(n.Input, "")
	}
	n.Input[i] = name
}

// changed reports whether an operator's definition changed at version v within the
// upgrade (from, to].
func (u *upgrader) changed(v int64) bool { return u.from < v && v <= u.to }

// reduceAxes18 are the reductions whose axes moved from an attribute to an input in
// opset 18 (ReduceSum did in 13).
var reduceAxes18 = map[string]bool{"ReduceMean": true, "ReduceMax": true, "ReduceMin": true, "ReduceProd": true,
	"ReduceL1": true, "ReduceL2": true, "ReduceLogSum": true, "ReduceLogSumExp": true, "ReduceSumSquare": true}

func (u *upgrader) graph(g *onnxpb.GraphProto) error {
	var out []*onnxpb.NodeProto
	for _, n := range g.GetNode() {
		for _, a := range n.GetAttribute() {
			for _, sg := range append(slices.Clone(a.GetGraphs()), a.GetG()) {
				if sg != nil {
					if err := u.graph(sg); err != nil {
						return err
					}
				}
			}
		}
		if n.GetDomain() != "" && n.GetDomain() != "ai.onnx" {
			out = append(out, n)
			continue
		}
		base := n.GetName()
		if base == "" && len(n.GetOutput()) > 0 {
			base = n.GetOutput()[0]
		}
		switch op := n.GetOpType(); {
		case op == "Clip" && u.changed(11):
			// min and max became optional inputs.
			if a := takeAttr(n, "min"); a != nil {
				setInput(n, 1, u.float32Scalar(g, base+"_min", a.GetF()))
			}
			if a := takeAttr(n, "max"); a != nil {
				setInput(n, 2, u.float32Scalar(g, base+"_max", a.GetF()))
			}
		case op == "Slice" && u.changed(10):
			starts, ends, axes := takeAttr(n, "starts"), takeAttr(n, "ends"), takeAttr(n, "axes")
			if starts == nil || ends == nil {
				return fmt.Errorf("onnxq: upgrading opset %d to %d: Slice %q lacks starts or ends: %w", u.from, u.to, n.GetName(), refit.ErrFormat)
			}
			setInput(n, 1, u.int64s(g, base+"_starts", starts.GetInts()))
			setInput(n, 2, u.int64s(g, base+"_ends", ends.GetInts()))
			if axes != nil {
				setInput(n, 3, u.int64s(g, base+"_axes", axes.GetInts()))
			}
		case (op == "Squeeze" || op == "Unsqueeze" || op == "ReduceSum") && u.changed(13):
			if a := takeAttr(n, "axes"); a != nil {
				setInput(n, 1, u.int64s(g, base+"_axes", a.GetInts()))
			}
		case reduceAxes18[op] && u.changed(18):
			if a := takeAttr(n, "axes"); a != nil {
				setInput(n, 1, u.int64s(g, base+"_axes", a.GetInts()))
			}
		case op == "Split" && u.changed(13):
			if a := takeAttr(n, "split"); a != nil {
				setInput(n, 1, u.int64s(g, base+"_split", a.GetInts()))
			}
		case op == "Pad" && u.changed(11):
			pads, value := takeAttr(n, "pads"), takeAttr(n, "value")
			if pads == nil {
				return fmt.Errorf("onnxq: upgrading opset %d to %d: Pad %q lacks pads: %w", u.from, u.to, n.GetName(), refit.ErrFormat)
			}
			setInput(n, 1, u.int64s(g, base+"_pads", pads.GetInts()))
			if value != nil {
				setInput(n, 2, u.float32Scalar(g, base+"_value", value.GetF()))
			}
		case op == "TopK" && u.changed(10):
			k := takeAttr(n, "k")
			if k == nil {
				return fmt.Errorf("onnxq: upgrading opset %d to %d: TopK %q lacks k: %w", u.from, u.to, n.GetName(), refit.ErrFormat)
			}
			setInput(n, 1, u.int64s(g, base+"_k", []int64{k.GetI()}))
		case op == "Dropout" && u.changed(12):
			// ratio became an input; inference ignores it.
			takeAttr(n, "ratio")
		case (op == "Softmax" || op == "LogSoftmax" || op == "Hardmax") && u.changed(13):
			// Before 13 these normalized over all dimensions from axis on (a 2-D view);
			// since 13 over one axis. Flatten, normalize the last axis, and restore the shape.
			if len(n.GetInput()) != 1 || len(n.GetOutput()) != 1 {
				return fmt.Errorf("onnxq: %s %q has %d inputs and %d outputs, want 1 and 1: %w", op, n.GetName(), len(n.GetInput()), len(n.GetOutput()), refit.ErrFormat)
			}
			axis := int64(1)
			if a := takeAttr(n, "axis"); a != nil {
				axis = a.GetI()
			}
			x, y := n.GetInput()[0], n.GetOutput()[0]
			shape, flat, norm := u.fresh(base+"_shape"), u.fresh(base+"_flat"), u.fresh(base+"_2d")
			out = append(out,
				&onnxpb.NodeProto{OpType: proto.String("Shape"), Name: proto.String(shape), Input: []string{x}, Output: []string{shape}},
				&onnxpb.NodeProto{OpType: proto.String("Flatten"), Name: proto.String(flat), Input: []string{x}, Output: []string{flat},
					Attribute: []*onnxpb.AttributeProto{{Name: proto.String("axis"), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(axis)}}},
				&onnxpb.NodeProto{OpType: n.OpType, Name: n.Name, Input: []string{flat}, Output: []string{norm},
					Attribute: []*onnxpb.AttributeProto{{Name: proto.String("axis"), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(-1)}}},
				&onnxpb.NodeProto{OpType: proto.String("Reshape"), Name: proto.String(u.fresh(base + "_reshape")), Input: []string{norm, shape}, Output: []string{y}},
			)
			continue
		case (op == "Upsample" || op == "Scatter") && u.changed(10),
			op == "Resize" && u.changed(11):
			return fmt.Errorf("onnxq: quantizing needs opset %d, and %s %q (opset %d) has no rewrite to it: %w", u.to, op, n.GetName(), u.from, refit.ErrUnsupported)
		}
		out = append(out, n)
	}
	g.Node = out
	return nil
}
