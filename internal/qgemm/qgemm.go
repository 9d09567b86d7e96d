// Package qgemm multiplies 8-bit integer matrices exactly into int32, for the
// runtime's integer operators (MatMulInteger, QLinearMatMul, ConvInteger,
// QLinearConv and fused QDQ products).
//
// The product is C[i, j] = sum_p (A[i, p] - za[i]) * (B[p, j] - zb[j]) in int32
// arithmetic (wrapping, as ONNX's int32 accumulation does when a sum overflows).
// Every kernel computes the same integers bit for bit: the products of the raw bytes
// are summed exactly (AVX-512 VNNI's VPDPBUSD adds four uint8 x int8 products into
// int32 without saturation; the AVX2 kernels widen both bytes to int16 and add pairs
// with VPMADDWD, which cannot overflow; the Go kernels use int32), and the zero
// points are applied afterwards through row and column sums:
//
//	sum (a - za)(b - zb) = sum ab - zb*sum a - za*sum b + K*za*zb
//
// The kernels multiply one unsigned and one signed operand, in either order (uint8 A
// x int8 B, or int8 A x uint8 B), as VPDPBUSD does. When A and B have the same type,
// A is flipped by XOR 0x80, which moves its values and its zero point by 128 and so
// changes no difference a - za.
//
// B is packed (Pack, or panels filled by the caller) into panels of nr columns with
// K in groups of four bytes, the layout VPDPBUSD reads; A is packed per call, mr rows
// at a time, or once (PackA) when it is constant. GemmOffsets reads a uint8 B in place
// at one offset per group of four k steps instead (a direct convolution's image).
//
// The package also holds the vectorized 8-bit steps around the products, each equal
// bit for bit to its scalar loop: Scale, Dequantize and Requantize (int32 sums to
// float or to QuantizeLinear's bytes), Range (DynamicQuantizeLinear's range), and
// MaxPairs and MaxBytes (max pooling on bytes).
package qgemm

import (
	"sync"
	"unsafe"

	"github.com/refit-ml/refit/internal/parallel"
)

const (
	mr = 8  // rows of A per micro-kernel tile
	nr = 32 // columns of B per packed panel (two 16-lane int32 vectors)
	// mc is the number of rows of A one task packs and runs against its panels.
	mc = 64
)

// kernelFunc computes one mr x nr tile: c[i*ldc+j] = init[j] + sum over kg groups
// of four k steps of a[g][i][0:4] . b[g][j][0:4], overwriting c. init (nr values)
// carries a zero-point correction that is the same for every row.
type kernelFunc func(kg int, a, b *byte, c *int32, ldc int, init *int32)

// zeroInit is the init of a tile without a correction.
var zeroInit [nr]int32

// microKernel is a set of kernels: us multiplies uint8 A by int8 B, su int8 A by
// uint8 B, offs int8 A by a uint8 B read in place (GemmOffsets).
type microKernel struct {
	name   string
	us, su kernelFunc
	offs   offsKernelFunc
}

// genericKernel is the portable kernel: other architectures, old CPUs, purego.
var genericKernel = microKernel{name: "go", us: kernelGo[uint8, int8], su: kernelGo[int8, uint8], offs: kernelGoOffs}

// kernel is the micro-kernel in use: the best one the CPU runs (set by init on
// amd64). Tests switch it to compare every kernel the machine has.
var kernel = genericKernel

// Kernel names the micro-kernel in use, for benchmarks and diagnostics.
func Kernel() string { return kernel.name }

