package blas

import (
	"fmt"
	goruntime "runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/refit-ml/refit/internal/parallel"
)

// Cache blocking. kc x nr panels of B stay in L1 while an mc x kc block of packed A
// stays in L2; a kc x nc block of packed B stays in L2/L3. gemmMC is a multiple of
// every kernel's mr (4 and 6).
const (
	gemmKC = 256
	gemmMC = 144
	gemmNC = 1024
)

// parallelMinFlops is the m*n*k below which a call runs on one goroutine: smaller
// products finish before the fork-join would pay for itself.
const parallelMinFlops = 1 << 21

// kernelFunc computes the mr x nr tile
//
//	C = alpha * (packed A strip) * (packed B panel) + beta * C
//
// over kc steps. a holds kc groups of mr values, b kc groups of nr values; c is
// row-major with stride ldc. beta == 0 stores without reading C.
type kernelFunc func(kc int, a, b, c *float32, ldc int, alpha, beta float32)

// microKernel is a register tile geometry with the function that fills it.
type microKernel struct {
	name   string
	mr, nr int
	fn     kernelFunc
	half   kernelFunc // optional: the left mr x nr/2 of a tile, for narrow edges
	// cols optionally computes the left mr x 4 of a tile for the narrowest edges,
	// stored column by column: c[j*mr+i] is row i of column j (ldc and beta unused).
	cols kernelFunc
}

// kernel is the micro-kernel chosen for this CPU at init; see kernel_*.go.
var kernel = genericKernel

// Kernel names the micro-kernel in use, e.g. "avx2-6x16" or "go-4x4".
func Kernel() string { return kernel.name }

// Sgemm computes C = alpha*op(A)*op(B) + beta*C for row-major float32 matrices, where
// op(X) is X or its transpose. op(A) is m x k, op(B) is k x n, C is m x n; lda, ldb
// and ldc are the row strides of A, B and C as stored. When beta is 0, C's old
// contents (NaN included) are ignored. It panics if a stride or slice is too short.
// The call uses at most threads goroutines (the caller's included); threads <= 0
// means GOMAXPROCS. The result does not depend on threads.
func Sgemm(threads int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkMatrix("A", transA, m, k, a, lda)
	checkMatrix("B", transB, k, n, b, ldb)
	checkMatrix("C", false, m, n, c, ldc)
	g := gemm{threads: threads, transA: transA, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
		transB: transB, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc}
	g.do()
}

// PackedB is a k x n right-hand operand packed once into the layout the micro-kernel
// reads, for reuse across many products (constant Conv/Gemm/MatMul weights). It is
// immutable and safe for concurrent use. It is tied to the kernel of the process that
// packed it and is not a serialization format.
type PackedB struct {
	k, n, nr int
	data     []float32
}

// Dims reports the k x n shape of op(B) that p holds.
func (p *PackedB) Dims() (k, n int) { return p.k, p.n }

// PackB packs op(B) (k x n, row stride ldb as stored) for SgemmPackedB. It copies;
// b may change afterwards. It uses k*roundup(n, 16) floats.
func PackB(transB bool, k, n int, b []float32, ldb int) *PackedB {
	checkMatrix("B", transB, k, n, b, ldb)
	nr := kernel.nr
	np := (n + nr - 1) / nr
	p := &PackedB{k: k, n: n, nr: nr, data: make([]float32, k*np*nr)}
	for pc := 0; pc < k; pc += gemmKC {
		kc := min(gemmKC, k-pc)
		packB(p.data[pc*np*nr:], b, ldb, transB, pc, kc, 0, n, nr)
	}
	return p
}

// SgemmPackedB is Sgemm with op(B) taken from p: C = alpha*op(A)*B + beta*C, where
// op(A) is m x k and C is m x n for p's k x n. threads is as in Sgemm.
func SgemmPackedB(threads int, transA bool, m int, alpha float32, a []float32, lda int, p *PackedB, beta float32, c []float32, ldc int) {
	if p.nr != kernel.nr {
		panic("blas: PackedB packed for another kernel")
	}
	checkMatrix("A", transA, m, p.k, a, lda)
	checkMatrix("C", false, m, p.n, c, ldc)
	g := gemm{threads: threads, transA: transA, m: m, n: p.n, k: p.k, alpha: alpha, a: a, lda: lda,
		packed: p, beta: beta, c: c, ldc: ldc}
	g.do()
}

// PackedA is an m x k left-hand operand packed once into the layout the micro-kernel
// reads, for reuse across many products (the constant weights of a convolution
// computed as W * im2col). Like PackedB it is immutable, safe for concurrent use and
// tied to the process's kernel.
type PackedA struct {
	m, k, mr int
	data     []float32
}

// Dims reports the m x k shape of op(A) that p holds.
func (p *PackedA) Dims() (m, k int) { return p.m, p.k }

