//go:build !purego

#include "textflag.h"

// Each kernel evaluates eight candidate scales at once, one per lane. Every lane runs
// exactly the scalar code's float32 operations in the scalar code's order, so the
// results are bit-identical to it.

DATA qkxMagic<>+0(SB)/8, $0x4b4000004b400000
DATA qkxMagic<>+8(SB)/8, $0x4b4000004b400000
DATA qkxMagic<>+16(SB)/8, $0x4b4000004b400000
DATA qkxMagic<>+24(SB)/8, $0x4b4000004b400000
GLOBL qkxMagic<>(SB), RODATA|NOPTR, $32
DATA qkxMant<>+0(SB)/8, $0x007fffff007fffff
DATA qkxMant<>+8(SB)/8, $0x007fffff007fffff
DATA qkxMant<>+16(SB)/8, $0x007fffff007fffff
DATA qkxMant<>+24(SB)/8, $0x007fffff007fffff
GLOBL qkxMant<>(SB), RODATA|NOPTR, $32
DATA qkxBias<>+0(SB)/8, $0x0040000000400000
DATA qkxBias<>+8(SB)/8, $0x0040000000400000
DATA qkxBias<>+16(SB)/8, $0x0040000000400000
DATA qkxBias<>+24(SB)/8, $0x0040000000400000
GLOBL qkxBias<>(SB), RODATA|NOPTR, $32

// func qkxSumsAVX2(x, w *float32, n int, num *[16]float32, rng, min float32, nmax int32, lv *[32][16]float32, sums *[48]float32)
// Sixteen candidates, iscale = num[k]/rng, in two interleaved sets of eight lanes:
// sums[0:16] sumL, sums[16:32] sumL2, sums[32:48] sumXL; lv[i] the float levels of
// element i.
TEXT ·qkxSumsAVX2(SB), NOSPLIT, $0-64
	MOVQ x+0(FP), SI
	MOVQ w+8(FP), DI
	MOVQ n+16(FP), CX
	MOVQ num+24(FP), AX
	VBROADCASTSS rng+32(FP), Y1
	VMOVUPS (AX), Y0
	VDIVPS Y1, Y0, Y0
	VMOVUPS 32(AX), Y2
	VDIVPS Y1, Y2, Y2
	VBROADCASTSS min+36(FP), Y1
	MOVL nmax+40(FP), AX
	MOVQ AX, X3
	VPBROADCASTD X3, Y3
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	VXORPS Y12, Y12, Y12
	MOVQ lv+48(FP), DX

qkxsums_loop:
	TESTQ CX, CX
	JZ qkxsums_done
	VBROADCASTSS (SI), Y13
	VBROADCASTSS (DI), Y14
	VSUBPS Y1, Y13, Y15
	// set 1
	VMULPS Y15, Y0, Y4
	VADDPS qkxMagic<>(SB), Y4, Y4
	VPAND qkxMant<>(SB), Y4, Y4
	VPSUBD qkxBias<>(SB), Y4, Y4
	VPMINSD Y3, Y4, Y4
	VPXOR Y5, Y5, Y5
	VPMAXSD Y5, Y4, Y4
	VCVTDQ2PS Y4, Y4
	VMOVUPS Y4, (DX)
	VMULPS Y4, Y14, Y5
	VADDPS Y5, Y7, Y7
	VMULPS Y4, Y5, Y6
	VADDPS Y6, Y8, Y8
	VMULPS Y13, Y5, Y6
	VADDPS Y6, Y9, Y9
	// set 2
	VMULPS Y15, Y2, Y4
	VADDPS qkxMagic<>(SB), Y4, Y4
	VPAND qkxMant<>(SB), Y4, Y4
	VPSUBD qkxBias<>(SB), Y4, Y4
	VPMINSD Y3, Y4, Y4
	VPXOR Y5, Y5, Y5
	VPMAXSD Y5, Y4, Y4
	VCVTDQ2PS Y4, Y4
	VMOVUPS Y4, 32(DX)
	VMULPS Y4, Y14, Y5
	VADDPS Y5, Y10, Y10
	VMULPS Y4, Y5, Y6
	VADDPS Y6, Y11, Y11
	VMULPS Y13, Y5, Y6
	VADDPS Y6, Y12, Y12
	ADDQ $4, SI
	ADDQ $4, DI
	ADDQ $64, DX
	DECQ CX
	JMP qkxsums_loop

