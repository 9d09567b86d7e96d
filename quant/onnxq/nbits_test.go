package onnxq

import (
	"bytes"
	"slices"
	"testing"
)

// TestMatMulNBitsExported checks that MatMulNBits packs what rtn computes.
func TestMatMulNBitsExported(t *testing.T) {
	n, k := 3, 64
	w := make([]float32, n*k)
	w64 := make([]float64, n*k)
	for i := range w {
		w[i] = float32((i*37)%23) - 11.5
		w64[i] = float64(w[i])
	}
	for _, sym := range []bool{false, true} {
		b, scales, zp, err := MatMulNBits(w, n, k, 32, 4, sym, 1)
		if err != nil {
			t.Fatal(err)
		}
		want := rtn(1, w64, n, k, 32, 4, sym)
		wb, wzp := want.packNBits()
		if !bytes.Equal(b, wb) || !slices.Equal(scales, want.scales) || (sym != (zp == nil)) || (!sym && !bytes.Equal(zp, wzp)) {
			t.Errorf("MatMulNBits(symmetric %v) differs from rtn + packNBits", sym)
		}
	}
	if _, _, _, err := MatMulNBits(w, n, k, 24, 4, false, 1); err == nil {
		t.Error("MatMulNBits accepted block size 24")
	}
	if _, _, _, err := MatMulNBits(w[:10], n, k, 32, 4, false, 1); err == nil {
		t.Error("MatMulNBits accepted a short weight")
	}
}
