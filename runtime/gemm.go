package runtime

// Sgemm computes C = alpha*op(A)*op(B) + beta*C for row-major float32 matrices, where
// op(X) is X or its transpose. op(A) is m x k, op(B) is k x n, C is m x n; lda, ldb and
// ldc are the row strides of A, B and C as stored. The work is blocked for the caches:
// B is packed in kc x nr panels, A in mr x kc strips, and a register-blocked mr x nr
// micro-kernel accumulates each tile; row blocks run on parallel goroutines.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, true)
}

const (
	gemmMR = 4
	gemmNR = 4
	gemmKC = 256
	gemmMC = 64
)

func sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, parallel bool) {
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
	np := (n + gemmNR - 1) / gemmNR
	packedB := make([]float32, gemmKC*np*gemmNR)
	for pc := 0; pc < k; pc += gemmKC {
		kc := min(gemmKC, k-pc)
		packB(packedB, b, ldb, transB, pc, kc, n)
		blocks := (m + gemmMC - 1) / gemmMC
		run := func(lo, hi int) {
			packedA := make([]float32, gemmMC*kc)
			var tile [gemmMR * gemmNR]float32
			for blk := lo; blk < hi; blk++ {
				ic := blk * gemmMC
				mc := min(gemmMC, m-ic)
				packA(packedA, a, lda, transA, ic, mc, pc, kc)
				for jp := 0; jp < np; jp++ {
					pb := packedB[jp*gemmNR*kc : (jp+1)*gemmNR*kc]
					j0 := jp * gemmNR
					nr := min(gemmNR, n-j0)
					for ip := 0; ip*gemmMR < mc; ip++ {
						pa := packedA[ip*gemmMR*kc : (ip+1)*gemmMR*kc]
						i0 := ic + ip*gemmMR
						mr := min(gemmMR, m-i0)
						if mr == gemmMR && nr == gemmNR {
							kernel4x4(kc, pa, pb, c[i0*ldc+j0:], ldc, alpha)
							continue
						}
						clear(tile[:])
						kernel4x4(kc, pa, pb, tile[:], gemmNR, alpha)
						for i := 0; i < mr; i++ {
							row := c[(i0+i)*ldc+j0 : (i0+i)*ldc+j0+nr]
							for j := range row {
								row[j] += tile[i*gemmNR+j]
							}
						}
					}
				}
			}
		}
		if parallel && m*n*kc > 1<<15 {
			parallelFor(blocks, 1, run)
		} else {
			run(0, blocks)
		}
	}
}

// packB copies rows [pc, pc+kc) of op(B) into panels of gemmNR columns, each stored
// k-major (gemmNR values per k), zero-padded past n.
func packB(dst, b []float32, ldb int, trans bool, pc, kc, n int) {
	np := (n + gemmNR - 1) / gemmNR
	for jp := 0; jp < np; jp++ {
		panel := dst[jp*gemmNR*kc : (jp+1)*gemmNR*kc]
		j0 := jp * gemmNR
		for p := 0; p < kc; p++ {
			out := panel[p*gemmNR : p*gemmNR+gemmNR]
			for j := 0; j < gemmNR; j++ {
				col := j0 + j
				if col >= n {
					out[j] = 0
				} else if trans {
					out[j] = b[col*ldb+pc+p]
				} else {
					out[j] = b[(pc+p)*ldb+col]
				}
			}
		}
	}
}

// packA copies rows [ic, ic+mc) x columns [pc, pc+kc) of op(A) into strips of gemmMR
// rows, each stored k-major, zero-padded past mc.
func packA(dst, a []float32, lda int, trans bool, ic, mc, pc, kc int) {
	for ip := 0; ip*gemmMR < mc; ip++ {
		strip := dst[ip*gemmMR*kc : (ip+1)*gemmMR*kc]
		for i := 0; i < gemmMR; i++ {
			r := ip*gemmMR + i
			if r >= mc {
				for p := 0; p < kc; p++ {
					strip[p*gemmMR+i] = 0
				}
				continue
			}
			row := ic + r
			if trans {
				for p := 0; p < kc; p++ {
					strip[p*gemmMR+i] = a[(pc+p)*lda+row]
				}
			} else {
				src := a[row*lda+pc : row*lda+pc+kc]
				for p, v := range src {
					strip[p*gemmMR+i] = v
				}
			}
		}
	}
}

// kernel4x4 adds alpha * (4 x kc strip) * (kc x 4 panel) to a 4x4 tile of c.
func kernel4x4(kc int, a, b []float32, c []float32, ldc int, alpha float32) {
	var c00, c01, c02, c03, c10, c11, c12, c13 float32
	var c20, c21, c22, c23, c30, c31, c32, c33 float32
	a = a[:4*kc]
	b = b[:4*kc]
	for len(a) >= 4 && len(b) >= 4 {
		a0, a1, a2, a3 := a[0], a[1], a[2], a[3]
		b0, b1, b2, b3 := b[0], b[1], b[2], b[3]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		c20 += a2 * b0
		c21 += a2 * b1
		c22 += a2 * b2
		c23 += a2 * b3
		c30 += a3 * b0
		c31 += a3 * b1
		c32 += a3 * b2
		c33 += a3 * b3
		a, b = a[4:], b[4:]
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
	r = c[2*ldc : 2*ldc+4 : 2*ldc+4]
	r[0] += alpha * c20
	r[1] += alpha * c21
	r[2] += alpha * c22
	r[3] += alpha * c23
	r = c[3*ldc : 3*ldc+4 : 3*ldc+4]
	r[0] += alpha * c30
	r[1] += alpha * c31
	r[2] += alpha * c32
	r[3] += alpha * c33
}