qkxsums_done:
	MOVQ sums+56(FP), AX
	VMOVUPS Y7, (AX)
	VMOVUPS Y10, 32(AX)
	VMOVUPS Y8, 64(AX)
	VMOVUPS Y11, 96(AX)
	VMOVUPS Y9, 128(AX)
	VMOVUPS Y12, 160(AX)
	VZEROUPPER
	RET

// func qkxFitAVX2(sums *[48]float32, sumW, sumX float32, scale, min *[16]float32) uint32
// make_qkx2's least-squares fit of each lane's levels (sums as qkxSumsAVX2 leaves them);
// bit k of the result is set when lane k's determinant D is > 0 (the fit is valid).
TEXT ·qkxFitAVX2(SB), NOSPLIT, $0-36
	MOVQ sums+0(FP), SI
	VBROADCASTSS sumW+8(FP), Y14
	VBROADCASTSS sumX+12(FP), Y15
	MOVQ scale+16(FP), DI
	MOVQ min+24(FP), DX
	VXORPS Y13, Y13, Y13
	XORQ R9, R9
	XORQ R10, R10

qkxfit_pass:
	VMOVUPS (SI)(R9*1), Y0
	VMOVUPS 64(SI)(R9*1), Y1
	VMOVUPS 128(SI)(R9*1), Y2
	// D = sumW*sumL2 - sumL*sumL
	VMULPS Y1, Y14, Y3
	VMULPS Y0, Y0, Y4
	VSUBPS Y4, Y3, Y3
	// scale = (sumW*sumXL - sumX*sumL) / D
	VMULPS Y2, Y14, Y4
	VMULPS Y0, Y15, Y5
	VSUBPS Y5, Y4, Y4
	VDIVPS Y3, Y4, Y4
	// min = (sumL2*sumX - sumL*sumXL) / D
	VMULPS Y15, Y1, Y5
	VMULPS Y2, Y0, Y6
	VSUBPS Y6, Y5, Y5
	VDIVPS Y3, Y5, Y5
	// min > 0: min = 0, scale = sumXL/sumL2
	VCMPPS $14, Y13, Y5, Y6
	VDIVPS Y1, Y2, Y7
	VBLENDVPS Y6, Y7, Y4, Y4
	VBLENDVPS Y6, Y13, Y5, Y5
	VMOVUPS Y4, (DI)(R9*1)
	VMOVUPS Y5, (DX)(R9*1)
	VCMPPS $14, Y13, Y3, Y6
	VMOVMSKPS Y6, AX
	TESTQ R9, R9
	JNZ qkxfit_done
	MOVQ AX, R10
	MOVQ $32, R9
	JMP qkxfit_pass

qkxfit_done:
	SHLL $8, AX
	ORL R10, AX
	MOVL AX, ret+32(FP)
	VZEROUPPER
	RET

// func qkxErrAVX2(x, w *float32, n int, lv *[32][16]float32, scale, min *[16]float32, mad bool, err *[16]float32)
TEXT ·qkxErrAVX2(SB), NOSPLIT, $0-64
	MOVQ x+0(FP), SI
	MOVQ w+8(FP), DI
	MOVQ n+16(FP), CX
	MOVQ lv+24(FP), DX
	MOVQ scale+32(FP), AX
	VMOVUPS (AX), Y0
	VMOVUPS 32(AX), Y2
	MOVQ min+40(FP), AX
	VMOVUPS (AX), Y1
	VMOVUPS 32(AX), Y3
	MOVL $0x7fffffff, AX
	MOVQ AX, X4
	VPBROADCASTD X4, Y4
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	MOVBLZX mad+48(FP), BX
	TESTQ BX, BX
	JNZ qkxerr_mad

qkxerr_sq:
	TESTQ CX, CX
	JZ qkxerr_done
	VBROADCASTSS (SI), Y10
	VBROADCASTSS (DI), Y11
	VMULPS (DX), Y0, Y12
	VADDPS Y1, Y12, Y12
	VSUBPS Y10, Y12, Y12
	VMULPS Y12, Y12, Y12
	VMULPS Y12, Y11, Y12
	VADDPS Y12, Y7, Y7
	VMULPS 32(DX), Y2, Y13
	VADDPS Y3, Y13, Y13
	VSUBPS Y10, Y13, Y13
	VMULPS Y13, Y13, Y13
	VMULPS Y13, Y11, Y13
	VADDPS Y13, Y8, Y8
	ADDQ $4, SI
	ADDQ $4, DI
	ADDQ $64, DX
	DECQ CX
	JMP qkxerr_sq

