package tf2onnx

import (
	"errors"
	"slices"
	"testing"

	"github.com/refit-ml/refit"
)

// ttbOptions are the custom options of a TransformTensorBilinear in MediaPipe's
// face_landmark_with_attention.tflite: {output_height: 16, output_width: 16}.
var ttbOptions = []byte("output_height\x00output_width\x00\x02\x1c\x0f\x02\x01\x02\x10\x10\x04\x04\x04\x24\x01")

func TestFlexMap(t *testing.T) {
	m, err := flexMap(ttbOptions)
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 2 || !slices.Equal(m["output_height"], []float64{16}) || !slices.Equal(m["output_width"], []float64{16}) {
		t.Errorf("got %v", m)
	}
	// every truncation and single-byte corruption is an error or a map, never a panic
	for i := range ttbOptions {
		if _, err := flexMap(ttbOptions[i:]); err == nil && i > 0 {
			t.Errorf("suffix from %d parsed", i)
		}
		for _, v := range []byte{0, 0x7f, 0xff} {
			b := slices.Clone(ttbOptions)
			b[i] = v
			if _, err := flexMap(b); err != nil && !errors.Is(err, refit.ErrFormat) {
				if _, ok := isUnsupported(err); !ok {
					t.Errorf("corrupt byte %d: %v", i, err)
				}
			}
		}
	}
}
