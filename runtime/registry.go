package runtime

import (
	"fmt"
	"slices"
	"sync"
)

// Kernel computes a node's outputs from its inputs. c.Inputs holds one value per
// declared input, nil for an omitted optional input. A kernel returns one value per
// node output (trailing optional outputs may be left off); it allocates outputs with
// c.Alloc, may return an input unchanged or a view of it (see View), and must never
// modify its inputs.
type Kernel func(c *Call) ([]*Value, error)

// Op registers a kernel for one operator over a range of opset versions: from Since up to
// the next registration of the same (Domain, Type).
type Op struct {
	Domain string // "" for the default ONNX domain
	Type   string // op_type, e.g. "Conv"
	Since  int64  // first opset version this kernel implements
	Kernel Kernel

	// ViaFloat32 makes the executor convert F16 and BF16 inputs to F32 before the
	// kernel runs and convert F32 outputs back, so a float32 kernel serves all three.
	ViaFloat32 bool

	// Nondeterministic marks kernels whose outputs vary from run to run (random
	// sampling): the session never folds them into constants at load.
	Nondeterministic bool
}

type opKey struct{ domain, typ string }

var (
	opsMu sync.RWMutex
	ops   = map[opKey][]Op{} // sorted by Since
)

// Register adds an operator kernel. It panics on an empty type, a nil kernel, or a
// duplicate (Domain, Type, Since): these are programmer errors. Operator families call
// it from init.
func Register(op Op) {
	if op.Type == "" || op.Kernel == nil {
		panic("runtime: Register of an op without a type or kernel")
	}
	if op.Domain == "ai.onnx" {
		op.Domain = ""
	}
	opsMu.Lock()
	defer opsMu.Unlock()
	k := opKey{op.Domain, op.Type}
	for _, o := range ops[k] {
		if o.Since == op.Since {
			panic(fmt.Sprintf("runtime: op %s %q since %d registered twice", op.Domain, op.Type, op.Since))
		}
	}
	ops[k] = append(ops[k], op)
	slices.SortFunc(ops[k], func(a, b Op) int { return int(a.Since - b.Since) })
}

// registerAll registers one kernel for several op types.
func registerAll(since int64, viaF32 bool, kernel func(opType string) Kernel, types ...string) {
	for _, t := range types {
		Register(Op{Type: t, Since: since, Kernel: kernel(t), ViaFloat32: viaF32})
	}
}

// lookupOp finds the kernel for (domain, type) at the model's opset version.
func lookupOp(domain, typ string, version int64) (Op, bool) {
	if domain == "ai.onnx" {
		domain = ""
	}
	opsMu.RLock()
	defer opsMu.RUnlock()
	list := ops[opKey{domain, typ}]
	for i := len(list) - 1; i >= 0; i-- {
		if list[i].Since <= version {
			return list[i], true
		}
	}
	return Op{}, false
}

// Ops lists the registered operators as "domain:Type" (domain omitted for ONNX), sorted.
func Ops() []string {
	opsMu.RLock()
	defer opsMu.RUnlock()
	out := make([]string, 0, len(ops))
	for k := range ops {
		if k.domain == "" {
			out = append(out, k.typ)
		} else {
			out = append(out, k.domain+":"+k.typ)
		}
	}
	slices.Sort(out)
	return out
}
