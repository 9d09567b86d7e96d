//go:build amd64 && !purego

#include "textflag.h"

// One k step of the 6x16 tile: two 8-wide loads of the B panel, six broadcasts of
// the A strip, twelve FMAs into Y0..Y11.
#define STEP6x16(aoff, boff) \
	VMOVUPS boff(BX), Y12 \
	VMOVUPS (boff+32)(BX), Y13 \
	VBROADCASTSS (aoff+0)(AX), Y14 \
	VFMADD231PS Y12, Y14, Y0 \
	VFMADD231PS Y13, Y14, Y1 \
	VBROADCASTSS (aoff+4)(AX), Y15 \
	VFMADD231PS Y12, Y15, Y2 \
	VFMADD231PS Y13, Y15, Y3 \
	VBROADCASTSS (aoff+8)(AX), Y14 \
	VFMADD231PS Y12, Y14, Y4 \
	VFMADD231PS Y13, Y14, Y5 \
	VBROADCASTSS (aoff+12)(AX), Y15 \
	VFMADD231PS Y12, Y15, Y6 \
	VFMADD231PS Y13, Y15, Y7 \
	VBROADCASTSS (aoff+16)(AX), Y14 \
	VFMADD231PS Y12, Y14, Y8 \
	VFMADD231PS Y13, Y14, Y9 \
	VBROADCASTSS (aoff+20)(AX), Y15 \
	VFMADD231PS Y12, Y15, Y10 \
	VFMADD231PS Y13, Y15, Y11

// Row r of the tile scaled by alpha (in Y12) plus beta (in Y13) times C.
#define ROWBETA(r0, r1) \
	VMULPS Y12, r0, r0 \
	VMULPS Y12, r1, r1 \
	VFMADD231PS (DI), Y13, r0 \
	VFMADD231PS 32(DI), Y13, r1 \
	VMOVUPS r0, (DI) \
	VMOVUPS r1, 32(DI) \
	ADDQ DX, DI

#define ROWSTORE(r0, r1) \
	VMULPS Y12, r0, r0 \
	VMULPS Y12, r1, r1 \
	VMOVUPS r0, (DI) \
	VMOVUPS r1, 32(DI) \
	ADDQ DX, DI

// func sgemmKernel6x16AVX2(kc int, a, b, c *float32, ldc int, alpha, beta float32)
TEXT ·sgemmKernel6x16AVX2(SB), NOSPLIT, $0-48
	MOVQ kc+0(FP), CX
	MOVQ a+8(FP), AX
	MOVQ b+16(FP), BX
	MOVQ c+24(FP), DI
	MOVQ ldc+32(FP), DX
	SHLQ $2, DX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11

loop4:
	CMPQ CX, $4
	JLT  tail
	STEP6x16(0, 0)
	STEP6x16(24, 64)
	STEP6x16(48, 128)
	STEP6x16(72, 192)
	ADDQ $96, AX
	ADDQ $256, BX
	SUBQ $4, CX
	JMP  loop4

tail:
	TESTQ CX, CX
	JEQ   done
	STEP6x16(0, 0)
	ADDQ $24, AX
	ADDQ $64, BX
	DECQ CX
	JMP  tail

done:
	VBROADCASTSS alpha+40(FP), Y12
	MOVSS        beta+44(FP), X13
	VXORPS       X14, X14, X14
	UCOMISS      X14, X13
	JNE          withbeta
	JPS          withbeta
	ROWSTORE(Y0, Y1)
	ROWSTORE(Y2, Y3)
	ROWSTORE(Y4, Y5)
	ROWSTORE(Y6, Y7)
	ROWSTORE(Y8, Y9)
	ROWSTORE(Y10, Y11)
	VZEROUPPER
	RET

withbeta:
	VBROADCASTSS beta+44(FP), Y13
	ROWBETA(Y0, Y1)
	ROWBETA(Y2, Y3)
	ROWBETA(Y4, Y5)
	ROWBETA(Y6, Y7)
	ROWBETA(Y8, Y9)
	ROWBETA(Y10, Y11)
	VZEROUPPER
	RET

// One k step of the 6x8 half tile: the left 8 columns of a 16-wide B panel.
#define STEP6x8(aoff, boff) \
	VMOVUPS boff(BX), Y12 \
	VBROADCASTSS (aoff+0)(AX), Y13 \
	VBROADCASTSS (aoff+4)(AX), Y14 \
	VBROADCASTSS (aoff+8)(AX), Y15 \
	VFMADD231PS Y12, Y13, Y0 \
	VFMADD231PS Y12, Y14, Y1 \
	VFMADD231PS Y12, Y15, Y2 \
	VBROADCASTSS (aoff+12)(AX), Y13 \
	VBROADCASTSS (aoff+16)(AX), Y14 \
	VBROADCASTSS (aoff+20)(AX), Y15 \
	VFMADD231PS Y12, Y13, Y3 \
	VFMADD231PS Y12, Y14, Y4 \
	VFMADD231PS Y12, Y15, Y5

#define ROWBETA8(r) \
	VMULPS Y12, r, r \
	VFMADD231PS (DI), Y13, r \
	VMOVUPS r, (DI) \
	ADDQ DX, DI

#define ROWSTORE8(r) \
	VMULPS Y12, r, r \
	VMOVUPS r, (DI) \
	ADDQ DX, DI

// func sgemmKernel6x8AVX2(kc int, a, b, c *float32, ldc int, alpha, beta float32)
TEXT ·sgemmKernel6x8AVX2(SB), NOSPLIT, $0-48
	MOVQ kc+0(FP), CX
	MOVQ a+8(FP), AX
	MOVQ b+16(FP), BX
	MOVQ c+24(FP), DI
	MOVQ ldc+32(FP), DX
	SHLQ $2, DX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5

loop4h:
	CMPQ CX, $4
	JLT  tailh
	STEP6x8(0, 0)
	STEP6x8(24, 64)
	STEP6x8(48, 128)
	STEP6x8(72, 192)
	ADDQ $96, AX
	ADDQ $256, BX
	SUBQ $4, CX
	JMP  loop4h

tailh:
	TESTQ CX, CX
	JEQ   doneh
	STEP6x8(0, 0)
	ADDQ $24, AX
	ADDQ $64, BX
	DECQ CX
	JMP  tailh

doneh:
	VBROADCASTSS alpha+40(FP), Y12
	MOVSS        beta+44(FP), X13
	VXORPS       X14, X14, X14
	UCOMISS      X14, X13
	JNE          withbetah
	JPS          withbetah
	ROWSTORE8(Y0)
	ROWSTORE8(Y1)
	ROWSTORE8(Y2)
	ROWSTORE8(Y3)
	ROWSTORE8(Y4)
	ROWSTORE8(Y5)
	VZEROUPPER
	RET

withbetah:
	VBROADCASTSS beta+44(FP), Y13
	ROWBETA8(Y0)
	ROWBETA8(Y1)
	ROWBETA8(Y2)
	ROWBETA8(Y3)
	ROWBETA8(Y4)
	ROWBETA8(Y5)
	VZEROUPPER
	RET