qkxerr_mad:
	TESTQ CX, CX
	JZ qkxerr_done
	VBROADCASTSS (SI), Y10
	VBROADCASTSS (DI), Y11
	VMULPS (DX), Y0, Y12
	VADDPS Y1, Y12, Y12
	VSUBPS Y10, Y12, Y12
	VANDPS Y4, Y12, Y12
	VMULPS Y12, Y11, Y12
	VADDPS Y12, Y7, Y7
	VMULPS 32(DX), Y2, Y13
	VADDPS Y3, Y13, Y13
	VSUBPS Y10, Y13, Y13
	VANDPS Y4, Y13, Y13
	VMULPS Y13, Y11, Y13
	VADDPS Y13, Y8, Y8
	ADDQ $4, SI
	ADDQ $4, DI
	ADDQ $64, DX
	DECQ CX
	JMP qkxerr_mad

qkxerr_done:
	MOVQ err+56(FP), AX
	VMOVUPS Y7, (AX)
	VMOVUPS Y8, 32(AX)
	VZEROUPPER
	RET

// func qxSumsAVX2(x, w *float32, n int, num *[24]float32, max float32, nmax int32, sums *[48]float32)
// make_qx_quants' sums for 24 candidates, iscale = num[k]/max, in three interleaved
// sets of eight lanes: sums[0:24] sumlx (w*x*l), sums[24:48] suml2 (w*l*l), levels
// clamped to [-nmax, nmax).
TEXT ·qxSumsAVX2(SB), NOSPLIT, $0-48
	MOVQ x+0(FP), SI
	MOVQ w+8(FP), DI
	MOVQ n+16(FP), CX
	MOVQ num+24(FP), AX
	VBROADCASTSS max+32(FP), Y3
	VMOVUPS (AX), Y0
	VDIVPS Y3, Y0, Y0
	VMOVUPS 32(AX), Y1
	VDIVPS Y3, Y1, Y1
	VMOVUPS 64(AX), Y2
	VDIVPS Y3, Y2, Y2
	MOVL nmax+36(FP), AX
	MOVL AX, BX
	DECL BX
	MOVQ BX, X3
	VPBROADCASTD X3, Y3 // nmax-1
	NEGL AX
	MOVQ AX, X4
	VPBROADCASTD X4, Y4 // -nmax
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10

#define QXSET(isc, slx, sl2) \
	VMULPS Y11, isc, Y14 \
	VADDPS qkxMagic<>(SB), Y14, Y14 \
	VPAND qkxMant<>(SB), Y14, Y14 \
	VPSUBD qkxBias<>(SB), Y14, Y14 \
	VPMINSD Y3, Y14, Y14 \
	VPMAXSD Y4, Y14, Y14 \
	VCVTDQ2PS Y14, Y14 \
	VMULPS Y14, Y13, Y15 \
	VADDPS Y15, slx, slx \
	VMULPS Y14, Y12, Y15 \
	VMULPS Y14, Y15, Y15 \
	VADDPS Y15, sl2, sl2

qxsums_loop:
	TESTQ CX, CX
	JZ qxsums_done
	VBROADCASTSS (SI), Y11
	VBROADCASTSS (DI), Y12
	VMULPS Y11, Y12, Y13 // w*x
	QXSET(Y0, Y5, Y8)
	QXSET(Y1, Y6, Y9)
	QXSET(Y2, Y7, Y10)
	ADDQ $4, SI
	ADDQ $4, DI
	DECQ CX
	JMP qxsums_loop

qxsums_done:
	MOVQ sums+40(FP), AX
	VMOVUPS Y5, (AX)
	VMOVUPS Y6, 32(AX)
	VMOVUPS Y7, 64(AX)
	VMOVUPS Y8, 96(AX)
	VMOVUPS Y9, 128(AX)
	VMOVUPS Y10, 160(AX)
	VZEROUPPER
	RET

