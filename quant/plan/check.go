package plan

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"unsafe"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/tensor"
)

// TensorCheck is what checking a converted tensor's output against its source found.
// The output is checked as it is produced: each slab's blocks are decoded again while
// they are in memory and compared with the float32 source rows they came from, so no
// second pass over the written file is needed to measure the error. CRC lets a caller
// confirm that the file holds those same bytes with a cheap read.
type TensorCheck struct {
	Name   string
	MaxAbs float64 // largest |source - output| (+Inf where an infinity changed)
	Cosine float64 // between source and output values, NaN positions left out
	NaNs   int64   // positions where exactly one of source and output is NaN
	Exact  bool    // every output value equals its source (NaN for NaN)
	CRC    uint32  // CRC-32C (Castagnoli) of the tensor's output bytes

	// The sums behind Cosine, for a cosine over many tensors.
	Dot, SourceSq, OutputSq float64
}

// castagnoli is the CRC-32C table; hash/crc32 uses the CPU's CRC32 instruction for it.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// CRC returns the CRC-32C of p continued from crc, as TensorCheck.CRC is computed.
func CRC(crc uint32, p []byte) uint32 { return crc32.Update(crc, castagnoli, p) }

// Checks holds the TensorChecks of a model returned by ApplyChecked, filled in as an
// encoder reads the converted tensors.
type Checks struct {
	plan *Plan
	data []*quantData // the converted tensors, in plan order
}

// Results returns one TensorCheck per converted tensor, in plan order. It fails if a
// tensor was not read from its first byte to its last in order (an encoder does so),
// since then some rows were never measured.
func (c *Checks) Results() ([]TensorCheck, error) {
	out := make([]TensorCheck, 0, len(c.data))
	for _, q := range c.data {
		q.mu.Lock()
		rows, ch := q.checkedRows, *q.check
		q.mu.Unlock()
		if rows != q.rows {
			return nil, fmt.Errorf("plan: %q: %d of %d rows checked (the tensor was not read in order)", q.src.Name, rows, q.rows)
		}
		ch.finish()
		out = append(out, ch)
	}
	return out, nil
}

// ApplyChecked is Apply with checking: as each converted tensor is read, its output is
// measured against its source (see TensorCheck), at the cost of decoding the output
// once more in memory. The Checks are complete once an encoder has read the model.
func (p *Plan) ApplyChecked(m *refit.Model, imatrix map[string][]float32) (*refit.Model, *Checks, error) {
	c := &Checks{plan: p}
	q, err := p.apply(m, imatrix, c)
	if err != nil {
		return nil, nil, err
	}
	return q, c, nil
}

// blockDiff holds the sums of one group of values.
type blockDiff struct {
	maxAbs, dot, na, nb float64
	nans                int64
	inexact             bool
}

func (t *TensorCheck) add(d blockDiff) {
	t.MaxAbs = math.Max(t.MaxAbs, d.maxAbs)
	t.Dot += d.dot
	t.SourceSq += d.na
	t.OutputSq += d.nb
	t.NaNs += d.nans
	t.Exact = t.Exact && !d.inexact
}

func (t *TensorCheck) finish() { t.Cosine = Cosine(t.Dot, t.SourceSq, t.OutputSq) }

// Cosine is dot / sqrt(na * nb), 1 when both vectors are zero and 0 when one is.
func Cosine(dot, na, nb float64) float64 {
	switch {
	case na == 0 && nb == 0:
		return 1
	case na == 0 || nb == 0:
		return 0
	}
	return dot / math.Sqrt(na*nb)
}

// fusedDiff returns the decode-and-compare kernel of type to, or nil.
func fusedDiff(to tensor.DType) func(a *float32, y *byte, nb int, out *[4]float64) {
	switch to {
	case tensor.Q8_0:
		return q80DiffAVX2
	case tensor.Q4_0:
		return q40DiffAVX2
	case tensor.Q6_K:
		return q6kDiffAVX2
	}
	return nil
}

// checkPiece is how many values are decoded again at a time (64 KiB of float32).
const checkPiece = 1 << 14

