package tfcheckpoint_test

import (
	"fmt"
	"os"

	"github.com/refit-ml/refit/format/tfcheckpoint"
)

// Decode a SavedModel's variables and list its tensors.
func ExampleDecodeFS() {
	m, err := tfcheckpoint.DecodeFS(os.DirFS("testdata/saved_model"), ".", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()
	for _, t := range m.Tensors {
		fmt.Println(t.Name, t.DType, t.Shape)
	}
	fmt.Println(tfcheckpoint.Verify(m))
	// Output:
	// layer_with_weights-0/bias/.ATTRIBUTES/VARIABLE_VALUE F32 [4]
	// layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE F32 [3, 4]
	// <nil>
}
