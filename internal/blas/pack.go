package blas

// packA copies rows [ic, ic+mc) x columns [pc, pc+kc) of op(A) into strips of mr rows,
// each stored k-major (mr values per k step), zero-padded past mc.
func packA(dst, a []float32, lda int, trans bool, ic, mc, pc, kc, mr int) {
	for s := 0; s < mc; s += mr {
		strip := dst[s*kc : (s+mr)*kc]
		rows := min(mr, mc-s)
		if trans {
			// op(A)[i][p] = a[p*lda+i]: each k step reads rows consecutive values.
			for p := 0; p < kc; p++ {
				src := a[(pc+p)*lda+ic+s:]
				out := strip[p*mr : p*mr+mr]
				copy(out, src[:rows])
				clear(out[rows:])
			}
			continue
		}
		if rows == 6 && mr == 6 {
			packA6(strip, a, lda, ic+s, pc, kc)
			continue
		}
		for i := 0; i < mr; i++ {
			if i >= rows {
				for p := 0; p < kc; p++ {
					strip[p*mr+i] = 0
				}
				continue
			}
			src := a[(ic+s+i)*lda+pc : (ic+s+i)*lda+pc+kc]
			for p, v := range src {
				strip[p*mr+i] = v
			}
		}
	}
}

// packB copies rows [pc, pc+kc) x columns [j0, j0+nc) of op(B) into panels of nr
// columns, each stored k-major (nr values per k step), zero-padded past nc.
func packB(dst, b []float32, ldb int, trans bool, pc, kc, j0, nc, nr int) {
	full := 0 // columns packed by the fast path
	if !trans && nr == 16 {
		full = nc / 16 * 16
		// Walk a few source rows at a time across all panels: reading one panel
		// top to bottom would touch a new cache line in each of kc rows and defeat
		// the prefetcher.
		const rowsPerPass = 8
		for p0 := 0; p0 < kc; p0 += rowsPerPass {
			p1 := min(p0+rowsPerPass, kc)
			for jp := 0; jp < full; jp += 16 {
				panel := dst[jp*kc : (jp+16)*kc]
				for p := p0; p < p1; p++ {
					copy16(panel[p*16:p*16+16], b[(pc+p)*ldb+j0+jp:])
				}
			}
		}
	}
	for jp := full; jp < nc; jp += nr {
		panel := dst[jp*kc : (jp+nr)*kc]
		cols := min(nr, nc-jp)
		col0 := j0 + jp
		if !trans {
			for p := 0; p < kc; p++ {
				src := b[(pc+p)*ldb+col0:]
				out := panel[p*nr : p*nr+nr]
				copy(out, src[:cols])
				clear(out[cols:])
			}
			continue
		}
		// op(B)[p][j] = b[j*ldb+p]: walk each source row once.
		for j := 0; j < nr; j++ {
			if j >= cols {
				for p := 0; p < kc; p++ {
					panel[p*nr+j] = 0
				}
				continue
			}
			src := b[(col0+j)*ldb+pc : (col0+j)*ldb+pc+kc]
			for p, v := range src {
				panel[p*nr+j] = v
			}
		}
	}
}

// copy16 copies 16 values with register moves: a [16]float32 assignment between
// slices may overlap and so becomes a memmove call.
func copy16(dst, src []float32) {
	d := dst[:16:16]
	s := src[:16:16]
	*(*[4]float32)(d[0:]) = *(*[4]float32)(s[0:])
	*(*[4]float32)(d[4:]) = *(*[4]float32)(s[4:])
	*(*[4]float32)(d[8:]) = *(*[4]float32)(s[8:])
	*(*[4]float32)(d[12:]) = *(*[4]float32)(s[12:])
}