// func absMax16AVX2(x *float32) (amax float32, first int, nan bool)
// absMax32AVX2 for 16 values.
TEXT ·absMax16AVX2(SB), NOSPLIT, $0-25
	MOVQ x+0(FP), SI
	MOVL $0x7fffffff, AX
	MOVQ AX, X0
	VPBROADCASTD X0, Y0
	VANDPS (SI), Y0, Y5
	VANDPS 32(SI), Y0, Y6
	VCMPPS $3, Y5, Y5, Y1
	VCMPPS $3, Y6, Y6, Y2
	VORPS Y2, Y1, Y9
	VMOVMSKPS Y9, AX
	TESTL AX, AX
	SETNE nan+24(FP)
	VANDNPS Y5, Y1, Y11
	VANDNPS Y6, Y2, Y12
	VMAXPS Y12, Y11, Y9
	VEXTRACTF128 $1, Y9, X10
	VMAXPS X10, X9, X9
	VPERMILPS $0x4E, X9, X10
	VMAXPS X10, X9, X9
	VPERMILPS $0xB1, X9, X10
	VMAXPS X10, X9, X9
	MOVSS X9, amax+8(FP)
	VBROADCASTSS X9, Y9
	VCMPPS $0, Y9, Y11, Y1
	VCMPPS $0, Y9, Y12, Y2
	VMOVMSKPS Y1, AX
	VMOVMSKPS Y2, BX
	SHLL $8, BX
	ORL BX, AX
	BSFL AX, AX
	MOVQ AX, first+16(FP)
	VZEROUPPER
	RET

// func iq4SumsAVX2(x, w *float32, n int, id *[8]float32, tab *[16]float32, bcast *[16][8]float32, sums *[16]float32)
// Per lane: q = the codebook value best_index_int8 picks for id*x; sumqx += w*q*x, sumq2 += w*q*q.
// The index is ml+1 - (t-val[ml] < val[ml+1]-t) with ml = #{j in 1..14 : !(t < val[j])},
// which is ggml's search including its early exits and NaN (ml 14, index 15).
TEXT ·iq4SumsAVX2(SB), NOSPLIT, $0-56
	MOVQ x+0(FP), SI
	MOVQ w+8(FP), DI
	MOVQ n+16(FP), CX
	MOVQ id+24(FP), AX
	VMOVUPS (AX), Y0
	MOVQ tab+32(FP), R9
	MOVQ bcast+40(FP), R8
	VPCMPEQD Y1, Y1, Y1
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8

iq4sums_loop:
	TESTQ CX, CX
	JZ iq4sums_done
	VBROADCASTSS (SI), Y10
	VBROADCASTSS (DI), Y11
	VMULPS Y10, Y0, Y12
	VPXOR Y13, Y13, Y13
	VCMPPS $5, 32(R8), Y12, Y14
	VPSUBD Y14, Y13, Y13
	VCMPPS $5, 64(R8), Y12, Y14
	VPSUBD Y14, Y13, Y13
	VCMPPS $5, 96(R8), Y12, Y14
	VPSUBD Y14, Y13, Y13
	VCMPPS $5, 128(R8), Y12, Y14
	VPSUBD Y14, Y13, Y13
	VCMPPS $5, 160(R8), Y12, Y14
	VPSUBD Y14, Y13, Y13
	VCMPPS $5, 192(R8), Y12, Y14
	VPSUBD Y14, Y13, Y13
	VCMPPS $5, 224(R8), Y12, Y14
	VPSUBD Y14, Y13, Y13
	VCMPPS $5, 256(R8), Y12, Y14
	VPSUBD Y14, Y13, Y13
	VCMPPS $5, 288(R8), Y12, Y14
	VPSUBD Y14, Y13, Y13
	VCMPPS $5, 320(R8), Y12, Y14
	VPSUBD Y14, Y13, Y13
	VCMPPS $5, 352(R8), Y12, Y14
	VPSUBD Y14, Y13, Y13
	VCMPPS $5, 384(R8), Y12, Y14
	VPSUBD Y14, Y13, Y13
	VCMPPS $5, 416(R8), Y12, Y14
	VPSUBD Y14, Y13, Y13
	VCMPPS $5, 448(R8), Y12, Y14
	VPSUBD Y14, Y13, Y13
	// Y2 = val[ml]
	VPERMPS (R9), Y13, Y14
	VPERMPS 32(R9), Y13, Y15
	VPSLLD $28, Y13, Y9
	VBLENDVPS Y9, Y15, Y14, Y2
	// Y3 = val[ml+1]
	VPSUBD Y1, Y13, Y13
	VPERMPS (R9), Y13, Y14
	VPERMPS 32(R9), Y13, Y15
	VPSLLD $28, Y13, Y9
	VBLENDVPS Y9, Y15, Y14, Y3
	// q = (t-val[ml] < val[ml+1]-t) ? val[ml] : val[ml+1]
	VSUBPS Y2, Y12, Y4
	VSUBPS Y12, Y3, Y5
	VCMPPS $1, Y5, Y4, Y6
	VBLENDVPS Y6, Y2, Y3, Y4
	VMULPS Y4, Y11, Y5
	VMULPS Y10, Y5, Y6
	VADDPS Y6, Y7, Y7
	VMULPS Y4, Y5, Y6
	VADDPS Y6, Y8, Y8
	ADDQ $4, SI
	ADDQ $4, DI
	DECQ CX
	JMP iq4sums_loop