func kernelGo[TA, TB int8 | uint8](kg int, pa, pb *byte, pc *int32, ldc int, init *int32) {
	a := unsafe.Slice((*TA)(unsafe.Pointer(pa)), kg*mr*4)
	b := unsafe.Slice((*TB)(unsafe.Pointer(pb)), kg*nr*4)
	var acc [mr][nr]int32
	for i := range acc {
		acc[i] = *(*[nr]int32)(unsafe.Pointer(init))
	}
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

// Packed is a matrix B [K, N] of bytes packed for Gemm. It is read-only once made
// (Pack, or Panels filled before the first product) and may then be shared by
// concurrent calls.
type Packed struct {
	k, n, kg int
	signed   bool    // int8 bytes (else uint8)
	panels   []byte  // ceil(n/nr) panels of kg*nr*4 bytes: [group][column][4 k steps]
	colSums  []int32 // sum over K of each column's values; nil until needed
}

// K is the number of rows of the packed matrix.
func (p *Packed) K() int { return p.k }

// N is the number of columns of the packed matrix.
func (p *Packed) N() int { return p.n }

// NewPanels returns an empty (all zero) packed B [k, n] for a caller that fills the
// panels itself (Panels).
func NewPanels(k, n int, signed bool) *Packed {
	kg := (k + 3) / 4
	return &Packed{k: k, n: n, kg: kg, signed: signed, panels: make([]byte, ((n+nr-1)/nr)*kg*nr*4)}
}

// Panels returns the packed bytes: panel j/32 (PanelSize bytes each) holds columns
// j .. j+31, element (p, j) at offset (p/4)*128 + (j%32)*4 + p%4 of its panel; rows
// past K and columns past N must stay 0.
func (p *Packed) Panels() []byte { return p.panels }

// Clear zeroes the panels for refilling (and forgets the column sums).
func (p *Packed) Clear() {
	clear(p.panels)
	p.colSums = nil
}

// PanelSize is the size in bytes of one panel.
func (p *Packed) PanelSize() int { return p.kg * nr * 4 }

// Pack packs B [k, n] whose element (p, j) is the byte b[p*rowStride + j*colStride]
// (int8 when signed, else uint8). A transposed matrix is packed by swapping the
// strides.
func Pack(k, n int, b []byte, rowStride, colStride int, signed bool) *Packed {
	p := NewPanels(k, n, signed)
	for j := 0; j < n; j++ {
		panel := p.panels[(j/nr)*p.kg*nr*4:]
		col := j % nr
		for q := 0; q < k; q++ {
			panel[(q/4)*nr*4+col*4+q%4] = b[q*rowStride+j*colStride]
		}
	}
	p.sums()
	return p
}

// sums computes the column sums of the packed values if they are not there yet.
func (p *Packed) sums() []int32 {
	if p.colSums != nil {
		return p.colSums
	}
	cs := make([]int32, p.n)
	for j := range cs {
		panel := p.panels[(j/nr)*p.kg*nr*4:]
		col := j % nr
		var s int32
		for g := 0; g < p.kg; g++ {
			w := panel[g*nr*4+col*4 : g*nr*4+col*4+4]
			if p.signed {
				s += int32(int8(w[0])) + int32(int8(w[1])) + int32(int8(w[2])) + int32(int8(w[3]))
			} else {
				s += int32(w[0]) + int32(w[1]) + int32(w[2]) + int32(w[3])
			}
		}
		cs[j] = s
	}
	p.colSums = cs
	return cs
}

// PackedA is a constant matrix A [M, K] packed for GemmPacked, with its row sums.
type PackedA struct {
	m, k, kg int
	signed   bool
	flipped  bool // packed flipped (XOR 0x80) for B of its own type
	strips   []byte
	rowSums  []int32
}

// PackA packs A [m, k] (a[i*lda + p]; int8 when signed) for products with a B whose
// signedness is bSigned.
func PackA(m, k int, a []byte, lda int, signed, bSigned bool) *PackedA {
	kg := (k + 3) / 4
	p := &PackedA{m: m, k: k, kg: kg, signed: signed, flipped: signed == bSigned,
		strips: make([]byte, ((m+mr-1)/mr)*mr*kg*4), rowSums: make([]int32, m)}
	var flip byte
	if p.flipped {
		flip = 0x80
	}
	packA(p.strips, p.rowSums, a, lda, m, k, kg, flip, p.packedSigned())
	return p
}

// packedSigned reports whether the packed bytes of A are int8.
func (p *PackedA) packedSigned() bool { return p.signed != p.flipped }

// zeroPoints returns A's zero points moved as its flip moves the values
// (XOR 0x80: int8 -> uint8 adds 128, uint8 -> int8 subtracts 128).
func shiftZero(z []int32, n int, signed, flipped bool) []int32 {
	out := make([]int32, n)
	var d int32
	if flipped {
		d = 128
		if !signed {
			d = -128
		}
	}
	for i := range out {
		out[i] = at(z, i) + d
	}
	return out
}

// corrections returns the per-column terms of the zero-point correction:
// colAdj[j] = K*zb[j] - colSum[j] (colSum only when some row zero point is not 0),
// and whether every zb is 0.
func corrections(b *Packed, zbs []int32, zaAllZero bool) (colAdj []int32, zbZero bool) {
	colAdj = make([]int32, b.n)
	zbZero = true
	var cs []int32
	if !zaAllZero {
		cs = b.sums()
	}
	for j := range colAdj {
		colAdj[j] = int32(b.k) * zbs[j]
		if cs != nil {
			colAdj[j] -= cs[j]
		}
		zbZero = zbZero && zbs[j] == 0
	}
	return colAdj, zbZero
}

func allZero(z []int32) bool {
	for _, v := range z {
		if v != 0 {
			return false
		}
	}
	return true
}

// packBuffers holds the buffers Gemm packs blocks of A into (packA writes every
// byte a product reads).
var packBuffers = sync.Pool{New: func() any { return new([]byte) }}

// Gemm sets c[i*ldc + j] = sum over p < K of (A[i, p] - za[i]) * (B[p, j] - zb[j]) for
// i < m, j < N, where A[i, p] is the byte a[i*lda + p] (int8 when aSigned, else
// uint8) and B is packed. za holds 1 or m zero points and zb 1 or N, as values of A's
// and B's types. threads bounds the goroutines (internal/parallel).
func Gemm(threads, m int, a []byte, lda int, aSigned bool, za []int32, b *Packed, zb []int32, c []int32, ldc int) {
	GemmThen(threads, m, a, lda, aSigned, za, b, zb, c, ldc, nil)
}

// GemmThen is Gemm followed by then(i0, i1) for rows i0 .. i1-1 of c once they are
// final: in the goroutine that computed them, while they are still in its cache,
// when each task owns whole rows; otherwise over row ranges after the product.
// Calls run concurrently, for disjoint rows. then may be nil.
func GemmThen(threads, m int, a []byte, lda int, aSigned bool, za []int32, b *Packed, zb []int32, c []int32, ldc int, then func(i0, i1 int)) {
	if m <= 0 || b.n == 0 {
		return
	}
	if b.k == 0 {
		for i := 0; i < m; i++ {
			clear(c[i*ldc : i*ldc+b.n])
		}
		if then != nil {
			then(0, m)
		}
		return
	}
	flipped := aSigned == b.signed
	var flipA byte
	if flipped {
		flipA = 0x80
	}
	zas := shiftZero(za, m, aSigned, flipped)
	zbs := shiftZero(zb, b.n, false, false)
	colAdj, zbZero := corrections(b, zbs, allZero(zas))
	fn := kernel.us
	if !b.signed {
		fn = kernel.su
	}
	mBlocks := (m + mc - 1) / mc
	panels := (b.n + nr - 1) / nr
	// Split the panels too when there are fewer row blocks than threads.
	nChunks := 1
	if t := parallel.Threads(threads); mBlocks < t {
		nChunks = min(panels, (t+mBlocks-1)/mBlocks)
	}
	parallel.For(threads, mBlocks*nChunks, 1, func(lo, hi int) {
		buf := packBuffers.Get().(*[]byte)
		defer packBuffers.Put(buf)
		if cap(*buf) < mc*b.kg*4 {
			*buf = make([]byte, mc*b.kg*4)
		}
		pa := (*buf)[:mc*b.kg*4]
		rowSums := make([]int32, mc)
		var tile [mr * nr]int32
		for t := lo; t < hi; t++ {
			blk, chunk := t/nChunks, t%nChunks
			i0 := blk * mc
			rows := min(mc, m-i0)
			var sums []int32
			if !zbZero {
				sums = rowSums
			}
			packA(pa, sums, a[i0*lda:], lda, rows, b.k, b.kg, flipA, aSigned != flipped)
			p0, p1 := chunk*panels/nChunks, (chunk+1)*panels/nChunks
			run(fn, pa, rows, b, p0, p1, c[i0*ldc:], ldc, &tile, rowSums, zas[i0:i0+rows], zbs, colAdj, zbZero)
			if nChunks == 1 && then != nil {
				then(i0, i0+rows)
			}
		}
	})
	if nChunks > 1 && then != nil {
		parallel.For(threads, m, max(1, 16384/b.n), then)
	}
}

// GemmPacked is Gemm with a packed A: c[i*ldc + j] = sum_p (A[i, p] - za[i]) *
// (B[p, j] - zb[j]). The work is split over B's panels.
func GemmPacked(threads int, a *PackedA, za []int32, b *Packed, zb []int32, c []int32, ldc int) {
	if a.m <= 0 || b.n == 0 {
		return
	}
	if a.k != b.k || a.packedSigned() == b.signed {
		panic("qgemm: GemmPacked operands do not match")
	}
	if b.k == 0 {
		for i := 0; i < a.m; i++ {
			clear(c[i*ldc : i*ldc+b.n])
		}
		return
	}
	zas := shiftZero(za, a.m, a.signed, a.flipped)
	zbs := shiftZero(zb, b.n, false, false)
	colAdj, zbZero := corrections(b, zbs, allZero(zas))
	fn := kernel.us
	if !b.signed {
		fn = kernel.su
	}
	panels := (b.n + nr - 1) / nr
	parallel.For(threads, panels, 1, func(p0, p1 int) {
		var tile [mr * nr]int32
		run(fn, a.strips, a.m, b, p0, p1, c, ldc, &tile, a.rowSums, zas, zbs, colAdj, zbZero)
	})
}

// run multiplies the packed strips of rows A rows by panels p0..p1 of b into c
// (row 0 of the strips at c[0]) and applies the zero points.
func run(fn kernelFunc, pa []byte, rows int, b *Packed, p0, p1 int, c []int32, ldc int, tile *[mr * nr]int32, rowSums, zas, zbs, colAdj []int32, zbZero bool) {
	// With B's zero points all 0 and one zero point for every row of A (a
	// per-tensor za, as DynamicQuantizeLinear's), the correction za*colAdj[j] is the
	// same for every row: the kernel starts its sums from it and fix has nothing
	// left to do.
	uniform := zbZero && rows > 0
	for _, z := range zas[:rows] {
		uniform = uniform && z == zas[0]
	}
	var init [nr]int32
	for pi := p0; pi < p1; pi++ {
		bp := &b.panels[pi*b.kg*nr*4]
		j0 := pi * nr
		cols := min(nr, b.n-j0)
		ip := &zeroInit[0]
		if uniform && zas[0] != 0 {
			for j := range cols {
				init[j] = zas[0] * colAdj[j0+j]
			}
			ip = &init[0]
		}
		for s := 0; s < rows; s += mr {
			sr := min(mr, rows-s)
			ap := &pa[s*b.kg*4]
			if sr == mr && cols == nr {
				dst := c[s*ldc+j0:]
				fn(b.kg, ap, bp, &dst[0], ldc, ip)
				if !uniform {
					for i := 0; i < mr; i++ {
						fix(dst[i*ldc:i*ldc+nr], rowSum(rowSums, s+i), zas[s+i], zbs[j0:j0+nr], colAdj[j0:j0+nr], zbZero)
					}
				}
				continue
			}
			fn(b.kg, ap, bp, &tile[0], nr, ip)
			for i := 0; i < sr; i++ {
				dst := c[(s+i)*ldc+j0 : (s+i)*ldc+j0+cols]
				copy(dst, tile[i*nr:i*nr+cols])
				if !uniform {
					fix(dst, rowSum(rowSums, s+i), zas[s+i], zbs[j0:j0+cols], colAdj[j0:j0+cols], zbZero)
				}
			}
		}
	}
}

func rowSum(s []int32, i int) int32 {
	if s == nil {
		return 0
	}
	return s[i]
}

// fix applies the zero points to one row of raw sums: c += za*colAdj - rowSum*zb
// (rowSum is unused when every zb is 0).
func fix(c []int32, rowSum, za int32, zb, colAdj []int32, zbZero bool) {
	if zbZero && za == 0 {
		return
	}
	colAdj = colAdj[:len(c)]
	if !zbZero {
		zb = zb[:len(c)]
	}
	n := fixVec(c, rowSum, za, zb, colAdj, zbZero)
	c, zb, colAdj = c[n:], zb[n:], colAdj[n:]
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
// zero-padded to whole strips and groups, and when rowSums is not nil stores each
// row's sum of (packed) values, int8 when signed.
func packA(dst []byte, rowSums []int32, a []byte, lda, rows, k, kg int, flip byte, signed bool) {
	strips := (rows + mr - 1) / mr
	dst = dst[:strips*mr*kg*4]
	flip4 := uint32(flip) * 0x01010101
	kw := k / 4 // whole words per row
	if rows > 0 && (rows-1)*lda+k > len(a) {
		panic("qgemm: packA reads past A")
	}
	for s := 0; s < strips; s++ {
		strip := dst[s*mr*kg*4 : (s+1)*mr*kg*4]
		sr := min(mr, rows-s*mr)
		if sr < mr || kw < kg {
			clear(strip) // rows past the last and the K tail stay 0
		}
		// Group-major: each group's words of the strip's rows are stored
		// contiguously (32 bytes), each row read sequentially.
		words := unsafe.Slice((*uint32)(unsafe.Pointer(unsafe.SliceData(strip))), mr*kg)
		for r := 0; r < sr; r++ {
			src := unsafe.Pointer(unsafe.SliceData(a[(s*mr+r)*lda:]))
			for g := 0; g < kw; g++ {
				words[g*mr+r] = *(*uint32)(unsafe.Add(src, 4*g)) ^ flip4
			}
			row := a[(s*mr+r)*lda : (s*mr+r)*lda+k]
			for q := kw * 4; q < k; q++ {
				strip[(q/4)*mr*4+r*4+q%4] = row[q] ^ flip
			}
		}
	}
	if rowSums != nil {
		for i := 0; i < rows; i++ {
			src := a[i*lda : i*lda+k]
			var sum int32
			if signed {
				for _, v := range src {
					sum += int32(int8(v ^ flip))
				}
			} else {
				for _, v := range src {
					sum += int32(v ^ flip)
				}
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