// measure compares the values x with y, their encoding as type to, decoding y a piece
// of whole blocks at a time into *scratch.
func measure(scratch *[]float32, x []float32, y []byte, to tensor.DType) (blockDiff, error) {
	d := blockDiff{}
	bs, ts := to.BlockSize(), to.TypeSize()
	piece := max(bs, checkPiece/bs*bs)
	if len(*scratch) < min(piece, len(x)) {
		*scratch = make([]float32, min(piece, len(x)))
	}
	for off := 0; off < len(x); off += piece {
		n := min(piece, len(x)-off)
		dst, src := (*scratch)[:n], y[off/bs*ts:(off+n)/bs*ts]
		if fused := fusedDiff(to); fused != nil && haveFusedDiff {
			// Decoded and summed in registers: diff's sums without the stores.
			var s [4]float64
			fused(&x[off], &src[0], n/bs, &s)
			if d.addSums(&s) {
				continue
			}
		}
		var err error
		switch {
		case to.Quantized():
			err = tensor.Dequantize(dst, src, to, 1)
		case to == tensor.F32 && littleEndian:
			copy(dst, unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(src))), n))
		default:
			err = tensor.ToFloat32(dst, src, to)
		}
		if err != nil {
			return d, err
		}
		diff(&d, x[off:off+n], dst)
	}
	return d, nil
}

// diff folds the pairs (a[i], b[i]) into d. The common case, all values finite, runs
// without per-value tests in eight lanes (diffAVX2 or diffLanes, which give the same
// sums: products of float32 values are exact in float64, and both add in the same
// order). A piece holding an infinity or NaN (its sums come out non-finite, as squares
// of finite float32 values cannot overflow float64) is measured again value by value.
func diff(d *blockDiff, a, b []float32) {
	b = b[:len(a)]
	var s [4]float64 // max |a-b|, a·b, a·a, b·b
	n := len(a) &^ 7
	if n > 0 {
		if haveDiffAVX2 {
			diffAVX2(&a[0], &b[0], n, &s)
		} else {
			diffLanes(a[:n], b[:n], &s)
		}
	}
	for i := n; i < len(a); i++ {
		x, y := float64(a[i]), float64(b[i])
		s[0] = max(s[0], math.Abs(x-y))
		s[1], s[2], s[3] = s[1]+x*y, s[2]+x*x, s[3]+y*y
	}
	if !d.addSums(&s) {
		diffSlow(d, a, b)
	}
}

// addSums adds the lane sums s (max |a-b|, a·b, a·a, b·b) of a piece to d, unless they
// are not finite, which means the piece holds an infinity or NaN and must be measured
// value by value; it reports whether it added them.
func (d *blockDiff) addSums(s *[4]float64) bool {
	if math.IsInf(s[2]+s[3], 0) || math.IsNaN(s[2]+s[3]) {
		return false
	}
	d.maxAbs = max(d.maxAbs, s[0])
	d.dot += s[1]
	d.na += s[2]
	d.nb += s[3]
	d.inexact = d.inexact || s[0] > 0 // finite values differ exactly when a-b != 0
	return true
}

// diffLanes is diffAVX2 in Go: value i in lane i%8, len(a) a multiple of 8.
func diffLanes(a, b []float32, out *[4]float64) {
	var m, p, s, t [8]float64
	for i := 0; i+8 <= len(a); i += 8 {
		for l := range 8 {
			x, y := float64(a[i+l]), float64(b[i+l])
			m[l] = max(m[l], math.Abs(x-y))
			p[l] += x * y
			s[l] += x * x
			t[l] += y * y
		}
	}
	fold := func(v *[8]float64) float64 {
		return ((v[0] + v[4]) + (v[2] + v[6])) + ((v[1] + v[5]) + (v[3] + v[7]))
	}
	out[0] = max(m[0], m[1], m[2], m[3], m[4], m[5], m[6], m[7])
	out[1], out[2], out[3] = fold(&p), fold(&s), fold(&t)
}

// diffSlow is diff one value at a time, with compare's rules: a NaN on one side only is
// counted, NaN on both sides is equal, and a changed infinity makes MaxAbs +Inf and is
// left out of the sums.
func diffSlow(d *blockDiff, a, b []float32) {
	for i := range a {
		x, y := float64(a[i]), float64(b[i])
		xn, yn := x != x, y != y
		if xn || yn {
			if xn != yn {
				d.nans++
				d.inexact = true
			}
			continue
		}
		if x != y {
			d.inexact = true
			if math.IsInf(x, 0) || math.IsInf(y, 0) {
				d.maxAbs = math.Inf(1)
				continue
			}
		}
		if x != y {
			d.maxAbs = math.Max(d.maxAbs, math.Abs(x-y))
		}
		if !math.IsInf(x, 0) {
			d.dot += x * y
			d.na += x * x
			d.nb += y * y
		}
	}
}

// littleEndian reports whether float32 values are stored in GGUF's byte order, so F32
// data can be used in place.
var littleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// ErrVerify reports an output that does not hold what was produced.
var ErrVerify = errors.New("plan: the output does not match")

