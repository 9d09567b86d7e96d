// Package qgemm multiplies 8-bit integer matrices exactly into int32, for the
// runtime's integer operators (MatMulInteger, QLinearMatMul, ConvInteger,
// QLinearConv and fused QDQ products).
//
// The product is C[i, j] = sum_p (A[i, p] - za[i]) * (B[p, j] - zb[j]) in int32
// arithmetic (wrapping, as ONNX's int32 accumulation does when a sum overflows).
// Every kernel computes the same integers bit for bit: the products of the raw bytes
// are summed exactly (AVX-512 VNNI's VPDPBUSD adds four uint8 x int8 products into
// int32 without saturation; the AVX2 kernel widens both bytes to int16 and adds pairs
// with VPMADDWD, which cannot overflow; the Go kernel uses int32), and the zero
// points are applied afterwards through row and column sums:
//
//	sum (a - za)(b - zb) = sum ab - zb*sum a - za*sum b + K*za*zb
//
// The kernels multiply uint8 A by int8 B. The other 8-bit types are brought there
// without changing any difference a - za or b - zb: an int8 A is flipped by XOR
// 0x80 (a + 128, zero point + 128), a uint8 B likewise (b - 128, zero point - 128).
//
// B is packed once (Pack) into panels of nr columns with K in groups of four bytes,
// the layout VPDPBUSD reads; A is packed per call, mr rows at a time, with its row
// sums.
package qgemm

import (
	"encoding/binary"
	"unsafe"

	"github.com/refit-ml/refit/internal/parallel"
)

const (
	mr = 8  // rows of A per micro-kernel tile
	nr = 32 // columns of B per packed panel (two 16-lane int32 vectors)
	// mc is the number of rows of A one task packs and runs against its panels.
	mc = 64
)

// kernelFunc computes one mr x nr tile: c[i*ldc+j] = sum over kg groups of four
// k steps of a[g][i][0:4] . b[g][j][0:4], with a uint8 and b int8, overwriting c.
type kernelFunc func(kg int, a *byte, b *int8, c *int32, ldc int)

type microKernel struct {
	name string
	fn   kernelFunc
}

// genericKernel is the portable kernel: other architectures, old CPUs, purego.
var genericKernel = microKernel{name: "go", fn: kernelGo}

// kernel is the micro-kernel in use: the best one the CPU runs (set by init on
// amd64). Tests switch it to compare every kernel the machine has.
var kernel = genericKernel

// Kernel names the micro-kernel in use, for benchmarks and diagnostics.
func Kernel() string { return kernel.name }

func kernelGo(kg int, pa *byte, pb *int8, pc *int32, ldc int) {
	a := unsafe.Slice(pa, kg*mr*4)
	b := unsafe.Slice(pb, kg*nr*4)
	var acc [mr][nr]int32
	for g := 0; g < kg; g++ {
		ag := a[g*mr*4 : (g+1)*mr*4]
		bg := b[g*nr*4 : (g+1)*nr*4]
		for i := 0; i < mr; i++ {
			a0, a1, a2, a3 := int32(ag[4*i]), int32(ag[4*i+1]), int32(ag[4*i+2]), int32(ag[4*i+3])
			row := &acc[i]
			for j := 0; j < nr; j++ {
				bj := bg[4*j : 4*j+4 : 4*j+4]
				row[j] += a0*int32(bj[0]) + a1*int32(bj[1]) + a2*int32(bj[2]) + a3*int32(bj[3])
			}
		}
	}
	c := unsafe.Slice(pc, (mr-1)*ldc+nr)
	for i := 0; i < mr; i++ {
		copy(c[i*ldc:i*ldc+nr], acc[i][:])
	}
}

// Packed is an int8 matrix B [K, N] packed for Gemm. It is read-only once made
// and may be shared by concurrent calls.
type Packed struct {
	k, n, kg int
	flipped  bool    // B came as uint8 and was flipped to int8 (zero points move by -128)
	panels   []int8  // ceil(n/nr) panels of kg*nr*4 bytes: [group][column][4 k steps]
	colSums  []int32 // sum over K of each (flipped) column
}

// K and N are the dimensions of the packed matrix.
func (p *Packed) K() int { return p.k }

// N is the number of columns of the packed matrix.
func (p *Packed) N() int { return p.n }

// Pack packs B [k, n] whose element (p, j) is the byte b[p*rowStride + j*colStride]:
// int8, or uint8 when unsigned (then flipped to int8 by XOR 0x80).
// A transposed matrix is packed by swapping the strides.
func Pack(k, n int, b []byte, rowStride, colStride int, unsigned bool) *Packed {
	kg := (k + 3) / 4
	np := (n + nr - 1) / nr
	p := &Packed{k: k, n: n, kg: kg, flipped: unsigned,
		panels: make([]int8, np*kg*nr*4), colSums: make([]int32, n)}
	var flip byte
	if unsigned {
		flip = 0x80
	}
	for j := 0; j < n; j++ {
		panel := p.panels[(j/nr)*kg*nr*4:]
		col := j % nr
		var sum int32
		for q := 0; q < k; q++ {
			v := int8(b[q*rowStride+j*colStride] ^ flip)
			sum += int32(v)
			panel[(q/4)*nr*4+col*4+q%4] = v
		}
		p.colSums[j] = sum
	}
	return p
}

