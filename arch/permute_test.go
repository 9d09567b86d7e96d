package arch

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestPermuteRoPEKnown(t *testing.T) {
	// One head of 4 rows of one byte: llama.cpp's permute gives rows 0, 2, 1, 3
	// (reshape(1, 2, 2).swapaxes(1, 2)); two heads permute independently.
	tests := []struct {
		heads int
		src   []byte
		want  []byte
	}{
		{1, []byte{0, 1, 2, 3}, []byte{0, 2, 1, 3}},
		{2, []byte{0, 1, 2, 3, 4, 5, 6, 7}, []byte{0, 2, 1, 3, 4, 6, 5, 7}},
		{1, []byte{0, 1, 2, 3, 4, 5}, []byte{0, 3, 1, 4, 2, 5}},
	}
	for _, tc := range tests {
		got := make([]byte, len(tc.src))
		if err := PermuteRoPE(got, tc.src, tc.heads, 1); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, tc.want) {
			t.Errorf("PermuteRoPE(%v, heads=%d) = %v, want %v", tc.src, tc.heads, got, tc.want)
		}
	}
}

func TestPermuteRoPEInverse(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, c := range []struct{ heads, headDim, rowBytes int }{{1, 2, 4}, {4, 16, 8}, {2, 64, 2}, {8, 6, 3}} {
		src := make([]byte, c.heads*c.headDim*c.rowBytes)
		for i := range src {
			src[i] = byte(r.Uint32())
		}
		perm := make([]byte, len(src))
		back := make([]byte, len(src))
		if err := PermuteRoPE(perm, src, c.heads, c.rowBytes); err != nil {
			t.Fatal(err)
		}
		if err := UnpermuteRoPE(back, perm, c.heads, c.rowBytes); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(back, src) {
			t.Errorf("UnpermuteRoPE(PermuteRoPE(x)) != x for %+v", c)
		}
		if c.headDim > 2 && bytes.Equal(perm, src) {
			t.Errorf("PermuteRoPE left %+v unchanged", c)
		}
	}
}

func TestPermuteRoPEBadLayout(t *testing.T) {
	tests := []struct {
		name            string
		dst, src        int
		heads, rowBytes int
	}{
		{"odd head size", 6, 6, 2, 1},
		{"heads do not divide", 8, 8, 3, 1},
		{"partial row", 7, 7, 1, 2},
		{"dst size", 4, 8, 1, 1},
		{"zero heads", 4, 4, 0, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := PermuteRoPE(make([]byte, tc.dst), make([]byte, tc.src), tc.heads, tc.rowBytes); err == nil {
				t.Errorf("PermuteRoPE accepted %+v", tc)
			}
		})
	}
}

func TestTranspose2DInverse(t *testing.T) {
	src := []byte{1, 2, 3, 4, 5, 6} // 2x3 of one byte
	got := make([]byte, 6)
	if err := Transpose2D(got, src, 2, 3, 1); err != nil {
		t.Fatal(err)
	}
	if want := []byte{1, 4, 2, 5, 3, 6}; !bytes.Equal(got, want) {
		t.Errorf("Transpose2D = %v, want %v", got, want)
	}
	back := make([]byte, 6)
	if err := Transpose2D(back, got, 3, 2, 1); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(back, src) {
		t.Errorf("Transpose2D twice = %v, want %v", back, src)
	}
	if err := Transpose2D(got, src, 2, 2, 1); err == nil {
		t.Error("Transpose2D accepted a size mismatch")
	}
}