// Verify checks that out, the encoded model read back (gguf.Decode of the written
// file), holds what was produced, without decoding its values again: the plan's
// tensors in order with their names, types and shapes; each converted tensor's bytes
// with the CRC computed as they were produced (and measured); each unchanged tensor's
// bytes with the CRC of its source in src. It returns one TensorCheck per float or
// block-quantized tensor in plan order: converted ones as measured, unchanged ones
// exact (their sums read from src). Call it after the encoder has read the model.
//
// The trade-off: the file is read once more, at memory speed for the CRC, instead of
// being dequantized again and compared with the source (which reads the source a
// second time and costs as much as quantizing the fastest types). A bug in the
// decoder of the written file (as opposed to the bytes) is not caught here; the byte
// identity and round-trip tests of the ggml and gguf packages cover that.
func (c *Checks) Verify(ctx context.Context, src, out *refit.Model) ([]TensorCheck, error) {
	p := c.plan
	if len(out.Tensors) != len(p.Tensors) {
		return nil, fmt.Errorf("%w: %d tensors, want %d", ErrVerify, len(out.Tensors), len(p.Tensors))
	}
	measured, err := c.Results()
	if err != nil {
		return nil, err
	}
	var res []TensorCheck
	buf := make([]byte, verifyChunk)
	var floats []float32
	for i, e := range p.Tensors {
		g := out.Tensors[i]
		if g.Name != e.Name || g.DType != e.To || !g.Shape.Equal(ggmlShape(e.Shape)) {
			return nil, fmt.Errorf("%w: tensor %d is %s %v %v, want %s %v %v", ErrVerify, i, g.Name, g.DType, g.Shape, e.Name, e.To, ggmlShape(e.Shape))
		}
		crc, err := crcOf(ctx, g, buf, nil)
		if err != nil {
			return nil, fmt.Errorf("plan: re-reading %s: %w", g.Name, err)
		}
		if e.Changed() {
			m := measured[0]
			measured = measured[1:]
			if m.Name != e.Name || m.CRC != crc {
				return nil, fmt.Errorf("%w: %s: the file's bytes differ from those produced", ErrVerify, e.Name)
			}
			res = append(res, m)
			continue
		}
		s := src.Tensor(e.Name)
		if s == nil || s.Size() != g.Size() {
			return nil, fmt.Errorf("%w: %s is not in the source", ErrVerify, e.Name)
		}
		var sq *float64
		t := TensorCheck{Name: e.Name, Exact: true, MaxAbs: 0}
		if s.DType.Float() || s.DType.Quantized() {
			sq = &t.SourceSq
		}
		want, err := crcOf(ctx, s, buf, &floatSq{dst: sq, floats: &floats})
		if err != nil {
			return nil, fmt.Errorf("plan: reading %s: %w", e.Name, err)
		}
		if want != crc {
			return nil, fmt.Errorf("%w: %s: the file's bytes differ from the source's", ErrVerify, e.Name)
		}
		if sq != nil {
			t.Dot, t.OutputSq, t.CRC = t.SourceSq, t.SourceSq, crc
			t.finish()
			res = append(res, t)
		}
	}
	return res, nil
}

// verifyChunk is the read size of Verify, cut down to whole blocks of each type.
const verifyChunk = 1 << 20

// floatSq sums the squares of a tensor's finite values as crcOf reads it.
type floatSq struct {
	dst    *float64
	floats *[]float32
}

// crcOf is the CRC-32C of t's bytes, read in chunks of whole blocks; with sq, it also
// adds the squares of t's finite values to *sq.dst.
func crcOf(ctx context.Context, t *tensor.Tensor, buf []byte, sq *floatSq) (uint32, error) {
	n := t.Size()
	bs, ts := int64(t.DType.BlockSize()), int64(t.DType.TypeSize())
	step := int64(len(buf))
	if ts > 0 && bs > 0 {
		step = max(ts, step/ts*ts)
	}
	if int64(len(buf)) < step {
		buf = make([]byte, step)
	}
	var crc uint32
	for off := int64(0); off < n; off += step {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		b := buf[:min(step, n-off)]
		if err := refit.ReadFullAt(t.Data, b, off); err != nil {
			return 0, err
		}
		crc = crc32.Update(crc, castagnoli, b)
		if sq == nil || sq.dst == nil {
			continue
		}
		nf := int64(len(b)) / ts * bs
		if int64(len(*sq.floats)) < nf {
			*sq.floats = make([]float32, nf)
		}
		f := (*sq.floats)[:nf]
		var err error
		if t.DType.Quantized() {
			err = tensor.Dequantize(f, b, t.DType, 1)
		} else {
			err = tensor.ToFloat32(f, b, t.DType)
		}
		if err != nil {
			return 0, err
		}
		for _, v := range f {
			if x := float64(v); !math.IsInf(x, 0) && !math.IsNaN(x) {
				*sq.dst += x * x
			}
		}
	}
	return crc, nil
}