iq4sums_done:
	MOVQ sums+48(FP), AX
	VMOVUPS Y7, (AX)
	VMOVUPS Y8, 32(AX)
	VZEROUPPER
	RET

// Bytes 0-3 of each 32-bit lane gathered back into order by q8RoundAVX2's packing.
DATA q8perm<>+0(SB)/4, $0
DATA q8perm<>+4(SB)/4, $4
DATA q8perm<>+8(SB)/4, $1
DATA q8perm<>+12(SB)/4, $5
DATA q8perm<>+16(SB)/4, $2
DATA q8perm<>+20(SB)/4, $6
DATA q8perm<>+24(SB)/4, $3
DATA q8perm<>+28(SB)/4, $7
GLOBL q8perm<>(SB), RODATA|NOPTR, $32

// func q8RoundAVX2(x *float32, id float32, y *byte)
// y[j] = low byte of cvtt(roundf(x[j]*id)) for j < 32. roundf is trunc(r), moved one
// away from zero when |r - trunc(r)| >= 0.5 (exact: r - trunc(r) is representable);
// VCVTTPS2DQ gives 0x80000000 for NaN and out-of-range values, as cvtt does.
TEXT ·q8RoundAVX2(SB), NOSPLIT, $0-24
	MOVQ x+0(FP), SI
	MOVQ y+16(FP), DI
	VBROADCASTSS id+8(FP), Y0
	MOVL $0x3f000000, AX
	MOVQ AX, X1
	VPBROADCASTD X1, Y1 // 0.5
	MOVL $0x3f800000, AX
	MOVQ AX, X2
	VPBROADCASTD X2, Y2 // 1.0
	MOVL $0x80000000, AX
	MOVQ AX, X3
	VPBROADCASTD X3, Y3 // sign bit
	MOVL $0xff, AX
	MOVQ AX, X4
	VPBROADCASTD X4, Y4 // low byte

#define Q8ROUND(off, dst) \
	VMULPS off(SI), Y0, Y5 \
	VROUNDPS $3, Y5, Y6 \
	VSUBPS Y6, Y5, Y7 \
	VANDNPS Y7, Y3, Y7 \
	VCMPPS $13, Y1, Y7, Y7 \
	VANDPS Y3, Y5, Y8 \
	VORPS Y2, Y8, Y8 \
	VANDPS Y7, Y8, Y8 \
	VADDPS Y8, Y6, Y6 \
	VCVTTPS2DQ Y6, Y6 \
	VPAND Y4, Y6, dst

	Q8ROUND(0, Y9)
	Q8ROUND(32, Y10)
	Q8ROUND(64, Y11)
	Q8ROUND(96, Y12)
	VPACKUSDW Y10, Y9, Y9
	VPACKUSDW Y12, Y11, Y11
	VPACKUSWB Y11, Y9, Y9
	VMOVDQU q8perm<>(SB), Y13
	VPERMD Y9, Y13, Y9
	VMOVDQU Y9, (DI)
	VZEROUPPER
	RET

// func q40AVX2(x *float32, id float32, y *byte)
// Q4_0's nibbles: xi = MIN(15, (int8)cvtt(x[j]*id + 8.5)), y[j] = xi(j) | xi(j+16)<<4
// (low bytes, as the scalar code's uint8 conversions), for j < 16.
TEXT ·q40AVX2(SB), NOSPLIT, $0-24
	MOVQ x+0(FP), SI
	MOVQ y+16(FP), DI
	VBROADCASTSS id+8(FP), Y0
	MOVL $0x41080000, AX
	MOVQ AX, X1
	VPBROADCASTD X1, Y1 // 8.5
	MOVL $15, AX
	MOVQ AX, X2
	VPBROADCASTD X2, Y2
	MOVL $0xff, AX
	MOVQ AX, X4
	VPBROADCASTD X4, Y4

