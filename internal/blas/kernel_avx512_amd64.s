//go:build amd64 && !purego

#include "textflag.h"

// One k step of the 16x16 tile: one 16-wide load of the B panel and sixteen FMAs,
// each broadcasting one value of the A strip from memory (EVEX embedded broadcast).
#define STEP16x16(aoff, boff, breg) \
	VMOVUPS boff(BX), breg \
	VFMADD231PS.BCST (aoff+0)(AX), breg, Z0 \
	VFMADD231PS.BCST (aoff+4)(AX), breg, Z1 \
	VFMADD231PS.BCST (aoff+8)(AX), breg, Z2 \
	VFMADD231PS.BCST (aoff+12)(AX), breg, Z3 \
	VFMADD231PS.BCST (aoff+16)(AX), breg, Z4 \
	VFMADD231PS.BCST (aoff+20)(AX), breg, Z5 \
	VFMADD231PS.BCST (aoff+24)(AX), breg, Z6 \
	VFMADD231PS.BCST (aoff+28)(AX), breg, Z7 \
	VFMADD231PS.BCST (aoff+32)(AX), breg, Z8 \
	VFMADD231PS.BCST (aoff+36)(AX), breg, Z9 \
	VFMADD231PS.BCST (aoff+40)(AX), breg, Z10 \
	VFMADD231PS.BCST (aoff+44)(AX), breg, Z11 \
	VFMADD231PS.BCST (aoff+48)(AX), breg, Z12 \
	VFMADD231PS.BCST (aoff+52)(AX), breg, Z13 \
	VFMADD231PS.BCST (aoff+56)(AX), breg, Z14 \
	VFMADD231PS.BCST (aoff+60)(AX), breg, Z15

// Row r of the tile scaled by alpha (in Z18) plus beta (in Z19) times C.
#define ROWBETA16(r) \
	VMULPS Z18, r, r \
	VFMADD231PS (DI), Z19, r \
	VMOVUPS r, (DI) \
	ADDQ DX, DI

#define ROWSTORE16(r) \
	VMULPS Z18, r, r \
	VMOVUPS r, (DI) \
	ADDQ DX, DI

// func sgemmKernel16x16AVX512(kc int, a, b, c *float32, ldc int, alpha, beta float32)
TEXT ·sgemmKernel16x16AVX512(SB), NOSPLIT, $0-48
	MOVQ kc+0(FP), CX
	MOVQ a+8(FP), AX
	MOVQ b+16(FP), BX
	MOVQ c+24(FP), DI
	MOVQ ldc+32(FP), DX
	SHLQ $2, DX
	// Pull the C tile toward L1 while the k loop runs: its rows are ldc apart, so
	// the hardware prefetchers do not see them coming.
	MOVQ DI, R9
	PREFETCHT0 (R9)
	ADDQ DX, R9
	PREFETCHT0 (R9)
	ADDQ DX, R9
	PREFETCHT0 (R9)
	ADDQ DX, R9
	PREFETCHT0 (R9)
	ADDQ DX, R9
	PREFETCHT0 (R9)
	ADDQ DX, R9
	PREFETCHT0 (R9)
	ADDQ DX, R9
	PREFETCHT0 (R9)
	ADDQ DX, R9
	PREFETCHT0 (R9)
	ADDQ DX, R9
	PREFETCHT0 (R9)
	ADDQ DX, R9
	PREFETCHT0 (R9)
	ADDQ DX, R9
	PREFETCHT0 (R9)
	ADDQ DX, R9
	PREFETCHT0 (R9)
	ADDQ DX, R9
	PREFETCHT0 (R9)
	ADDQ DX, R9
	PREFETCHT0 (R9)
	ADDQ DX, R9
	PREFETCHT0 (R9)
	ADDQ DX, R9
	PREFETCHT0 (R9)
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	VPXORD Z8, Z8, Z8
	VPXORD Z9, Z9, Z9
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11
	VPXORD Z12, Z12, Z12
	VPXORD Z13, Z13, Z13
	VPXORD Z14, Z14, Z14
	VPXORD Z15, Z15, Z15

loop4:
	CMPQ CX, $4
	JLT  tail
	PREFETCHT0 1024(BX)
	PREFETCHT0 1024(AX)
	STEP16x16(0, 0, Z16)
	PREFETCHT0 1088(BX)
	PREFETCHT0 1088(AX)
	STEP16x16(64, 64, Z17)
	PREFETCHT0 1152(BX)
	PREFETCHT0 1152(AX)
	STEP16x16(128, 128, Z16)
	PREFETCHT0 1216(BX)
	PREFETCHT0 1216(AX)
	STEP16x16(192, 192, Z17)
	ADDQ $256, AX
	ADDQ $256, BX
	SUBQ $4, CX
	JMP  loop4

