package tensor

import (
	"bytes"
	"hash/crc32"
	"io"
	"math"
	"testing"
)

// windowed is file bytes that a Scanner hands out in windows of a given size, as
// refit.MappedFile does (8 MiB there).
type windowed struct {
	b      []byte
	window int64
	scans  int
}

func (w *windowed) ReadAt(p []byte, off int64) (int, error) {
	return bytes.NewReader(w.b).ReadAt(p, off)
}

func (w *windowed) Scan(off, n int64, fn func([]byte) error) error {
	w.scans++
	for n > 0 {
		k := min(n, w.window)
		if err := fn(w.b[off : off+k]); err != nil {
			return err
		}
		off, n = off+k, n-k
	}
	return nil
}

// watchLog records what a CastWatcher sees.
type watchLog struct {
	begins, ends int
	src          []float32
	crc          uint32
}

func (l *watchLog) Begin() { l.begins++ }
func (l *watchLog) End()   { l.ends++ }
func (l *watchLog) Chunk(src []float32, dst []byte) {
	l.src = append(l.src, src...)
	l.crc = crc32.Update(l.crc, crc32.IEEETable, dst)
}

// TestCastMapped checks that a cast of float32 values in a mapped file (converted
// straight from the mapping's windows) writes the bytes the buffered path writes and
// shows its watcher the same values, across windows and cast chunks that do not line
// up; a source at an unaligned offset takes the buffered path.
func TestCastMapped(t *testing.T) {
	const n = castChunk*2 + 1000
	raw := make([]byte, 4+4*n+4)
	for i := range n {
		v := float32(math.Sin(float64(i))) * 1000
		if i%97 == 0 {
			v = float32(math.Inf(1))
		}
		putF32(raw[4+4*i:], v)
	}
	for _, c := range []struct {
		off    int64
		window int64
		mapped bool
	}{{4, 8 << 20, true}, {4, 4 * 1000, true}, {4, 8, true}, {5, 4 * 1000, false}} {
		for _, to := range []DType{F16, BF16} {
			file := &windowed{b: raw, window: c.window}
			src, err := New("w", F32, Shape{n}, io.NewSectionReader(io.NewSectionReader(file, 0, int64(len(raw))), c.off, 4*n))
			if err != nil {
				t.Fatal(err)
			}
			plain, err := FromBytes("w", F32, Shape{n}, bytes.Clone(raw[c.off:c.off+4*n]))
			if err != nil {
				t.Fatal(err)
			}
			var got, want bytes.Buffer
			var gotLog, wantLog watchLog
			for _, x := range []struct {
				t   *Tensor
				buf *bytes.Buffer
				log *watchLog
			}{{src, &got, &gotLog}, {plain, &want, &wantLog}} {
				ct, err := CastWatched(x.t, to, x.log)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := ct.WriteTo(x.buf); err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(got.Bytes(), want.Bytes()) {
				t.Errorf("offset %d, window %d, %v: the cast differs from the buffered one", c.off, c.window, to)
			}
			if (file.scans > 0) != c.mapped {
				t.Errorf("offset %d, window %d: %d scans of the mapping, want mapped %v", c.off, c.window, file.scans, c.mapped)
			}
			if gotLog.begins != 1 || gotLog.ends != 1 || gotLog.crc != wantLog.crc || len(gotLog.src) != n ||
				!bytes.Equal(EncodeFloat32(nil, gotLog.src), EncodeFloat32(nil, wantLog.src)) {
				t.Errorf("offset %d, window %d, %v: the watcher saw %d begins, %d ends, %d values; want what the buffered cast shows", c.off, c.window, to, gotLog.begins, gotLog.ends, len(gotLog.src))
			}
		}
	}
}

func putF32(b []byte, v float32) {
	u := math.Float32bits(v)
	b[0], b[1], b[2], b[3] = byte(u), byte(u>>8), byte(u>>16), byte(u>>24)
}

// BenchmarkCastMapped measures a cast to f16 of float32 values in a mapped file, as
// convert --dtype f16 runs it (values converted straight from the mapping's windows),
// against BenchmarkCastBuffered, the path that reads them into a buffer first (pread
// there, a copy here): 5.0 GB/s against 3.4 GB/s of float32 input, best of 3 (go test
// -bench Cast ./tensor on the 2-core AMD EPYC of the README's tables, shared with other
// jobs at load ~25, so a floor rather than the kernel's speed).
func BenchmarkCastMapped(b *testing.B) { benchCast(b, true) }

// BenchmarkCastBuffered is BenchmarkCastMapped's reference (see there).
func BenchmarkCastBuffered(b *testing.B) { benchCast(b, false) }

func benchCast(b *testing.B, mapped bool) {
	const n = 16 << 20 // 64 MiB of float32
	raw := make([]byte, 4*n)
	for i := 0; i < n; i++ {
		putF32(raw[4*i:], float32(i%5000)*0.37)
	}
	var data Data = io.NewSectionReader(&windowed{b: raw, window: 8 << 20}, 0, 4*n)
	if !mapped {
		data = bytes.NewReader(raw)
	}
	src, err := New("w", F32, Shape{n}, data)
	if err != nil {
		b.Fatal(err)
	}
	ct, err := Cast(src, F16)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(4 * n)
	for b.Loop() {
		if _, err := ct.WriteTo(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
