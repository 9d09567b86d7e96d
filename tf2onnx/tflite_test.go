package tf2onnx

import (
	"bytes"
	"context"
	"errors"
	"os"
	"slices"
	"testing"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/tflite"
	"github.com/refit-ml/refit/runtime"
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

// TestTFLiteTransposeConvBias checks the ConvTranspose that MediaPipe's
// Convolution2DTransposeBias becomes against the operator's definition (each input
// pixel scatters weights*value into the output at in*stride - pad_begin + k, over
// an output initialized with the bias), on format/tflite's generated fixture (SAME
// padding with an odd total, stride 2).
func TestTFLiteTransposeConvBias(t *testing.T) {
	b, err := os.ReadFile("../format/tflite/testdata/transpose_conv_bias.tflite")
	if err != nil {
		t.Fatal(err)
	}
	mp, err := TFLite(context.Background(), bytes.NewReader(b), int64(len(b)), nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := tflite.Decode(bytes.NewReader(b), int64(len(b)), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var w, bias []float32
	for _, tn := range m.Tensors {
		v, err := tn.Float32s()
		if err != nil {
			t.Fatal(err)
		}
		switch tn.Name {
		case "w":
			w = v
		case "b":
			bias = v
		}
	}
	const H, W, C, O, K, S = 5, 4, 3, 2, 3, 2
	const outH, outW = S*(H-1) + K - 2, S*(W-1) + K - 1 // SAME trims max(0, K-(in-1)%S-1)
	const padTop, padLeft = 1, 0                        // the smaller half at the start
	x := make([]float32, H*W*C)
	for i := range x {
		x[i] = float32(i%7) - 3
	}
	want := make([]float32, outH*outW*O)
	for i := range want {
		want[i] = bias[i%O]
	}
	for iy := range H {
		for ix := range W {
			for ic := range C {
				for ky := range K {
					for kx := range K {
						oy, ox := iy*S-padTop+ky, ix*S-padLeft+kx
						if oy < 0 || oy >= outH || ox < 0 || ox >= outW {
							continue
						}
						for oc := range O {
							want[(oy*outW+ox)*O+oc] += x[(iy*W+ix)*C+ic] * w[((oc*K+ky)*K+kx)*C+ic]
						}
					}
				}
			}
		}
	}
	in, err := runtime.FromSlice(x, 1, H, W, C)
	if err != nil {
		t.Fatal(err)
	}
	got := runRefit(t, mp, map[string]*runtime.Value{mp.Graph.Input[0].GetName(): in})
	if len(got) != 1 || !slices.Equal(got[0].Shape, []int64{1, outH, outW, O}) {
		t.Fatalf("output shape %v, want [1 %d %d %d]", got[0].Shape, outH, outW, O)
	}
	if d := maxAbsDiff(got[0].Float32s(), want); d > 1e-5 {
		t.Errorf("max abs difference from the operator's definition %g", d)
	}
}