// Gemm sets c[i*ldc + j] = sum over p < K of (A[i, p] - za[i]) * (B[p, j] - zb[j]) for
// i < m, j < N, where A[i, p] is the byte a[i*lda + p] (uint8, or int8 when aSigned)
// and B is packed. za holds 1 or m zero points and zb 1 or N, as values of A's and
// B's original types. threads bounds the goroutines (internal/parallel).
func Gemm(threads, m int, a []byte, lda int, aSigned bool, za []int32, b *Packed, zb []int32, c []int32, ldc int) {
	if m <= 0 || b.n == 0 {
		return
	}
	if b.k == 0 {
		for i := 0; i < m; i++ {
			clear(c[i*ldc : i*ldc+b.n])
		}
		return
	}
	var flipA byte
	var zaShift, zbShift int32
	if aSigned {
		flipA, zaShift = 0x80, 128
	}
	if b.flipped {
		zbShift = -128
	}
	// colAdj[j] = K*zb[j] - colSums[j], so that
	// c = S - rowSum*zb - za*colSum + K*za*zb = S - rowSum*zb + za*colAdj.
	zbs := make([]int32, b.n)
	colAdj := make([]int32, b.n)
	zbZero := true // then A's row sums are not needed
	for j := range zbs {
		zbs[j] = at(zb, j) + zbShift
		colAdj[j] = int32(b.k)*zbs[j] - b.colSums[j]
		zbZero = zbZero && zbs[j] == 0
	}
	mBlocks := (m + mc - 1) / mc
	panels := (b.n + nr - 1) / nr
	// Split the panels too when there are fewer row blocks than threads.
	nChunks := 1
	if t := parallel.Threads(threads); mBlocks < t {
		nChunks = min(panels, (t+mBlocks-1)/mBlocks)
	}
	parallel.For(threads, mBlocks*nChunks, 1, func(lo, hi int) {
		pa := make([]byte, mc*b.kg*4)
		rowSums := make([]int32, mc)
		zas := make([]int32, mc)
		var tile [mr * nr]int32
		for t := lo; t < hi; t++ {
			blk, chunk := t/nChunks, t%nChunks
			i0 := blk * mc
			rows := min(mc, m-i0)
			packA(pa, rowSums, a[i0*lda:], lda, rows, b.k, b.kg, flipA, !zbZero)
			for i := 0; i < rows; i++ {
				zas[i] = at(za, i0+i) + zaShift
			}
			p0, p1 := chunk*panels/nChunks, (chunk+1)*panels/nChunks
			for pi := p0; pi < p1; pi++ {
				bp := &b.panels[pi*b.kg*nr*4]
				j0 := pi * nr
				cols := min(nr, b.n-j0)
				for s := 0; s < rows; s += mr {
					sr := min(mr, rows-s)
					ap := &pa[s*b.kg*4]
					if sr == mr && cols == nr {
						dst := c[(i0+s)*ldc+j0:]
						kernel.fn(b.kg, ap, bp, &dst[0], ldc)
						for i := 0; i < mr; i++ {
							fix(dst[i*ldc:i*ldc+nr], rowSums[s+i], zas[s+i], zbs[j0:j0+nr], colAdj[j0:j0+nr], zbZero)
						}
						continue
					}
					kernel.fn(b.kg, ap, bp, &tile[0], nr)
					for i := 0; i < sr; i++ {
						dst := c[(i0+s+i)*ldc+j0 : (i0+s+i)*ldc+j0+cols]
						copy(dst, tile[i*nr:i*nr+cols])
						fix(dst, rowSums[s+i], zas[s+i], zbs[j0:j0+cols], colAdj[j0:j0+cols], zbZero)
					}
				}
			}
		}
	})
}

// fix applies the zero points to one row of raw sums (rowSum is unused when every zb
// is 0).
func fix(c []int32, rowSum, za int32, zb, colAdj []int32, zbZero bool) {
	colAdj = colAdj[:len(c)]
	if zbZero {
		if za != 0 {
			for j := range c {
				c[j] += za * colAdj[j]
			}
		}
		return
	}
	zb = zb[:len(c)]
	for j := range c {
		c[j] += za*colAdj[j] - rowSum*zb[j]
	}
}

// packA packs rows of A (flipped by XOR flip) into strips of mr rows, [group][row][4],
// zero-padded to whole strips and groups, and with sums stores each row's sum.
func packA(dst []byte, rowSums []int32, a []byte, lda, rows, k, kg int, flip byte, sums bool) {
	strips := (rows + mr - 1) / mr
	clear(dst[:strips*mr*kg*4])
	flip4 := uint32(flip) * 0x01010101
	for i := 0; i < rows; i++ {
		strip := dst[(i/mr)*mr*kg*4:]
		r := i % mr
		src := a[i*lda : i*lda+k]
		q := 0
		for ; q+4 <= k; q += 4 {
			w := binary.LittleEndian.Uint32(src[q:]) ^ flip4
			binary.LittleEndian.PutUint32(strip[(q/4)*mr*4+r*4:], w)
		}
		for ; q < k; q++ {
			strip[(q/4)*mr*4+r*4+q%4] = src[q] ^ flip
		}
		if sums {
			var sum int32
			for _, v := range src {
				sum += int32(v ^ flip)
			}
			rowSums[i] = sum
		}
	}
}

func at(s []int32, i int) int32 {
	if len(s) == 1 {
		return s[0]
	}
	return s[i]
}

// Kernels names the micro-kernels this machine runs, best first; the last is the
// portable Go one.
func Kernels() []string {
	var names []string
	for _, k := range append(cpuKernels(), genericKernel) {
		names = append(names, k.name)
	}
	return names
}

// UseKernel selects a micro-kernel by name (one of Kernels) and returns a function
// that restores the previous one. It is for tests and benchmarks that compare the
// kernels; it must not be called while products run.
func UseKernel(name string) (restore func(), ok bool) {
	saved := kernel
	for _, k := range append(cpuKernels(), genericKernel) {
		if k.name == name {
			kernel = k
			return func() { kernel = saved }, true
		}
	}
	return func() {}, false
}
