//go:build amd64 && !purego

#include "textflag.h"

// The 16x16 AVX-512 micro-kernel with the epilogue of a layer in its store: the
// tile's sums (plus beta times C) get the bias row added in registers and, with
// relu, their negative values cleared, so C is written once and never read back.

// One k step: one 16-wide load of the B panel and sixteen FMAs broadcasting one
// value of the A strip each.
#define BSTEP(aoff, boff, breg) \
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

// Row r: plus C (beta 1 in Z19) when R8 is set, plus the bias (Z18), Relu when R10
// is set (MAXPS(0, v) with 0 in Z20: -0 and NaNs kept, as ONNX Runtime's Relu), stored.
#define BROW(r) \
	TESTQ R8, R8 \
	JEQ  2(PC) \
	VFMADD231PS (DI), Z19, r \
	VADDPS Z18, r, r \
	TESTQ R10, R10 \
	JEQ  2(PC) \
	VMAXPS r, Z20, r \
	VMOVUPS r, (DI) \
	ADDQ DX, DI

// func sgemmKernel16x16BiasAVX512(kc int, a, b, c *float32, ldc int, beta float32, bias *float32, relu bool)
TEXT ·sgemmKernel16x16BiasAVX512(SB), NOSPLIT, $0-57
	MOVQ kc+0(FP), CX
	MOVQ a+8(FP), AX
	MOVQ b+16(FP), BX
	MOVQ c+24(FP), DI
	MOVQ ldc+32(FP), DX
	SHLQ $2, DX
	MOVQ DI, R9
	MOVQ $16, R11

prefetch:
	PREFETCHT0 (R9)
	ADDQ DX, R9
	DECQ R11
	JNZ  prefetch
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

bloop4:
	CMPQ CX, $4
	JLT  btail
	PREFETCHT0 1024(BX)
	PREFETCHT0 1024(AX)
	BSTEP(0, 0, Z16)
	PREFETCHT0 1088(BX)
	PREFETCHT0 1088(AX)
	BSTEP(64, 64, Z17)
	PREFETCHT0 1152(BX)
	PREFETCHT0 1152(AX)
	BSTEP(128, 128, Z16)
	PREFETCHT0 1216(BX)
	PREFETCHT0 1216(AX)
	BSTEP(192, 192, Z17)
	ADDQ $256, AX
	ADDQ $256, BX
	SUBQ $4, CX
	JMP  bloop4

btail:
	TESTQ CX, CX
	JEQ   bdone
	BSTEP(0, 0, Z16)
	ADDQ $64, AX
	ADDQ $64, BX
	DECQ CX
	JMP  btail

bdone:
	// beta is 0 or 1 here: any bits outside the sign mean "add C".
	MOVL         beta+40(FP), R8
	ANDL         $0x7fffffff, R8
	VBROADCASTSS beta+40(FP), Z19
	MOVQ         bias+48(FP), R9
	VMOVUPS      (R9), Z18
	MOVBQZX      relu+56(FP), R10
	VPXORD       Z20, Z20, Z20
	BROW(Z0)
	BROW(Z1)
	BROW(Z2)
	BROW(Z3)
	BROW(Z4)
	BROW(Z5)
	BROW(Z6)
	BROW(Z7)
	BROW(Z8)
	BROW(Z9)
	BROW(Z10)
	BROW(Z11)
	BROW(Z12)
	BROW(Z13)
	BROW(Z14)
	BROW(Z15)
	VZEROUPPER
	RET
