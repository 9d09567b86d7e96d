package tensor

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"
)

// TestCastStreamsChunks checks that reading a cast at any offset and length, and
// writing it, give the bytes of a whole-tensor conversion.
func TestCastStreamsChunks(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	cases := []struct {
		from, to DType
		n        int64
	}{
		{F32, F16, 3*castChunk + 17},
		{F32, BF16, castChunk},
		{F64, F16, castChunk + 5},
		{F16, F32, 2*castChunk - 1},
		{Q8_0, F32, 2*castChunk + 32*7},
		{Q4_K, F16, castChunk + 256*3},
		{I32, F32, 1000},
	}
	for _, c := range cases {
		t.Run(c.from.String()+"->"+c.to.String(), func(t *testing.T) {
			size, err := ByteSize(c.from, Shape{c.n})
			if err != nil {
				t.Fatal(err)
			}
			raw := make([]byte, size)
			for i := range raw {
				raw[i] = byte(rng.IntN(256))
			}
			if c.from == F32 || c.from == F64 || c.from == F16 {
				// finite values, so the reference and the stream agree bit for bit
				f := make([]float32, c.n)
				for i := range f {
					f[i] = float32(rng.NormFloat64())
				}
				if err := FromFloat32(raw, f, c.from); err != nil {
					t.Fatal(err)
				}
			}
			src, err := FromBytes("x", c.from, Shape{c.n}, raw)
			if err != nil {
				t.Fatal(err)
			}
			f := make([]float32, c.n)
			if err := ToFloat32(f, raw, c.from); err != nil {
				t.Fatal(err)
			}
			want := make([]byte, c.n*int64(c.to.TypeSize()))
			if c.from != F64 || !castF64(want, raw, c.to) {
				if err := FromFloat32(want, f, c.to); err != nil {
					t.Fatal(err)
				}
			}
			ct, err := Cast(src, c.to)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ct.Bytes()
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("Bytes() differs from a whole conversion (err %v)", err)
			}
			var buf bytes.Buffer
			if n, err := ct.WriteTo(&buf); err != nil || n != int64(len(want)) || !bytes.Equal(buf.Bytes(), want) {
				t.Fatalf("WriteTo = %d, %v; bytes equal %v", n, err, bytes.Equal(buf.Bytes(), want))
			}
			for range 50 {
				off := rng.Int64N(int64(len(want)))
				p := make([]byte, rng.IntN(3*castChunk))
				n, err := ct.Data.ReadAt(p, off)
				end := min(off+int64(len(p)), int64(len(want)))
				if int64(n) != end-off || !bytes.Equal(p[:n], want[off:end]) {
					t.Fatalf("ReadAt(len %d, off %d) = %d, %v; bytes differ", len(p), off, n, err)
				}
				if (end-off < int64(len(p))) != (err == io.EOF) {
					t.Fatalf("ReadAt(len %d, off %d) err = %v", len(p), off, err)
				}
			}
		})
	}
}

// TestLazyReadAtReleasesAtEnd checks that sequential ReadAt calls keep the computed
// bytes between chunks and drop them once the last byte is read.
func TestLazyReadAtReleasesAtEnd(t *testing.T) {
	calls := 0
	l := NewLazy(10, func() ([]byte, error) { calls++; return []byte("0123456789"), nil })
	p := make([]byte, 4)
	for off := int64(0); off < 10; off += 4 {
		n, _ := l.ReadAt(p, off)
		if string(p[:n]) != "0123456789"[off:off+int64(n)] {
			t.Fatalf("ReadAt(off %d) = %q", off, p[:n])
		}
	}
	if calls != 1 || l.buf != nil {
		t.Fatalf("after reading to the end: %d computations, buffer kept %v; want 1, false", calls, l.buf != nil)
	}
	l.ReadAt(p, 0)
	if calls != 2 {
		t.Fatalf("reading again computed %d times in all, want 2", calls)
	}
}