// PackA packs op(A) (m x k, row stride lda as stored) for SgemmPackedA. It copies;
// a may change afterwards. It uses roundup(m, 6)*k floats.
func PackA(transA bool, m, k int, a []float32, lda int) *PackedA {
	checkMatrix("A", transA, m, k, a, lda)
	mr := kernel.mr
	mp := (m + mr - 1) / mr
	p := &PackedA{m: m, k: k, mr: mr, data: make([]float32, mp*mr*k)}
	for pc := 0; pc < k; pc += gemmKC {
		kc := min(gemmKC, k-pc)
		packA(p.data[pc*mp*mr:], a, lda, transA, 0, m, pc, kc, mr)
	}
	return p
}

// SgemmPackedA is Sgemm with op(A) taken from p: C = alpha*A*op(B) + beta*C, where
// op(B) is k x n and C is m x n for p's m x k. threads is as in Sgemm.
func SgemmPackedA(threads int, p *PackedA, transB bool, n int, alpha float32, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if p.mr != kernel.mr {
		panic("blas: PackedA packed for another kernel")
	}
	checkMatrix("B", transB, p.k, n, b, ldb)
	checkMatrix("C", false, p.m, n, c, ldc)
	g := gemm{threads: threads, m: p.m, n: n, k: p.k, alpha: alpha, packedA: p,
		transB: transB, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc}
	g.do()
}

// checkMatrix panics unless x holds a rows x cols matrix (stored transposed when
// trans) with row stride ld.
func checkMatrix(name string, trans bool, rows, cols int, x []float32, ld int) {
	if rows < 0 || cols < 0 {
		panic(fmt.Sprintf("blas: negative dimension of %s: %d x %d", name, rows, cols))
	}
	if trans {
		rows, cols = cols, rows
	}
	if ld < max(cols, 1) {
		panic(fmt.Sprintf("blas: stride of %s is %d, want >= %d", name, ld, max(cols, 1)))
	}
	if rows == 0 || cols == 0 {
		return
	}
	if need := (rows-1)*ld + cols; len(x) < need {
		panic(fmt.Sprintf("blas: %s has %d elements, want >= %d", name, len(x), need))
	}
}

// gemm is one validated call.
type gemm struct {
	threads  int // as passed; <= 0 means GOMAXPROCS
	transA   bool
	m, n, k  int
	alpha    float32
	a        []float32
	lda      int
	transB   bool
	b        []float32
	ldb      int
	packed   *PackedB
	packedA  *PackedA
	conv     Conv2D // op(B) is im2col(b) when isConv
	isConv   bool
	bias     []float32
	relu     bool
	offs     []int // op(B) row p is b[offs[p]:] when not nil (SgemmShifted)
	beta     float32
	c        []float32
	ldc      int
	kern     microKernel
	pieces   int
	next     atomic.Int32                   // next piece to claim
	panicked atomic.Pointer[parallel.Panic] // the first panic of a piece, raised again by the caller
	rowSplit []int                          // thread row bounds, multiples of mr
	colSplit []int                          // thread column bounds, multiples of nr
}

// freeList keeps released objects for reuse. Unlike sync.Pool it survives garbage
// collections, so steady calls allocate nothing; it keeps at most limit objects.
type freeList[T any] struct {
	mu    sync.Mutex
	items []*T
	limit int
}

func (f *freeList[T]) get(make func() *T) *T {
	f.mu.Lock()
	if n := len(f.items); n > 0 {
		x := f.items[n-1]
		f.items[n-1] = nil
		f.items = f.items[:n-1]
		f.mu.Unlock()
		return x
	}
	f.mu.Unlock()
	return make()
}

func (f *freeList[T]) put(x *T) {
	f.mu.Lock()
	if len(f.items) < f.limit {
		f.items = append(f.items, x)
	}
	f.mu.Unlock()
}

var (
	gemmFree      = freeList[gemm]{limit: 64}
	workspaceFree = freeList[workspace]{limit: 4 + 2*goruntime.NumCPU()}
)

func newGemm() *gemm { return new(gemm) }

func newWorkspace() *workspace {
	return &workspace{
		a: make([]float32, (gemmMC+16)*gemmKC),
		b: make([]float32, gemmKC*(gemmNC+32)),
	}
}

