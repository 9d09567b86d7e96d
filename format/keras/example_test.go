package keras_test

import (
	"fmt"

	"github.com/refit-ml/refit"
	_ "github.com/refit-ml/refit/format/keras"
)

// Open a Keras 3 archive; variables are named by layer and index.
func Example() {
	m, err := refit.Open("testdata/model.keras")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()
	for _, t := range m.Tensors[:3] {
		fmt.Println(t.Name, t.DType, t.Shape)
	}
	// Output:
	// batch_normalization/vars/0 F32 [4]
	// batch_normalization/vars/1 F32 [4]
	// batch_normalization/vars/2 F32 [4]
}
