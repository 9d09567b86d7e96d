package layout_test

import (
	"slices"
	"testing"

	"github.com/refit-ml/refit"
	_ "github.com/refit-ml/refit/format/keras"
	_ "github.com/refit-ml/refit/format/tfjs"
	"github.com/refit-ml/refit/layout"
	"github.com/refit-ml/refit/tensor"
)

// TestFromDecodedFiles runs the whole path: decode a Keras or TF.js file, read its
// layers from the stored config, map to PyTorch names and layouts.
func TestFromDecodedFiles(t *testing.T) {
	for _, tc := range []struct {
		file, configKey string
		want            []string
	}{
		{"../format/keras/testdata/legacy.h5", "keras.model_config", []string{"dense.weight", "dense.bias",
			"batch_normalization.weight", "batch_normalization.bias", "batch_normalization.running_mean",
			"batch_normalization.running_var", "embedding.weight", "counter/count:0"}},
		{"../format/keras/testdata/model.keras", "keras.config", []string{"dense.weight", "dense.bias",
			"batch_normalization.weight", "batch_normalization.bias", "batch_normalization.running_mean",
			"batch_normalization.running_var", "embedding.weight", "counter/vars/0"}},
		{"../format/tfjs/testdata/layers", "tfjs.model_topology", []string{"dense.weight", "dense.bias"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			m, err := refit.Open(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			layers, err := layout.LayersFromConfig(m.Metadata.String(tc.configKey))
			if err != nil {
				t.Fatal(err)
			}
			out, err := layout.ToPyTorch(m, layers)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, x := range out.Tensors {
				names = append(names, x.Name)
			}
			if !slices.Equal(names[:len(tc.want)], tc.want) {
				t.Fatalf("names %v, want prefix %v", names, tc.want)
			}
			w := out.Tensor("dense.weight")
			if !w.Shape.Equal(tensor.Shape{4, 3}) {
				t.Errorf("dense.weight shape %v, want [4 3]", w.Shape)
			}
			k := m.Tensors[0]
			if !slices.Contains([]string{"dense/kernel:0", "dense/kernel"}, k.Name) {
				k = nil
				for _, x := range m.Tensors {
					if x.Name == "dense/vars/0" {
						k = x
					}
				}
			}
			kv, _ := k.Float32s()
			wv, err := w.Float32s()
			if err != nil {
				t.Fatal(err)
			}
			for o := 0; o < 4; o++ {
				for i := 0; i < 3; i++ {
					if wv[o*3+i] != kv[i*4+o] {
						t.Fatalf("dense.weight[%d][%d] = %v, kernel[%d][%d] = %v", o, i, wv[o*3+i], i, o, kv[i*4+o])
					}
				}
			}
		})
	}
}