func (g *gemm) do() {
	if g.m == 0 || g.n == 0 {
		return
	}
	if g.k == 0 || g.alpha == 0 {
		scaleC(g.c, g.ldc, 0, g.m, 0, g.n, g.beta)
		return
	}
	g.kern = kernel
	t := parallel.Threads(g.threads)
	work := g.m * g.n * g.k
	if t > 1 && work < parallelMinFlops {
		t = 1
	}
	if t <= 1 {
		g.run(0, g.m, 0, g.n)
		return
	}
	// Copy the call into pooled storage the workers can share without this frame
	// escaping.
	h := gemmFree.get(newGemm)
	h.transA, h.m, h.n, h.k, h.alpha, h.a, h.lda = g.transA, g.m, g.n, g.k, g.alpha, g.a, g.lda
	h.transB, h.b, h.ldb, h.packed, h.packedA = g.transB, g.b, g.ldb, g.packed, g.packedA
	h.conv, h.isConv, h.offs = g.conv, g.isConv, g.offs
	h.beta, h.c, h.ldc, h.kern = g.beta, g.c, g.ldc, g.kern
	h.bias, h.relu = g.bias, g.relu // SgemmPackedBBias's epilogue
	h.rowSplit, h.colSplit = h.rowSplit[:0], h.colSplit[:0]
	// A few pieces per goroutine when the product is large, so a goroutine the OS
	// schedules late (a busy machine) finds its share already taken by the others.
	per := min(3, max(1, work/(t<<22)))
	h.split(t * per)
	h.parallel(t)
}

// split divides C into a tr x tc grid of tr*tc <= t pieces, choosing the grid with
// the cheapest largest piece: its multiply-adds plus the packing it repeats.
func (g *gemm) split(t int) {
	mr, nr := g.kern.mr, g.kern.nr
	rowUnits, colUnits := (g.m+mr-1)/mr, (g.n+nr-1)/nr
	packCostA, packCostB := 8, 8 // a packed value costs about 8 lanes of FMA
	if g.packedA != nil {
		packCostA = 0
	}
	if g.packed != nil {
		packCostB = 0
	}
	bestTR, bestTC, bestCost := 1, 1, -1
	for tc := t; tc >= 1; tc-- {
		tr := t / tc
		if tr > rowUnits || tc > colUnits {
			continue
		}
		rows := min(g.m, (rowUnits+tr-1)/tr*mr)
		cols := min(g.n, (colUnits+tc-1)/tc*nr)
		cost := rows*cols + packCostA*rows + packCostB*cols
		if tr*tc < t {
			cost += cost / 8 // fewer pieces than asked balance worse
		}
		if bestCost < 0 || cost < bestCost {
			bestTR, bestTC, bestCost = tr, tc, cost
		}
	}
	g.rowSplit = appendBounds(g.rowSplit, rowUnits, bestTR, mr, g.m)
	g.colSplit = appendBounds(g.colSplit, colUnits, bestTC, nr, g.n)
}

// appendBounds splits units of size unit (capped at limit) into parts near-equal runs.
func appendBounds(dst []int, units, parts, unit, limit int) []int {
	dst = append(dst, 0)
	for i := 1; i <= parts; i++ {
		dst = append(dst, min(limit, units*i/parts*unit))
	}
	return dst
}

// parallel runs the pieces of the split on the calling goroutine and up to t-1
// helpers of parallel.Do, each claiming pieces until none are left, and returns g
// to gemmFree.
func (g *gemm) parallel(t int) {
	g.pieces = (len(g.rowSplit) - 1) * (len(g.colSplit) - 1)
	parallel.Do(min(t, g.pieces), g.work)
	p := g.panicked.Swap(nil)
	g.a, g.b, g.c, g.packed, g.packedA, g.offs, g.bias = nil, nil, nil, nil, nil, nil, nil
	g.next.Store(0)
	gemmFree.put(g)
	if p != nil {
		panic(p)
	}
}

// work runs unclaimed pieces until there are none. A panic in a piece (such as a
// fault on a weight left in a file that another process truncated) is kept for the
// caller, which raises it again once every piece is done, rather than ending the
// process from a helper.
func (g *gemm) work() {
	defer func() {
		if r := recover(); r != nil {
			p, ok := r.(*parallel.Panic)
			if !ok {
				p = &parallel.Panic{Value: r, Stack: debug.Stack()}
			}
			g.panicked.CompareAndSwap(nil, p)
		}
	}()
	for {
		i := int(g.next.Add(1)) - 1
		if i >= g.pieces {
			return
		}
		tc := len(g.colSplit) - 1
		r, c := i/tc, i%tc
		g.run(g.rowSplit[r], g.rowSplit[r+1], g.colSplit[c], g.colSplit[c+1])
	}
}

// workspace holds one goroutine's packing buffers.
type workspace struct {
	a    []float32
	b    []float32
	tile [16 * 16]float32
	conv []float32 // packBConv scratch, allocated on first use
}

// convRows returns the packBConv scratch.
func (ws *workspace) convRows() []float32 {
	if ws.conv == nil {
		ws.conv = make([]float32, convScratchLen)
	}
	return ws.conv
}

