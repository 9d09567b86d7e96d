package tfgraph_test

import (
	"fmt"
	"os"

	"github.com/refit-ml/refit/format/tfgraph"
)

// Reading a SavedModel folder: the serving signature and the variables from its
// checkpoint bundle.
func ExampleDecodeFS() {
	m, err := tfgraph.DecodeFS(os.DirFS("../../tf2onnx/testdata/savedmodel"), ".", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()
	f := m.Source.(*tfgraph.File)
	sig := f.Signatures["serving_default"]
	fmt.Println(m.Format, f.Tags, sig.Inputs["x"].Name, "->", sig.Outputs["prob"].Name)
	fmt.Println(len(m.Tensors), "tensors")
	// Output:
	// savedmodel [serve] x:0 -> prob:0
	// 12 tensors
}
