//go:build amd64 && !purego

#include "textflag.h"

// func rangeAVX2(xs *float32, n int, lo, hi *[8]float32)
// Four vectors of minima and maxima starting at +0; lane = (x < lane) ? x : lane
// (VMINPS returns its second source when either is NaN, so NaNs are skipped).
TEXT ·rangeAVX2(SB), NOSPLIT, $0-32
	MOVQ xs+0(FP), SI
	MOVQ n+8(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	SHRQ $5, CX
	JZ rangedone

rangeloop:
	VMOVUPS (SI), Y8
	VMOVUPS 32(SI), Y9
	VMOVUPS 64(SI), Y10
	VMOVUPS 96(SI), Y11
	VMINPS Y0, Y8, Y0
	VMAXPS Y4, Y8, Y4
	VMINPS Y1, Y9, Y1
	VMAXPS Y5, Y9, Y5
	VMINPS Y2, Y10, Y2
	VMAXPS Y6, Y10, Y6
	VMINPS Y3, Y11, Y3
	VMAXPS Y7, Y11, Y7
	ADDQ $128, SI
	DECQ CX
	JNZ rangeloop

rangedone:
	VMINPS Y1, Y0, Y0
	VMINPS Y3, Y2, Y2
	VMINPS Y2, Y0, Y0
	VMAXPS Y5, Y4, Y4
	VMAXPS Y7, Y6, Y6
	VMAXPS Y6, Y4, Y4
	MOVQ lo+16(FP), DI
	VMOVUPS Y0, (DI)
	MOVQ hi+24(FP), DI
	VMOVUPS Y4, (DI)
	VZEROUPPER
	RET

// func fixAVX2(c *int32, n int, za, rowSum int32, colAdj, zb *int32)
// c[j] += za*colAdj[j] - rowSum*zb[j] over n (a multiple of 8) columns; zb nil:
// c[j] += za*colAdj[j].
TEXT ·fixAVX2(SB), NOSPLIT, $0-40
	MOVQ c+0(FP), DI
	MOVQ n+8(FP), CX
	MOVL za+16(FP), AX
	MOVD AX, X0
	VPBROADCASTD X0, Y0
	MOVL rowSum+20(FP), AX
	MOVD AX, X2
	VPBROADCASTD X2, Y2
	MOVQ colAdj+24(FP), SI
	MOVQ zb+32(FP), BX
	SHRQ $3, CX
	JZ fixdone
	TESTQ BX, BX
	JNZ fixfull

fixza:
	VPMULLD (SI), Y0, Y1
	VPADDD (DI), Y1, Y1
	VMOVDQU Y1, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ fixza
	JMP fixdone

fixfull:
	VPMULLD (SI), Y0, Y1
	VPMULLD (BX), Y2, Y3
	VPSUBD Y3, Y1, Y1
	VPADDD (DI), Y1, Y1
	VMOVDQU Y1, (DI)
	ADDQ $32, SI
	ADDQ $32, BX
	ADDQ $32, DI
	DECQ CX
	JNZ fixfull

fixdone:
	VZEROUPPER
	RET

// func maxPairsAVX2(dst, src *byte, n int, flip byte)
// dst[i] = max(src[2i] ^ flip, src[2i+1] ^ flip) for n outputs (a multiple of 32):
// each byte pair's maximum into its even byte (VPSRLW 8, VPMAXUB), packed back to
// bytes (VPACKUSWB works within 128-bit lanes, so VPERMQ restores the order).
TEXT ·maxPairsAVX2(SB), NOSPLIT, $0-25
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	MOVBLZX flip+24(FP), AX
	MOVD AX, X7
	VPBROADCASTB X7, Y7
	VPCMPEQW Y6, Y6, Y6
	VPSRLW $8, Y6, Y6 // 0x00ff in every word
	SHRQ $5, CX
	JZ pairsdone

pairsloop:
	VPXOR (SI), Y7, Y0
	VPXOR 32(SI), Y7, Y1
	VPSRLW $8, Y0, Y2
	VPSRLW $8, Y1, Y3
	VPMAXUB Y2, Y0, Y0
	VPMAXUB Y3, Y1, Y1
	VPAND Y6, Y0, Y0
	VPAND Y6, Y1, Y1
	VPACKUSWB Y1, Y0, Y0
	VPERMQ $0xD8, Y0, Y0
	VMOVDQU Y0, (DI)
	ADDQ $64, SI
	ADDQ $32, DI
	DECQ CX
	JNZ pairsloop

pairsdone:
	VZEROUPPER
	RET

// func requantAVX2(dst *byte, src *int32, rows, chunks, dstStride, stride int, p *requantParams)
// requantParams: off +0, k +4, b +8, s +12, lo +16, hi +20, z +24, signed +28,
// div +32.
TEXT ·requantAVX2(SB), NOSPLIT, $0-56
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ rows+16(FP), R8
	MOVQ dstStride+32(FP), R10
	MOVQ stride+40(FP), R11
	SHLQ $2, R11
	MOVQ p+48(FP), BX
	VPBROADCASTD 0(BX), Y7
	VBROADCASTSS 4(BX), Y8
	VBROADCASTSS 8(BX), Y9
	VBROADCASTSS 12(BX), Y10
	VBROADCASTSS 16(BX), Y11
	VBROADCASTSS 20(BX), Y12
	VBROADCASTSS 24(BX), Y13
	MOVL 28(BX), AX
	MOVL 32(BX), DX
	TESTQ R8, R8
	JZ rqdone

rqrow:
	MOVQ chunks+24(FP), CX
	MOVQ SI, R12
	MOVQ DI, R13
	TESTQ CX, CX
	JZ rqnext

rqloop:
	VMOVDQU (R12), Y0
	VPADDD Y7, Y0, Y0
	VCVTDQ2PS Y0, Y0
	VMULPS Y8, Y0, Y0
	VADDPS Y9, Y0, Y0
	TESTL DX, DX
	JZ rqnodiv
	VDIVPS Y10, Y0, Y0

rqnodiv:
	VCMPPS $3, Y0, Y0, Y1 // NaN lanes
	VANDNPS Y0, Y1, Y0    // become 0
	VMAXPS Y11, Y0, Y0
	VMINPS Y12, Y0, Y0
	VROUNDPS $0, Y0, Y0
	VADDPS Y13, Y0, Y0
	VCVTPS2DQ Y0, Y0
	VEXTRACTI128 $1, Y0, X1
	VPACKSSDW X1, X0, X0
	TESTL AX, AX
	JNE rqsigned
	VPACKUSWB X0, X0, X0
	JMP rqstore

rqsigned:
	VPACKSSWB X0, X0, X0

rqstore:
	MOVQ X0, (R13)
	ADDQ $32, R12
	ADDQ $8, R13
	DECQ CX
	JNZ rqloop

rqnext:
	ADDQ R11, SI
	ADDQ R10, DI
	DECQ R8
	JNZ rqrow

rqdone:
	VZEROUPPER
	RET

// func maxBytesAVX2(dst, a, b *byte, n int)
// dst[i] = max(a[i], b[i]) as uint8, n a multiple of 32.
TEXT ·maxBytesAVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), BX
	MOVQ n+24(FP), CX
	SHRQ $5, CX
	JZ maxbdone

maxbloop:
	VMOVDQU (SI), Y0
	VPMAXUB (BX), Y0, Y0
	VMOVDQU Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, BX
	ADDQ $32, DI
	DECQ CX
	JNZ maxbloop

maxbdone:
	VZEROUPPER
	RET
