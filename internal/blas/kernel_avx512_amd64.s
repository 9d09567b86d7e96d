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