#define Q40(off, dst) \
	VMULPS off(SI), Y0, dst \
	VADDPS Y1, dst, dst \
	VCVTTPS2DQ dst, dst \
	VPSLLD $24, dst, dst \
	VPSRAD $24, dst, dst \
	VPMINSD Y2, dst, dst

	Q40(0, Y9)
	Q40(32, Y10)
	Q40(64, Y11)
	Q40(96, Y12)
	VPSLLD $4, Y11, Y11
	VPSLLD $4, Y12, Y12
	VPOR Y11, Y9, Y9
	VPOR Y12, Y10, Y10
	VPAND Y4, Y9, Y9
	VPAND Y4, Y10, Y10
	VPACKUSDW Y10, Y9, Y9
	VPACKUSWB Y9, Y9, Y9
	VMOVDQU q8perm<>(SB), Y13
	VPERMD Y9, Y13, Y9
	VMOVDQU X9, (DI)
	VZEROUPPER
	RET

// func absMax32AVX2(x *float32) (amax float32, first int, nan bool)
// Over the 32 values of x: amax is the largest |x[j]| among the non-NaN ones (0 if
// none), first the least j with |x[j]| == amax (a NaN counting as 0), and nan reports
// whether any x[j] is NaN.
TEXT ·absMax32AVX2(SB), NOSPLIT, $0-25
	MOVQ x+0(FP), SI
	MOVL $0x7fffffff, AX
	MOVQ AX, X0
	VPBROADCASTD X0, Y0
	VANDPS (SI), Y0, Y5
	VANDPS 32(SI), Y0, Y6
	VANDPS 64(SI), Y0, Y7
	VANDPS 96(SI), Y0, Y8
	// NaN lanes
	VCMPPS $3, Y5, Y5, Y1
	VCMPPS $3, Y6, Y6, Y2
	VCMPPS $3, Y7, Y7, Y3
	VCMPPS $3, Y8, Y8, Y4
	VORPS Y2, Y1, Y9
	VORPS Y4, Y3, Y10
	VORPS Y10, Y9, Y9
	VMOVMSKPS Y9, AX
	TESTL AX, AX
	SETNE nan+24(FP)
	// zero the NaN lanes, then the maximum
	VANDNPS Y5, Y1, Y11
	VANDNPS Y6, Y2, Y12
	VANDNPS Y7, Y3, Y13
	VANDNPS Y8, Y4, Y14
	VMAXPS Y12, Y11, Y9
	VMAXPS Y14, Y13, Y10
	VMAXPS Y10, Y9, Y9
	VEXTRACTF128 $1, Y9, X10
	VMAXPS X10, X9, X9
	VPERMILPS $0x4E, X9, X10
	VMAXPS X10, X9, X9
	VPERMILPS $0xB1, X9, X10
	VMAXPS X10, X9, X9
	MOVSS X9, amax+8(FP)
	VBROADCASTSS X9, Y9
	// first index equal to it
	VCMPPS $0, Y9, Y11, Y1
	VCMPPS $0, Y9, Y12, Y2
	VCMPPS $0, Y9, Y13, Y3
	VCMPPS $0, Y9, Y14, Y4
	VMOVMSKPS Y1, AX
	VMOVMSKPS Y2, BX
	SHLL $8, BX
	ORL BX, AX
	VMOVMSKPS Y3, BX
	SHLL $16, BX
	ORL BX, AX
	VMOVMSKPS Y4, BX
	SHLL $24, BX
	ORL BX, AX
	BSFL AX, AX
	MOVQ AX, first+16(FP)
	VZEROUPPER
	RET

