// Package eval evaluates single ONNX nodes with Refit's runtime, for constant
// folding: Node is a graph.Evaluator. It lives apart from package graph so that graph
// editing does not depend on the runtime.
package eval

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/onnx"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/graph"
	"github.com/refit-ml/refit/runtime"
	"github.com/refit-ml/refit/tensor"
)

var _ graph.Evaluator = Node

// MaxOutputBytes caps the outputs of one evaluation, as optimize caps a folded
// constant (64 MiB by default): a node whose outputs would be larger fails with the
// runtime's memory error before they are allocated, instead of being computed only
// to be dropped. (Nested Concats or Tiles of a tiny constant double at every node.)
const MaxOutputBytes = 64 << 20

// Node runs node on constant inputs (nil for omitted optional inputs) as a one-node
// model whose inputs are initializers, at the default-domain opset given. It returns
// one tensor per output of node, nil for omitted outputs. node is not modified.
// The run's memory is its inputs plus MaxOutputBytes, within the process's budget
// (refit.DefaultMaxMemory).
func Node(node *onnxpb.NodeProto, inputs []*tensor.Tensor, opset int64) ([]*tensor.Tensor, error) {
	var inBytes int64
	for _, t := range inputs {
		if t != nil {
			inBytes += t.Size()
		}
	}
	budget := refit.DefaultMaxMemory()
	if inBytes > budget/2 {
		// The inputs are copied into the one-node model before it runs.
		return nil, fmt.Errorf("eval: %s's constant inputs (%s) exceed half the memory budget: %w",
			node.GetOpType(), refit.FormatSize(inBytes), refit.ErrBudget)
	}
	g := &onnxpb.GraphProto{Name: proto.String("fold"), Node: []*onnxpb.NodeProto{proto.Clone(node).(*onnxpb.NodeProto)}}
	for i, t := range inputs {
		if t == nil || i >= len(node.Input) {
			continue
		}
		named := &tensor.Tensor{Name: node.Input[i], DType: t.DType, Shape: t.Shape, Data: t.Data}
		tp, err := onnx.TensorToProto(named)
		if err != nil {
			return nil, err
		}
		g.Initializer = append(g.Initializer, tp)
	}
	for _, o := range node.Output {
		if o != "" {
			g.Output = append(g.Output, &onnxpb.ValueInfoProto{Name: proto.String(o)})
		}
	}
	mp := graph.Model(g, "", opset)
	s, err := runtime.Load(mp, nil, &runtime.Options{NoFolding: true, MaxMemory: min(budget, inBytes+MaxOutputBytes)})
	if err != nil {
		return nil, err
	}
	res, err := s.Run(context.Background(), nil)
	if err != nil {
		return nil, err
	}
	out := make([]*tensor.Tensor, len(node.Output))
	for i, o := range node.Output {
		if v := res[o]; v != nil {
			if out[i], err = v.Tensor(o); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}
