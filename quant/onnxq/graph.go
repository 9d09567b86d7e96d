package onnxq

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/graph"
	"github.com/refit-ml/refit/runtime"
	"github.com/refit-ml/refit/tensor"
)

// constant returns the float32 value of an initializer, or nil.
func constant(e *graph.Editor, name string) *runtime.Value {
	tp := e.Initializer(name)
	if tp == nil {
		return nil
	}
	v, err := runtime.ValueFromProto(tp, nil)
	if err != nil || v.DType != tensor.F32 {
		return nil
	}
	return v
}

// int8Init adds an int8 (signed) or uint8 initializer from values already in range.
func int8Init(e *graph.Editor, base string, dims []int64, v []int32, signed bool) string {
	b := make([]byte, len(v))
	for i, x := range v {
		b[i] = byte(x)
	}
	elem := int32(graph.ElemUint8)
	if signed {
		elem = graph.ElemInt8
	}
	return e.Raw(base, elem, dims, b)
}

// commit applies the queued insertions and replacements and drops initializers
// nothing reads any more.
func commit(e *graph.Editor) {
	e.Commit()
	e.RemoveUnusedInitializers()
}

// nodeLabel names a node for reports and --exclude: its name, or op_index.
func nodeLabel(n *onnxpb.NodeProto, i int) string {
	if n.GetName() != "" {
		return n.GetName()
	}
	return fmt.Sprintf("%s_%d", n.GetOpType(), i)
}

// matcher matches node labels against names or anchored regular expressions.
type matcher struct {
	exact map[string]bool
	res   []*regexp.Regexp
}

func newMatcher(patterns []string) (*matcher, error) {
	m := &matcher{exact: map[string]bool{}}
	for _, p := range patterns {
		m.exact[p] = true
		if strings.ContainsAny(p, `.*+?[](){}|^$\`) {
			re, err := regexp.Compile("^(?:" + p + ")$")
			if err != nil {
				return nil, fmt.Errorf("onnxq: exclude pattern %q: %w", p, err)
			}
			m.res = append(m.res, re)
		}
	}
	return m, nil
}

func (m *matcher) match(s string) bool {
	if m.exact[s] {
		return true
	}
	for _, re := range m.res {
		if re.MatchString(s) {
			return true
		}
	}
	return false
}
