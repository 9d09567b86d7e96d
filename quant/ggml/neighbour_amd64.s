//go:build !purego

#include "textflag.h"

DATA nbEight<>+0(SB)/8, $0x0000000800000008
DATA nbEight<>+8(SB)/8, $0x0000000800000008
DATA nbEight<>+16(SB)/8, $0x0000000800000008
DATA nbEight<>+24(SB)/8, $0x0000000800000008
GLOBL nbEight<>(SB), RODATA|NOPTR, $32
DATA nbLanes<>+0(SB)/8, $0x0000000100000000
DATA nbLanes<>+8(SB)/8, $0x0000000300000002
DATA nbLanes<>+16(SB)/8, $0x0000000500000004
DATA nbLanes<>+24(SB)/8, $0x0000000700000006
GLOBL nbLanes<>(SB), RODATA|NOPTR, $32

// func neighbourD2AVX2(grid *[8]float32, nb *uint16, n int, xval, weight *float32, scale float32, pos0 int32, best *[8]float32, pos *[8]int32)
// Eight neighbours per step, one per lane: the eight grid rows are loaded and
// transposed so that lane k holds neighbour k's value of dimension i, then each lane
// sums weight[i]*diff*diff over i = 0..7 in order, exactly as the scalar loop. Lane k
// keeps the first position (pos0 + its index in nb) with the least sum below its
// incoming best. n is a multiple of 8.
TEXT ·neighbourD2AVX2(SB), NOSPLIT, $0-64
	MOVQ grid+0(FP), AX
	MOVQ nb+8(FP), BX
	MOVQ n+16(FP), CX
	MOVQ xval+24(FP), SI
	MOVQ weight+32(FP), DI
	VBROADCASTSS scale+40(FP), Y15
	MOVL pos0+44(FP), R9
	VMOVD R9, X12
	VPBROADCASTD X12, Y12
	VPADDD nbLanes<>(SB), Y12, Y12
	MOVQ best+48(FP), R10
	MOVQ pos+56(FP), R11
	VMOVUPS (R10), Y14
	VMOVDQU (R11), Y13

loop:
	MOVWLZX 0(BX), R8
	SHLQ $5, R8
	VMOVUPS (AX)(R8*1), Y0
	MOVWLZX 2(BX), R8
	SHLQ $5, R8
	VMOVUPS (AX)(R8*1), Y1
	MOVWLZX 4(BX), R8
	SHLQ $5, R8
	VMOVUPS (AX)(R8*1), Y2
	MOVWLZX 6(BX), R8
	SHLQ $5, R8
	VMOVUPS (AX)(R8*1), Y3
	MOVWLZX 8(BX), R8
	SHLQ $5, R8
	VMOVUPS (AX)(R8*1), Y4
	MOVWLZX 10(BX), R8
	SHLQ $5, R8
	VMOVUPS (AX)(R8*1), Y5
	MOVWLZX 12(BX), R8
	SHLQ $5, R8
	VMOVUPS (AX)(R8*1), Y6
	MOVWLZX 14(BX), R8
	SHLQ $5, R8
	VMOVUPS (AX)(R8*1), Y7

	// 8x8 transpose: rows r0..r7 in Y0..Y7 become columns c0..c7 in Y0..Y7.
	VUNPCKLPS Y1, Y0, Y8  // t0
	VUNPCKHPS Y1, Y0, Y9  // t1
	VUNPCKLPS Y3, Y2, Y10 // t2
	VUNPCKHPS Y3, Y2, Y11 // t3
	VUNPCKLPS Y5, Y4, Y0  // t4
	VUNPCKHPS Y5, Y4, Y1  // t5
	VUNPCKLPS Y7, Y6, Y2  // t6
	VUNPCKHPS Y7, Y6, Y3  // t7
	VSHUFPS $0x44, Y10, Y8, Y4  // s0
	VSHUFPS $0xEE, Y10, Y8, Y5  // s1
	VSHUFPS $0x44, Y11, Y9, Y6  // s2
	VSHUFPS $0xEE, Y11, Y9, Y7  // s3
	VSHUFPS $0x44, Y2, Y0, Y8   // s4
	VSHUFPS $0xEE, Y2, Y0, Y9   // s5
	VSHUFPS $0x44, Y3, Y1, Y10  // s6
	VSHUFPS $0xEE, Y3, Y1, Y11  // s7
	VPERM2F128 $0x20, Y8, Y4, Y0  // c0
	VPERM2F128 $0x20, Y9, Y5, Y1  // c1
	VPERM2F128 $0x20, Y10, Y6, Y2 // c2
	VPERM2F128 $0x20, Y11, Y7, Y3 // c3
	VPERM2F128 $0x31, Y8, Y4, Y4  // c4
	VPERM2F128 $0x31, Y9, Y5, Y5  // c5
	VPERM2F128 $0x31, Y10, Y6, Y6 // c6
	VPERM2F128 $0x31, Y11, Y7, Y7 // c7

	// d2 = 0; d2 += (weight[i]*diff)*diff with diff = scale*c_i - xval[i].
	VXORPS Y8, Y8, Y8

#define TERM(c, off) \
	VMULPS Y15, c, Y9; \
	VBROADCASTSS off(SI), Y10; \
	VSUBPS Y10, Y9, Y9; \
	VBROADCASTSS off(DI), Y10; \
	VMULPS Y9, Y10, Y10; \
	VMULPS Y9, Y10, Y10; \
	VADDPS Y10, Y8, Y8

	TERM(Y0, 0)
	TERM(Y1, 4)
	TERM(Y2, 8)
	TERM(Y3, 12)
	TERM(Y4, 16)
	TERM(Y5, 20)
	TERM(Y6, 24)
	TERM(Y7, 28)

	// Strictly below the lane's best: take the sum and its position.
	VCMPPS $1, Y14, Y8, Y11
	VBLENDVPS Y11, Y8, Y14, Y14
	VBLENDVPS Y11, Y12, Y13, Y13
	VPADDD nbEight<>(SB), Y12, Y12

	ADDQ $16, BX
	SUBQ $8, CX
	JNZ loop

	VMOVUPS Y14, (R10)
	VMOVDQU Y13, (R11)
	VZEROUPPER
	RET
