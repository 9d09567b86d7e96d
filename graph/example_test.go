package graph_test

import (
	"fmt"

	"github.com/refit-ml/refit/graph"
)

// A Builder makes a graph with fresh names; an Editor rewrites it.
func Example() {
	var b graph.Builder
	b.Input(graph.ValueInfo("x", graph.ElemFloat, []int64{-1, 2}, func(int) string { return "batch" }))
	w := b.Float("w", []int64{2, 2}, []float32{1, 0, 0, 1})
	y := b.Op("MatMul", "y", []string{"x", w})
	z := b.Op("Identity", "y", []string{y}) // "y" is taken: the output is y_1
	b.Output(graph.ValueInfo(z, graph.ElemFloat, nil, nil))
	b.Op("Relu", "unused", []string{y})
	mp := graph.Model(b.Graph("example"), "doc", 17)

	e := graph.NewEditor(mp.Graph)
	fmt.Println("consumers of y:", len(e.Consumers(y)))
	fmt.Println("dead nodes removed:", e.RemoveDead())
	e.Compact()
	for _, n := range mp.Graph.Node {
		fmt.Println(n.GetOpType(), n.GetInput(), "->", n.GetOutput(), graph.Int(n, "axis", -1))
	}
	// Output:
	// consumers of y: 2
	// dead nodes removed: 1
	// MatMul [x w] -> [y] -1
	// Identity [y] -> [y_1] -1
}
