package runtime

import (
	"github.com/refit-ml/refit/internal/parallel"
	"github.com/refit-ml/refit/internal/qgemm"
)

// The exact 8-bit convolution (ConvInteger, QLinearConv, fused QDQ Conv) as one
// integer GEMM per group: rows are the output positions of every image, columns the
// group's output channels, K the (kernel tap, input channel) pairs. The input is
// first copied channels-last (NHWC), so each row of the im2col matrix is a run of
// whole copies of a tap's Cg channel bytes; the weights are packed once per session
// in the same K order.

// convColBudget bounds the im2col bytes built at once: images are processed in
// chunks that fit.
const convColBudget = 4 << 20

// intConvWeights is a convolution's int8 weights packed per group for qgemm, K in
// (tap, channel) order.
type intConvWeights struct {
	groups []*qgemm.Packed
}

// packConvInt8 packs w [M, Cg, kernel...] (bytes; unsigned when uint8) per group as
// B [Cg*kn, Mg] with K ordered (tap, channel).
func packConvInt8(w []byte, unsigned bool, G, Mg, Cg, kn int) *intConvWeights {
	rows := Cg * kn
	p := &intConvWeights{}
	perm := make([]byte, Mg*rows) // [filter][tap*Cg + ch]
	for g := 0; g < G; g++ {
		for j := 0; j < Mg; j++ {
			src := w[(g*Mg+j)*rows : (g*Mg+j+1)*rows]
			dst := perm[j*rows : (j+1)*rows]
			for ch := 0; ch < Cg; ch++ {
				for t := 0; t < kn; t++ {
					dst[t*Cg+ch] = src[ch*kn+t]
				}
			}
		}
		p.groups = append(p.groups, qgemm.Pack(rows, Mg, perm, 1, rows, unsigned))
	}
	return p
}

// convEmit receives the int32 sums of output channel m of image n at output positions
// o0 .. o0+len(acc)-1, with a float scratch of at least len(acc). Calls run
// concurrently, for disjoint outputs.
type convEmit func(n, m, o0 int, acc []int32, tmp []float32)

// intConvGEMM computes the exact int32 convolution of x - zx with w - zw (zw per
// output channel) through qgemm and hands the sums to emit. wi is w's input index
// (its packing is kept for the session when w is constant).
func intConvGEMM(c *Call, wi int, x, w *Value, zx, zw []int32, win *window, N, C, M, G int, emit convEmit) {
	xb, xSigned := rawBytes(x)
	wb, wSigned := rawBytes(w)
	Cg, Mg := C/G, M/G
	kn, on, inSize := win.size(win.kernel), win.size(win.out), win.size(win.in)
	rows := Cg * kn
	build := func(*Value) *intConvWeights { return packConvInt8(wb, !wSigned, G, Mg, Cg, kn) }
	packed, ok := prepare(c, wi, build)
	if !ok || len(packed.groups) != G || packed.groups[0].K() != rows {
		packed = build(w)
	}
	// offs[t*on + o]: the input position tap t of output o reads, or -1 (padding).
	taps := win.taps()
	nd := len(win.in)
	offs := make([]int32, kn*on)
	kidx, oidx := make([]int, nd), make([]int, nd)
	for t := 0; t < kn; t++ {
		r := t
		for d := nd - 1; d >= 0; d-- {
			kidx[d] = r % int(win.kernel[d])
			r /= int(win.kernel[d])
		}
		for o := 0; o < on; o++ {
			r, off := o, 0
			for d := nd - 1; d >= 0; d-- {
				oidx[d] = r % int(win.out[d])
				r /= int(win.out[d])
			}
			for d := 0; d < nd && off >= 0; d++ {
				xi := taps[d][kidx[d]*int(win.out[d])+oidx[d]]
				if xi < 0 {
					off = -1
					break
				}
				off = off*int(win.in[d]) + xi
			}
			offs[t*on+o] = int32(off)
		}
	}
	pad := byte(zx[0])
	chunk := max(1, min(N, convColBudget/max(1, on*rows)))
	xh := make([]byte, chunk*inSize*Cg)
	col := make([]byte, chunk*on*rows)
	acc := make([]int32, chunk*on*Mg)
	threads := c.Threads()
	for n0 := 0; n0 < N; n0 += chunk {
		nc := min(chunk, N-n0)
		for g := 0; g < G; g++ {
			// Channels last: xh[(n*inSize + pos)*Cg + ch].
			parallel.For(threads, nc*Cg, 1, func(lo, hi int) {
				for r := lo; r < hi; r++ {
					n, ch := r/Cg, r%Cg
					src := xb[((n0+n)*C+g*Cg+ch)*inSize:][:inSize]
					dst := xh[n*inSize*Cg+ch:]
					for pos, v := range src {
						dst[pos*Cg] = v
					}
				}
			})
			parallel.For(threads, nc*on, 64, func(lo, hi int) {
				for r := lo; r < hi; r++ {
					n, o := r/on, r%on
					row := col[r*rows : (r+1)*rows]
					img := xh[n*inSize*Cg : (n+1)*inSize*Cg]
					if Cg == 1 { // one byte per tap: no copy calls
						for t := range row {
							if off := int(offs[t*on+o]); off >= 0 {
								row[t] = img[off]
							} else {
								row[t] = pad
							}
						}
						continue
					}
					for t := 0; t < kn; t++ {
						dst := row[t*Cg : (t+1)*Cg]
						if off := int(offs[t*on+o]); off >= 0 {
							copy(dst, img[off*Cg:(off+1)*Cg])
						} else {
							for i := range dst {
								dst[i] = pad
							}
						}
					}
				}
			})
			zwg := zw
			if len(zw) > 1 {
				zwg = zw[g*Mg : (g+1)*Mg]
			}
			qgemm.Gemm(threads, nc*on, col, rows, xSigned, zx, packed.groups[g], zwg, acc, Mg)
			// [n, o, j] rows -> runs of channel g*Mg+j, in blocks of positions so that
			// the rows read stay in L1.
			const blk = 64
			ob := (on + blk - 1) / blk
			parallel.For(threads, nc*ob, 2, func(lo, hi int) {
				buf := make([]int32, Mg*blk)
				tmp := make([]float32, blk)
				for r := lo; r < hi; r++ {
					n, o0 := r/ob, (r%ob)*blk
					cnt := min(on, o0+blk) - o0
					src := acc[(n*on+o0)*Mg : (n*on+o0+cnt)*Mg]
					for o := 0; o < cnt; o++ {
						row := src[o*Mg : (o+1)*Mg]
						for j, v := range row {
							buf[j*blk+o] = v
						}
					}
					for j := 0; j < Mg; j++ {
						emit(n0+n, g*Mg+j, o0, buf[j*blk:j*blk+cnt], tmp)
					}
				}
			})
		}
	}
}
