package optimize

import (
	"context"
	"fmt"

	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/graph"
)

// Evaluator runs one node on constant inputs; graph/eval.Node is one.
type Evaluator = graph.Evaluator

// Options choose passes. The zero value runs every pass except constant folding,
// which runs when Fold is set.
type Options struct {
	Only []string  // run only these passes (by name)
	Skip []string  // skip these passes
	Fold Evaluator // evaluator for constant folding
	// MaxFoldBytes caps the size of a folded constant (default 64 MiB): folding
	// must not blow up a model (e.g. a ConstantOfShape of a huge shape).
	MaxFoldBytes int64
	// MaxFoldTotal caps the bytes of all folded constants together (default a
	// quarter of refit.DefaultMaxMemory, at least MaxFoldBytes): nested Concats or
	// Tiles of a tiny constant make a constant twice the size at every node, each
	// under MaxFoldBytes, that the model then keeps (and its copies) in memory.
	MaxFoldTotal int64
}

// Pass is one rewrite. Run returns how many rewrites it made.
type Pass struct {
	Name string
	Doc  string
	Run  func(g *state) (int, error)
}

// Passes lists every pass in the order Model runs them.
func Passes() []Pass {
	return []Pass{
		{"lift-constants", "turn Constant nodes and Identity copies of initializers into initializers", liftConstants},
		{"fold-constants", "evaluate nodes whose inputs are all constants", foldConstants},
		{"infer-shapes", "describe intermediate values' types and shapes where inputs and constants determine them", inferShapes},
		{"eliminate-identity", "remove Identity, inference Dropout and no-op Transpose/Reshape/Cast", eliminateIdentity},
		{"fuse-transposes", "merge consecutive Transposes; drop identity permutations", fuseTransposes},
		{"fuse-reshapes", "merge consecutive Reshapes/Flattens into one Reshape", fuseReshapes},
		{"fold-batchnorm", "fold BatchNormalization into a preceding Conv or Gemm", foldBatchNorm},
		{"fold-conv-affine", "fold a per-channel Mul or Add of a constant into the Conv before it", foldConvAffine},
		{"fuse-matmul-add", "fuse MatMul + Add of a bias into Gemm", fuseMatMulAdd},
		{"cse", "merge nodes that compute the same thing", eliminateCommonSubexpressions},
		{"remove-dead", "remove nodes whose outputs are never used", removeDeadNodes},
		{"remove-unused-initializers", "remove initializers nothing reads", removeUnusedInitializers},
	}
}

// Report says what Model changed.
type Report struct {
	NodesBefore        int         `json:"nodes_before"`
	NodesAfter         int         `json:"nodes_after"`
	InitializersBefore int         `json:"initializers_before"`
	InitializersAfter  int         `json:"initializers_after"`
	Passes             []PassCount `json:"passes"`
}

// PassCount is how many rewrites one pass made in total.
type PassCount struct {
	Name    string `json:"name"`
	Changes int    `json:"changes"`
}

// Model returns an optimized copy of mp. Passes repeat until none changes anything
// (at most 8 rounds).
func Model(ctx context.Context, mp *onnxpb.ModelProto, opts *Options) (*onnxpb.ModelProto, *Report, error) {
	if opts == nil {
		opts = &Options{}
	}
	if mp.GetGraph() == nil {
		return nil, nil, fmt.Errorf("optimize: model has no graph")
	}
	out := cloneSharingWeights(mp)
	g := newState(out, opts)
	rep := &Report{NodesBefore: len(out.Graph.Node), InitializersBefore: len(out.Graph.Initializer)}
	counts := map[string]int{}
	passes := selected(opts)
	for round := 0; round < 8; round++ {
		total := 0
		for _, p := range passes {
			if err := ctx.Err(); err != nil {
				return nil, nil, err
			}
			n, err := p.Run(g)
			if err != nil {
				return nil, nil, fmt.Errorf("optimize: %s: %w", p.Name, err)
			}
			counts[p.Name] += n
			total += n
		}
		if total == 0 {
			break
		}
	}
	g.Compact()
	g.dropStaleValueInfo()
	for _, p := range passes {
		rep.Passes = append(rep.Passes, PassCount{p.Name, counts[p.Name]})
	}
	rep.NodesAfter = len(out.Graph.Node)
	rep.InitializersAfter = len(out.Graph.Initializer)
	return out, rep, nil
}

// PrepareOptions configure Prepare; the zero value lifts constants without folding.
type PrepareOptions struct {
	Fold         Evaluator // evaluator for constant folding (nil: no folding)
	MaxFoldBytes int64     // see Options.MaxFoldBytes
}

// PreparePasses are the passes Prepare runs: the model preparation every ONNX
// command applies before its own work.
var PreparePasses = []string{"lift-constants", "fold-constants", "infer-shapes", "remove-unused-initializers"}

// Prepare returns a copy of mp with its weights where every transform looks for
// them: Constant nodes (value, value_float(s), value_int(s), sparse_value) and
// Identity copies of initializers become initializers, nodes whose inputs are all
// constant are folded (when opts.Fold is set), and intermediate values get their
// types and shapes where inputs and constants determine them (infer-shapes). Graph output names and the names
// subgraphs read stay as they are, so the result computes the same outputs. It is
// the optimizer restricted to PreparePasses; mp is not modified.
func Prepare(ctx context.Context, mp *onnxpb.ModelProto, opts *PrepareOptions) (*onnxpb.ModelProto, *Report, error) {
	if opts == nil {
		opts = &PrepareOptions{}
	}
	return Model(ctx, mp, &Options{Only: PreparePasses, Fold: opts.Fold, MaxFoldBytes: opts.MaxFoldBytes})
}

func selected(opts *Options) []Pass {
	var out []Pass
	for _, p := range Passes() {
		if p.Name == "fold-constants" && opts.Fold == nil {
			continue
		}
		if len(opts.Only) > 0 && !contains(opts.Only, p.Name) {
			continue
		}
		if contains(opts.Skip, p.Name) {
			continue
		}
		out = append(out, p)
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
