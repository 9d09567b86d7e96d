package hostile

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

func le32(v ...int32) []byte {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, uint32(x))
	}
	return b
}

// TestTFLiteCustomOps converts format/tflite's generated fixtures of MediaPipe's
// custom operators with hostile custom options (zero or huge
// strides and windows, unknown padding and activation codes, corrupted FlexBuffers
// maps) and hostile declared shapes (2^31-1 rows, which the converter's constant
// grids would be sized by): refit convert must fail cleanly or convert, never crash,
// stay under the address-space limit, and write nothing on failure.
func TestTFLiteCustomOps(t *testing.T) {
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("..", "format", "tflite", "testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cases := map[string][]byte{}
	replace := func(name, file string, old, new []byte) {
		b := read(file)
		i := bytes.Index(b, old)
		if i < 0 || len(old) != len(new) {
			t.Fatalf("%s: pattern not found in %s", name, file)
		}
		b = bytes.Clone(b)
		copy(b[i:], new)
		cases[name] = b
	}
	pool := le32(1, 2, 2, 3, 3, 0) // SAME, stride 2, 3x3 window, no activation
	for name, opts := range map[string][]int32{
		"pool stride 0":        {1, 0, 0, 3, 3, 0},
		"pool window 2^31-1":   {1, 1, 1, 1<<31 - 1, 1<<31 - 1, 0},
		"pool padding 7":       {7, 2, 2, 3, 3, 0},
		"pool activation 99":   {1, 2, 2, 3, 3, 99},
		"pool negative window": {1, 2, 2, -3, -3, 0},
	} {
		replace(name, "pool_ops.tflite", pool, le32(opts...))
	}
	unpool := le32(2, 2, 2, 2, 2, 0)
	replace("unpool window 65536", "pool_ops.tflite", unpool, le32(2, 2, 2, 65536, 65536, 0))
	replace("pool input 2^31-1 rows", "pool_ops.tflite", le32(4, 1, 5, 6, 2), le32(4, 1, 1<<31-1, 6, 2))
	replace("transpose conv stride 0", "transpose_conv_bias.tflite", le32(1, 2, 2), le32(1, 0, 2))
	replace("transpose conv stride 2^31-1", "transpose_conv_bias.tflite", le32(1, 2, 2), le32(1, 1<<31-1, 1<<31-1))
	replace("bilinear output 2^31-1 rows", "landmark_ops.tflite", le32(4, 1, 4, 3, 2), le32(4, 1, 1<<31-1, 3, 2))
	replace("landmarks subset index 2^31-1", "landmark_ops.tflite", le32(5, 0, 2, 5, 7, 9), le32(5, 0, 2, 1<<31-1, 7, 9))
	replace("landmarks subset 2^31-1 long", "landmark_ops.tflite", le32(5, 0, 2, 5, 7, 9), le32(1<<31-1, 0, 2, 5, 7, 9))
	// single-byte corruptions of the FlexBuffers options and the rest of the file
	r := rand.New(rand.NewPCG(19, 7))
	lm := read("landmark_ops.tflite")
	start := bytes.Index(lm, []byte("left_rotation_idx"))
	if start < 0 {
		t.Fatal("no FlexBuffers keys in landmark_ops.tflite")
	}
	for i := range 12 {
		b := bytes.Clone(lm)
		p := start + r.IntN(300)
		b[p] ^= byte(1 + r.IntN(255))
		cases[fmt.Sprintf("flexbuffers byte %d (%d)", p, i)] = b
	}
	dir := t.TempDir()
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			in := filepath.Join(dir, "in.tflite")
			if err := os.WriteFile(in, b, 0o644); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, "out.onnx")
			os.Remove(out)
			res := runRefit(t, limits{memKiB: 2 << 20}, "convert", in, out)
			if _, err := os.Stat(out); res.code != 0 && err == nil {
				t.Fatalf("refit convert failed but wrote %s\n%v", out, res)
			}
			if res.code == 0 {
				t.Logf("converted")
			} else {
				t.Logf("refused: %s", bytes.TrimSpace([]byte(res.stderr)))
			}
		})
	}
}
