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

// TestTFLiteQuantizedQDQ converts format/tflite's generated int8 model: quantized
// activations become QuantizeLinear/DequantizeLinear pairs around float operators,
// and the per-channel conv and depthwise weights stay int8 behind a
// DequantizeLinear along the output-channel axis.
func TestTFLiteQuantizedQDQ(t *testing.T) {
	b, err := os.ReadFile("../format/tflite/testdata/quant_int8.tflite")
	if err != nil {
		t.Fatal(err)
	}
	mp, err := TFLite(context.Background(), bytes.NewReader(b), int64(len(b)), nil)
	if err != nil {
		t.Fatal(err)
	}
	init := map[string]int32{}
	for _, tp := range mp.Graph.Initializer {
		init[tp.GetName()] = tp.GetDataType()
	}
	perChannel := 0
	for _, n := range mp.Graph.Node {
		if n.GetOpType() != "DequantizeLinear" {
			continue
		}
		for _, a := range n.Attribute {
			if a.GetName() == "axis" {
				if a.GetI() != 0 || init[n.Input[0]] != elemInt8 {
					t.Errorf("per-channel DequantizeLinear %q: axis %d, weights of type %d", n.GetName(), a.GetI(), init[n.Input[0]])
				}
				perChannel++
			}
		}
	}
	if perChannel != 2 {
		t.Errorf("%d per-channel weight DequantizeLinear nodes, want 2 (conv, depthwise)", perChannel)
	}
	ops := countOps(mp)
	// QUANTIZE, and a QuantizeLinear after each of the 7 operators that follow it
	if ops["QuantizeLinear"] != 8 {
		t.Errorf("%d QuantizeLinear nodes, want 8: %v", ops["QuantizeLinear"], ops)
	}
	if ops["Conv"] != 2 || ops["Gemm"] != 1 || ops["Softmax"] != 1 {
		t.Errorf("operators %v", ops)
	}
}
