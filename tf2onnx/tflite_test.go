package tf2onnx

import (
	"bytes"
	"context"
	"errors"
	"os"
	"testing"

	"github.com/refit-ml/refit"
)

// TestTFLiteBadInput feeds truncated and corrupted copies of format/tflite's fixture:
// each must fail with an error, never a panic.
func TestTFLiteBadInput(t *testing.T) {
	good, err := os.ReadFile("../format/tflite/testdata/model.tflite")
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string][]byte{"empty": nil, "magic only": []byte("\x00\x00\x00\x00TFL3"), "truncated": good[:len(good)/2]}
	for _, off := range []int{0, 8, 16, 24, 40} {
		if off+4 <= len(good) {
			b := bytes.Clone(good)
			copy(b[off:], []byte{0xff, 0xff, 0xff, 0x7f})
			cases["corrupt@"+string(rune('0'+off/8))] = b
		}
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := TFLite(context.Background(), bytes.NewReader(b), int64(len(b)), nil)
			if err == nil {
				if len(b) == len(good) {
					return // a corruption that hits unused bytes may still convert; the property is no panic
				}
				t.Fatal("TFLite succeeded on bad input")
			}
			if !errors.Is(err, refit.ErrFormat) && !errors.Is(err, refit.ErrUnsupported) {
				t.Logf("error (neither ErrFormat nor ErrUnsupported): %v", err)
			}
		})
	}
}
