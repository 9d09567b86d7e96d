package runtime

import "sync"

// Sgemm computes C = alpha*op(A)*op(B) + beta*C for row-major float32 matrices, where
// op(X) is X or its transpose. op(A) is m x k, op(B) is k x n, C is m x n; lda, ldb and
// ldc are the row strides of A, B and C as stored. The work is blocked for the caches:
// B is packed in kc x nr panels, A in mr x kc strips, and a register-blocked mr x nr
// micro-kernel (AVX2/FMA assembly where the CPU has it, plain Go otherwise)
// accumulates each tile; tiles of C run on parallel goroutines.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, true)
}

// microKernel adds alpha * (mr x kc strip of a) * (kc x nr panel of b) to the mr x nr
// tile of c at row stride ldc.
type microKernel struct {
	mr, nr int
	fn     func(kc int, a, b, c []float32, ldc int, alpha float32)
}

var goKernel = microKernel{2, 4, kernel2x4}

// activeKernel is the micro-kernel in use; gemm_amd64.go swaps in the assembly one.
var activeKernel = goKernel

const (
	gemmKC = 256 // depth of packed panels: one B panel stays in L1
	gemmMC = 96  // rows of A packed at once (a multiple of every mr): stays in L2
	gemmNC = 512 // columns of C per parallel job
)

func sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, parallel bool) {
	sgemmWith(activeKernel, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, parallel)
}

func sgemmWith(kern microKernel, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, parallel bool) {
	if m == 0 || n == 0 {
		return
	}
	if beta != 1 {
		for i := 0; i < m; i++ {
			row := c[i*ldc : i*ldc+n]
			if beta == 0 {
				clear(row)
				continue
			}
			for j := range row {
				row[j] *= beta
			}
		}
	}
	if k == 0 || alpha == 0 {
		return
	}
	mr, nr := kern.mr, kern.nr
	np := (n + nr - 1) / nr
	packedB := getPackBuf(min(gemmKC, k) * np * nr)
	defer putPackBuf(packedB)
	rowBlocks := (m + gemmMC - 1) / gemmMC
	colBlocks := (n + gemmNC - 1) / gemmNC
	for pc := 0; pc < k; pc += gemmKC {
		kc := min(gemmKC, k-pc)
		packBPanels := func(lo, hi int) {
			for jp := lo; jp < hi; jp++ {
				packB(packedB[jp*nr*kc:(jp+1)*nr*kc], b, ldb, transB, pc, kc, jp*nr, n, nr)
			}
		}
		run := func(lo, hi int) {
			packedA := getPackBuf(gemmMC * kc)
			defer putPackBuf(packedA)
			tile := make([]float32, mr*nr)
			for job := lo; job < hi; job++ {
				ic := (job / colBlocks) * gemmMC
				jc := (job % colBlocks) * gemmNC
				mc := min(gemmMC, m-ic)
				packA(packedA, a, lda, transA, ic, mc, pc, kc, mr)
				for j0 := jc; j0 < min(jc+gemmNC, n); j0 += nr {
					pb := packedB[(j0/nr)*nr*kc : (j0/nr+1)*nr*kc]
					nrr := min(nr, n-j0)
					for ip := 0; ip*mr < mc; ip++ {
						pa := packedA[ip*mr*kc : (ip+1)*mr*kc]
						i0 := ic + ip*mr
						mrr := min(mr, m-i0)
						if mrr == mr && nrr == nr {
							kern.fn(kc, pa, pb, c[i0*ldc+j0:], ldc, alpha)
							continue
						}
						clear(tile)
						kern.fn(kc, pa, pb, tile, nr, alpha)
						for i := 0; i < mrr; i++ {
							row := c[(i0+i)*ldc+j0 : (i0+i)*ldc+j0+nrr]
							for j := range row {
								row[j] += tile[i*nr+j]
							}
						}
					}
				}
			}
		}
		if parallel && m*n*kc > 1<<16 {
			parallelFor(np, 8, packBPanels)
			parallelFor(rowBlocks*colBlocks, 1, run)
		} else {
			packBPanels(0, np)
			run(0, rowBlocks*colBlocks)
		}
	}
}

// packPool recycles packing buffers across calls: packB and packA overwrite every
// element they use, so stale contents do not matter.
var packPool sync.Pool

func getPackBuf(n int) []float32 {
	if p, ok := packPool.Get().(*[]float32); ok && cap(*p) >= n {
		return (*p)[:n]
	}
	return make([]float32, n)
}

func putPackBuf(b []float32) { packPool.Put(&b) }

// packB copies rows [pc, pc+kc) and columns [j0, j0+nr) of op(B) into dst, k-major
// (nr values per k), zero-padded past column n.
func packB(dst, b []float32, ldb int, trans bool, pc, kc, j0, n, nr int) {
	cols := min(nr, n-j0)
	for p := 0; p < kc; p++ {
		out := dst[p*nr : p*nr+nr]
		if trans {
			for j := 0; j < cols; j++ {
				out[j] = b[(j0+j)*ldb+pc+p]
			}
		} else {
			copy(out[:cols], b[(pc+p)*ldb+j0:(pc+p)*ldb+j0+cols])
		}
		clear(out[cols:])
	}
}

// packA copies rows [ic, ic+mc) x columns [pc, pc+kc) of op(A) into strips of mr
// rows, each stored k-major, zero-padded past mc.
func packA(dst, a []float32, lda int, trans bool, ic, mc, pc, kc, mr int) {
	for ip := 0; ip*mr < mc; ip++ {
		strip := dst[ip*mr*kc : (ip+1)*mr*kc]
		for i := 0; i < mr; i++ {
			r := ip*mr + i
			if r >= mc {
				for p := 0; p < kc; p++ {
					strip[p*mr+i] = 0
				}
				continue
			}
			row := ic + r
			if trans {
				for p := 0; p < kc; p++ {
					strip[p*mr+i] = a[(pc+p)*lda+row]
				}
			} else {
				src := a[row*lda+pc : row*lda+pc+kc]
				for p, v := range src {
					strip[p*mr+i] = v
				}
			}
		}
	}
}

// kernel2x4 is the plain-Go micro-kernel. It is sized for amd64's 15 usable float
// registers: 8 accumulators, 2 A values and 4 B values; a 4x4 tile spills and runs
// about 1.5x slower.
func kernel2x4(kc int, a, b []float32, c []float32, ldc int, alpha float32) {
	var c00, c01, c02, c03, c10, c11, c12, c13 float32
	a = a[:2*kc]
	b = b[:4*kc]
	for p := 0; p < kc; p++ {
		aa := a[2*p : 2*p+2 : 2*p+2]
		bb := b[4*p : 4*p+4 : 4*p+4]
		a0, a1 := aa[0], aa[1]
		b0, b1, b2, b3 := bb[0], bb[1], bb[2], bb[3]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
	}
	r := c[0:4:4]
	r[0] += alpha * c00
	r[1] += alpha * c01
	r[2] += alpha * c02
	r[3] += alpha * c03
	r = c[ldc : ldc+4 : ldc+4]
	r[0] += alpha * c10
	r[1] += alpha * c11
	r[2] += alpha * c12
	r[3] += alpha * c13
}