tail:
	TESTQ CX, CX
	JEQ   done
	STEP16x16(0, 0, Z16)
	ADDQ $64, AX
	ADDQ $64, BX
	DECQ CX
	JMP  tail

done:
	VBROADCASTSS alpha+40(FP), Z18
	// beta == ±0 stores without reading C; the bits of any other beta (NaN too)
	// are nonzero outside the sign.
	MOVL         beta+44(FP), R8
	ANDL         $0x7fffffff, R8
	JNE          withbeta
	ROWSTORE16(Z0)
	ROWSTORE16(Z1)
	ROWSTORE16(Z2)
	ROWSTORE16(Z3)
	ROWSTORE16(Z4)
	ROWSTORE16(Z5)
	ROWSTORE16(Z6)
	ROWSTORE16(Z7)
	ROWSTORE16(Z8)
	ROWSTORE16(Z9)
	ROWSTORE16(Z10)
	ROWSTORE16(Z11)
	ROWSTORE16(Z12)
	ROWSTORE16(Z13)
	ROWSTORE16(Z14)
	ROWSTORE16(Z15)
	VZEROUPPER
	RET

withbeta:
	VBROADCASTSS beta+44(FP), Z19
	ROWBETA16(Z0)
	ROWBETA16(Z1)
	ROWBETA16(Z2)
	ROWBETA16(Z3)
	ROWBETA16(Z4)
	ROWBETA16(Z5)
	ROWBETA16(Z6)
	ROWBETA16(Z7)
	ROWBETA16(Z8)
	ROWBETA16(Z9)
	ROWBETA16(Z10)
	ROWBETA16(Z11)
	ROWBETA16(Z12)
	ROWBETA16(Z13)
	ROWBETA16(Z14)
	ROWBETA16(Z15)
	VZEROUPPER
	RET

// One k step of the 16x8 half tile: the left 8 columns of a 16-wide B panel, sixteen
// 256-bit FMAs (EVEX-encoded, so Y16 and up need AVX-512VL).
#define STEP16x8(aoff, boff, breg) \
	VMOVUPS boff(BX), breg \
	VFMADD231PS.BCST (aoff+0)(AX), breg, Y0 \
	VFMADD231PS.BCST (aoff+4)(AX), breg, Y1 \
	VFMADD231PS.BCST (aoff+8)(AX), breg, Y2 \
	VFMADD231PS.BCST (aoff+12)(AX), breg, Y3 \
	VFMADD231PS.BCST (aoff+16)(AX), breg, Y4 \
	VFMADD231PS.BCST (aoff+20)(AX), breg, Y5 \
	VFMADD231PS.BCST (aoff+24)(AX), breg, Y6 \
	VFMADD231PS.BCST (aoff+28)(AX), breg, Y7 \
	VFMADD231PS.BCST (aoff+32)(AX), breg, Y8 \
	VFMADD231PS.BCST (aoff+36)(AX), breg, Y9 \
	VFMADD231PS.BCST (aoff+40)(AX), breg, Y10 \
	VFMADD231PS.BCST (aoff+44)(AX), breg, Y11 \
	VFMADD231PS.BCST (aoff+48)(AX), breg, Y12 \
	VFMADD231PS.BCST (aoff+52)(AX), breg, Y13 \
	VFMADD231PS.BCST (aoff+56)(AX), breg, Y14 \
	VFMADD231PS.BCST (aoff+60)(AX), breg, Y15

#define ROWBETA16x8(r) \
	VMULPS Y18, r, r \
	VFMADD231PS (DI), Y19, r \
	VMOVUPS r, (DI) \
	ADDQ DX, DI

#define ROWSTORE16x8(r) \
	VMULPS Y18, r, r \
	VMOVUPS r, (DI) \
	ADDQ DX, DI

// func sgemmKernel16x8AVX512(kc int, a, b, c *float32, ldc int, alpha, beta float32)
TEXT ·sgemmKernel16x8AVX512(SB), NOSPLIT, $0-48
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
	VXORPS Y12, Y12, Y12
	VXORPS Y13, Y13, Y13
	VXORPS Y14, Y14, Y14
	VXORPS Y15, Y15, Y15

h8loop2:
	CMPQ CX, $2
	JLT  h8tail
	STEP16x8(0, 0, Y16)
	STEP16x8(64, 64, Y17)
	ADDQ $128, AX
	ADDQ $128, BX
	SUBQ $2, CX
	JMP  h8loop2