// func f32ToF16F16C(dst *byte, src *float32, n int) int
// Rounds 8 values at a time to binary16 with VCVTPS2PH (nearest even, as
// GGML_FP32_TO_FP16), stopping before the first group of 8 holding a NaN (ggml makes
// every NaN 0x7e00|sign; the instruction keeps payload bits). n is a multiple of 8; it
// returns the count converted.
TEXT ·f32ToF16F16C(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	XORQ AX, AX

f32f16loop:
	CMPQ AX, CX
	JGE f32f16done
	VMOVUPS (SI)(AX*4), Y1
	VCMPPS $3, Y1, Y1, Y2
	VMOVMSKPS Y2, DX
	TESTL DX, DX
	JNZ f32f16done
	VCVTPS2PH $0, Y1, X3
	VMOVDQU X3, (DI)(AX*2)
	ADDQ $8, AX
	JMP f32f16loop

f32f16done:
	MOVQ AX, ret+24(FP)
	VZEROUPPER
	RET

// func f32ToBF16AVX2(dst *byte, src *float32, n int)
// GGML_FP32_TO_BF16 for 16 values at a time (n a multiple of 16): nearest even,
// (b + 0x7fff + (b>>16)&1) >> 16, and a NaN b>>16 | 0x40.
TEXT ·f32ToBF16AVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	XORQ AX, AX
	MOVL $0x7fffffff, DX
	MOVQ DX, X10
	VPBROADCASTD X10, Y10
	MOVL $0x7f800000, DX
	MOVQ DX, X11
	VPBROADCASTD X11, Y11
	MOVL $0x7fff, DX
	MOVQ DX, X12
	VPBROADCASTD X12, Y12
	MOVL $1, DX
	MOVQ DX, X13
	VPBROADCASTD X13, Y13
	MOVL $0x40, DX
	MOVQ DX, X14
	VPBROADCASTD X14, Y14

#define BF16(off, dst) \
	VMOVDQU off(SI)(AX*4), Y1 \
	VPAND Y10, Y1, Y2 \
	VPCMPGTD Y11, Y2, Y2 \
	VPSRLD $16, Y1, Y3 \
	VPAND Y13, Y3, Y4 \
	VPADDD Y12, Y1, Y5 \
	VPADDD Y4, Y5, Y5 \
	VPSRLD $16, Y5, Y5 \
	VPOR Y14, Y3, Y3 \
	VPBLENDVB Y2, Y3, Y5, dst

bf16loop:
	CMPQ AX, CX
	JGE bf16done
	BF16(0, Y6)
	BF16(32, Y7)
	VPACKUSDW Y7, Y6, Y6
	VPERMQ $0xD8, Y6, Y6
	VMOVDQU Y6, (DI)(AX*2)
	ADDQ $16, AX
	JMP bf16loop

bf16done:
	VZEROUPPER
	RET

// func mxfp4IdxAVX2(x *float32, level *[16]float32, y *byte)
// best_index_mxfp4 for the 32 values of x: the first i of least |level[i] - x[j]|
// (a NaN error never wins), stored as y[j] = idx(j) | idx(j+16)<<4 for j < 16.
TEXT ·mxfp4IdxAVX2(SB), NOSPLIT, $0-24
	MOVQ x+0(FP), SI
	MOVQ level+8(FP), R8
	MOVQ y+16(FP), DI
	MOVL $0x7fffffff, AX
	MOVQ AX, X15
	VPBROADCASTD X15, Y15
	MOVL $1, AX
	MOVQ AX, X14
	VPBROADCASTD X14, Y14
	// pass 1: x[0:8] (Y0) and x[16:24] (Y1); pass 2: x[8:16] and x[24:32]
	XORQ R9, R9

mxpass:
	VMOVUPS (SI)(R9*1), Y0
	VMOVUPS 64(SI)(R9*1), Y1
	VBROADCASTSS (R8), Y6
	VSUBPS Y0, Y6, Y2
	VANDPS Y15, Y2, Y2
	VSUBPS Y1, Y6, Y3
	VANDPS Y15, Y3, Y3
	VPXOR Y4, Y4, Y4
	VPXOR Y5, Y5, Y5
	VPXOR Y7, Y7, Y7
	MOVQ $1, CX

mxloop:
	VPADDD Y14, Y7, Y7
	VBROADCASTSS (R8)(CX*4), Y6
	VSUBPS Y0, Y6, Y8
	VANDPS Y15, Y8, Y8
	VCMPPS $1, Y2, Y8, Y9
	VBLENDVPS Y9, Y8, Y2, Y2
	VBLENDVPS Y9, Y7, Y4, Y4
	VSUBPS Y1, Y6, Y10
	VANDPS Y15, Y10, Y10
	VCMPPS $1, Y3, Y10, Y11
	VBLENDVPS Y11, Y10, Y3, Y3
	VBLENDVPS Y11, Y7, Y5, Y5
	INCQ CX
	CMPQ CX, $16
	JLT mxloop

	VPSLLD $4, Y5, Y5
	VPOR Y5, Y4, Y4
	TESTQ R9, R9
	JNZ mxpack
	VMOVDQU Y4, Y12
	MOVQ $32, R9
	JMP mxpass

mxpack:
	VPACKUSDW Y4, Y12, Y12
	VPACKUSWB Y12, Y12, Y12
	VMOVDQU q8perm<>(SB), Y13
	VPERMD Y12, Y13, Y12
	VMOVDQU X12, (DI)
	VZEROUPPER
	RET

// func qLevelsAVX2(x *float32, min, id, bias float32, cap int32, y *byte)
// The legacy types' levels: y[j] = low byte of MIN(cap, (int8)cvtt((x[j]-min)*id + bias))
// for j < 32 (cap 0x7fffffff for no MIN; the int8 step never changes the low byte).
TEXT ·qLevelsAVX2(SB), NOSPLIT, $0-32
	MOVQ x+0(FP), SI
	MOVQ y+24(FP), DI
	VBROADCASTSS min+8(FP), Y0
	VBROADCASTSS id+12(FP), Y1
	VBROADCASTSS bias+16(FP), Y2
	MOVL cap+20(FP), AX
	MOVQ AX, X3
	VPBROADCASTD X3, Y3
	MOVL $0xff, AX
	MOVQ AX, X4
	VPBROADCASTD X4, Y4

#define QLEV(off, dst) \
	VMOVUPS off(SI), dst \
	VSUBPS Y0, dst, dst \
	VMULPS Y1, dst, dst \
	VADDPS Y2, dst, dst \
	VCVTTPS2DQ dst, dst \
	VPSLLD $24, dst, dst \
	VPSRAD $24, dst, dst \
	VPMINSD Y3, dst, dst \
	VPAND Y4, dst, dst

	QLEV(0, Y9)
	QLEV(32, Y10)
	QLEV(64, Y11)
	QLEV(96, Y12)
	VPACKUSDW Y10, Y9, Y9
	VPACKUSDW Y12, Y11, Y11
	VPACKUSWB Y11, Y9, Y9
	VMOVDQU q8perm<>(SB), Y13
	VPERMD Y9, Y13, Y9
	VMOVDQU Y9, (DI)
	VZEROUPPER
	RET

// func minMax32AVX2(x *float32) (min, max float32)
// The least and greatest of 32 values, NaNs skipped (±MaxFloat32 if all are NaN). For
// non-NaN values the scalar fold's result is the same except which zero it keeps when
// both +0 and -0 are extreme; callers redo a zero result with the scalar fold.
TEXT ·minMax32AVX2(SB), NOSPLIT, $0-16
	MOVQ x+0(FP), SI
	MOVL $0x7f7fffff, AX
	MOVQ AX, X0
	VPBROADCASTD X0, Y0 // MaxFloat32
	MOVL $0xff7fffff, AX
	MOVQ AX, X1
	VPBROADCASTD X1, Y1 // -MaxFloat32
	VMOVUPS (SI), Y2
	VMINPS Y0, Y2, Y4
	VMAXPS Y1, Y2, Y5
	VMOVUPS 32(SI), Y2
	VMINPS Y4, Y2, Y4
	VMAXPS Y5, Y2, Y5
	VMOVUPS 64(SI), Y2
	VMINPS Y4, Y2, Y4
	VMAXPS Y5, Y2, Y5
	VMOVUPS 96(SI), Y2
	VMINPS Y4, Y2, Y4
	VMAXPS Y5, Y2, Y5
	VEXTRACTF128 $1, Y4, X6
	VMINPS X6, X4, X4
	VPERMILPS $0x4E, X4, X6
	VMINPS X6, X4, X4
	VPERMILPS $0xB1, X4, X6
	VMINPS X6, X4, X4
	VEXTRACTF128 $1, Y5, X6
	VMAXPS X6, X5, X5
	VPERMILPS $0x4E, X5, X6
	VMAXPS X6, X5, X5
	VPERMILPS $0xB1, X5, X6
	VMAXPS X6, X5, X5
	MOVSS X4, min+8(FP)
	MOVSS X5, max+12(FP)
	VZEROUPPER
	RET
