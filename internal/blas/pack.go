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
		if rows == 16 && mr == 16 {
			packA16(strip, a, lda, ic+s, pc, kc)
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
		if cols == 16 && nr == 16 {
			packA16(panel, b, ldb, col0, pc, kc) // the same interleave as sixteen rows of A
			continue
		}
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

// packA16 interleaves sixteen full rows of untransposed A, one k step (sixteen values,
// one per row) at a time: the writes are sequential and the sixteen reads stream
// along their rows, where a row-by-row copy would write with a 64-byte stride.
func packA16(strip, a []float32, lda, row, pc, kc int) {
	r0 := a[row*lda+pc : row*lda+pc+kc]
	r1 := a[(row+1)*lda+pc:][:len(r0)]
	r2 := a[(row+2)*lda+pc:][:len(r0)]
	r3 := a[(row+3)*lda+pc:][:len(r0)]
	r4 := a[(row+4)*lda+pc:][:len(r0)]
	r5 := a[(row+5)*lda+pc:][:len(r0)]
	r6 := a[(row+6)*lda+pc:][:len(r0)]
	r7 := a[(row+7)*lda+pc:][:len(r0)]
	r8 := a[(row+8)*lda+pc:][:len(r0)]
	r9 := a[(row+9)*lda+pc:][:len(r0)]
	r10 := a[(row+10)*lda+pc:][:len(r0)]
	r11 := a[(row+11)*lda+pc:][:len(r0)]
	r12 := a[(row+12)*lda+pc:][:len(r0)]
	r13 := a[(row+13)*lda+pc:][:len(r0)]
	r14 := a[(row+14)*lda+pc:][:len(r0)]
	r15 := a[(row+15)*lda+pc:][:len(r0)]
	strip = strip[:16*len(r0)]
	for p := packA16Vec(strip, a, lda, row, pc, kc); p < len(r0); p++ {
		out := (*[16]float32)(strip[p*16:])
		out[0], out[1], out[2], out[3] = r0[p], r1[p], r2[p], r3[p]
		out[4], out[5], out[6], out[7] = r4[p], r5[p], r6[p], r7[p]
		out[8], out[9], out[10], out[11] = r8[p], r9[p], r10[p], r11[p]
		out[12], out[13], out[14], out[15] = r12[p], r13[p], r14[p], r15[p]
	}
}