h8tail:
	TESTQ CX, CX
	JEQ   h8done
	STEP16x8(0, 0, Y16)

h8done:
	VBROADCASTSS alpha+40(FP), Y18
	MOVL         beta+44(FP), R8
	ANDL         $0x7fffffff, R8
	JNE          h8withbeta
	ROWSTORE16x8(Y0)
	ROWSTORE16x8(Y1)
	ROWSTORE16x8(Y2)
	ROWSTORE16x8(Y3)
	ROWSTORE16x8(Y4)
	ROWSTORE16x8(Y5)
	ROWSTORE16x8(Y6)
	ROWSTORE16x8(Y7)
	ROWSTORE16x8(Y8)
	ROWSTORE16x8(Y9)
	ROWSTORE16x8(Y10)
	ROWSTORE16x8(Y11)
	ROWSTORE16x8(Y12)
	ROWSTORE16x8(Y13)
	ROWSTORE16x8(Y14)
	ROWSTORE16x8(Y15)
	VZEROUPPER
	RET

h8withbeta:
	VBROADCASTSS beta+44(FP), Y19
	ROWBETA16x8(Y0)
	ROWBETA16x8(Y1)
	ROWBETA16x8(Y2)
	ROWBETA16x8(Y3)
	ROWBETA16x8(Y4)
	ROWBETA16x8(Y5)
	ROWBETA16x8(Y6)
	ROWBETA16x8(Y7)
	ROWBETA16x8(Y8)
	ROWBETA16x8(Y9)
	ROWBETA16x8(Y10)
	ROWBETA16x8(Y11)
	ROWBETA16x8(Y12)
	ROWBETA16x8(Y13)
	ROWBETA16x8(Y14)
	ROWBETA16x8(Y15)
	VZEROUPPER
	RET

// func sgemmKernel16x4ColAVX512(kc int, a, b, c *float32, ldc int, alpha, beta float32)
//
// The left four columns of a 16x16 tile, one ZMM accumulator per column (the 16 rows
// of the A strip times one broadcast value of B): four FMAs per k step instead of
// sixteen. Even and odd k steps go to separate accumulators, summed at the end.
// Column j of alpha times the product is stored at c[16*j : 16*j+16]; ldc and beta
// are ignored (the caller merges the columns into C).
TEXT ·sgemmKernel16x4ColAVX512(SB), NOSPLIT, $0-48
	MOVQ kc+0(FP), CX
	MOVQ a+8(FP), AX
	MOVQ b+16(FP), BX
	MOVQ c+24(FP), DI
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7

c4loop2:
	CMPQ CX, $2
	JLT  c4tail
	VMOVUPS (AX), Z16
	VMOVUPS 64(AX), Z17
	VFMADD231PS.BCST 0(BX), Z16, Z0
	VFMADD231PS.BCST 4(BX), Z16, Z1
	VFMADD231PS.BCST 8(BX), Z16, Z2
	VFMADD231PS.BCST 12(BX), Z16, Z3
	VFMADD231PS.BCST 64(BX), Z17, Z4
	VFMADD231PS.BCST 68(BX), Z17, Z5
	VFMADD231PS.BCST 72(BX), Z17, Z6
	VFMADD231PS.BCST 76(BX), Z17, Z7
	ADDQ $128, AX
	ADDQ $128, BX
	SUBQ $2, CX
	JMP  c4loop2

c4tail:
	TESTQ CX, CX
	JEQ   c4done
	VMOVUPS (AX), Z16
	VFMADD231PS.BCST 0(BX), Z16, Z0
	VFMADD231PS.BCST 4(BX), Z16, Z1
	VFMADD231PS.BCST 8(BX), Z16, Z2
	VFMADD231PS.BCST 12(BX), Z16, Z3

c4done:
	VADDPS       Z4, Z0, Z0
	VADDPS       Z5, Z1, Z1
	VADDPS       Z6, Z2, Z2
	VADDPS       Z7, Z3, Z3
	VBROADCASTSS alpha+40(FP), Z18
	VMULPS       Z18, Z0, Z0
	VMULPS       Z18, Z1, Z1
	VMULPS       Z18, Z2, Z2
	VMULPS       Z18, Z3, Z3
	VMOVUPS      Z0, (DI)
	VMOVUPS      Z1, 64(DI)
	VMOVUPS      Z2, 128(DI)
	VMOVUPS      Z3, 192(DI)
	VZEROUPPER
	RET