// run computes rows [r0, r1) x columns [c0, c1) of C serially; c0 is a multiple of
// the kernel's nr.
func (g *gemm) run(r0, r1, c0, c1 int) {
	if r0 >= r1 || c0 >= c1 {
		return
	}
	ws := workspaceFree.get(newWorkspace)
	defer workspaceFree.put(ws)
	mr, nr, fn := g.kern.mr, g.kern.nr, g.kern.fn
	var biasFn biasKernelFunc
	if g.bias != nil {
		biasFn = biasKernelFor(&g.kern)
	}
	npAll := (g.n + nr - 1) / nr
	mpAll := (g.m + mr - 1) / mr
	for jc := c0; jc < c1; jc += gemmNC {
		ncb := min(gemmNC, c1-jc)
		for pc := 0; pc < g.k; pc += gemmKC {
			kc := min(gemmKC, g.k-pc)
			var bp []float32
			if g.packed != nil {
				bp = g.packed.data[pc*npAll*nr+jc/nr*kc*nr:]
			} else if g.offs != nil {
				packBShifted(ws.b, g.b, g.offs, pc, kc, jc, ncb, nr)
				bp = ws.b
			} else if g.isConv {
				packBConv(ws.b, ws.convRows(), g.b, &g.conv, pc, kc, jc, ncb, nr)
				bp = ws.b
			} else {
				packB(ws.b, g.b, g.ldb, g.transB, pc, kc, jc, ncb, nr)
				bp = ws.b
			}
			beta := g.beta
			if pc > 0 {
				beta = 1
			}
			for ic := r0; ic < r1; ic += gemmMC {
				mcb := min(gemmMC, r1-ic)
				ap := ws.a
				if g.packedA != nil {
					ap = g.packedA.data[pc*mpAll*mr+ic*kc:]
				} else {
					packA(ws.a, g.a, g.lda, g.transA, ic, mcb, pc, kc, mr)
				}
				for jr := 0; jr < ncb; jr += nr {
					nrb := min(nr, ncb-jr)
					pb := bp[jr*kc:]
					for ir := 0; ir < mcb; ir += mr {
						mrb := min(mr, mcb-ir)
						pa := ap[ir*kc:]
						off := (ic+ir)*g.ldc + jc + jr
						switch {
						case mrb == mr && nrb == nr && biasFn != nil && pc+kc == g.k:
							biasFn(kc, &pa[0], &pb[0], &g.c[off], g.ldc, beta, &g.bias[jc+jr], g.relu)
							continue
						case mrb == mr && nrb == nr:
							fn(kc, &pa[0], &pb[0], &g.c[off], g.ldc, g.alpha, beta)
						case nrb <= 4 && g.kern.cols != nil:
							g.kern.cols(kc, &pa[0], &pb[0], &ws.tile[0], 0, g.alpha, 0)
							mergeCols(g.c[off:], g.ldc, ws.tile[:], mr, mrb, nrb, beta)
						default:
							if nrb <= nr/2 && g.kern.half != nil {
								g.kern.half(kc, &pa[0], &pb[0], &ws.tile[0], nr, g.alpha, 0)
							} else {
								fn(kc, &pa[0], &pb[0], &ws.tile[0], nr, g.alpha, 0)
							}
							mergeTile(g.c[off:], g.ldc, ws.tile[:], nr, mrb, nrb, beta)
						}
						if g.bias != nil && pc+kc == g.k {
							biasRows(g.c[off:], g.ldc, mrb, g.bias[jc+jr:jc+jr+nrb], g.relu)
						}
					}
				}
			}
		}
	}
}

// mergeTile sets the rows x cols corner of c to tile + beta*c.
func mergeTile(c []float32, ldc int, tile []float32, ldt, rows, cols int, beta float32) {
	for i := 0; i < rows; i++ {
		dst := c[i*ldc : i*ldc+cols]
		src := tile[i*ldt : i*ldt+cols]
		if beta == 0 {
			copy(dst, src)
			continue
		}
		for j, v := range src {
			dst[j] = v + beta*dst[j]
		}
	}
}

// mergeCols sets the rows x cols corner of c to tile^T + beta*c, where tile holds
// the columns of the corner ldt apart.
func mergeCols(c []float32, ldc int, tile []float32, ldt, rows, cols int, beta float32) {
	for i := 0; i < rows; i++ {
		dst := c[i*ldc : i*ldc+cols]
		for j := range dst {
			v := tile[j*ldt+i]
			if beta != 0 {
				v += beta * dst[j]
			}
			dst[j] = v
		}
	}
}

// scaleC multiplies rows [r0, r1) x columns [c0, c1) of C by beta; beta == 0 clears.
func scaleC(c []float32, ldc, r0, r1, c0, c1 int, beta float32) {
	if beta == 1 {
		return
	}
	for i := r0; i < r1; i++ {
		row := c[i*ldc+c0 : i*ldc+c1]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}

// floats views n float32 values at p.
func floats(p *float32, n int) []float32 { return unsafe.Slice(p, n) }
