//go:build amd64 && !purego

#include "textflag.h"

// func packA6SSE(dst, src *float32, lda, kc int)
TEXT ·packA6SSE(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ lda+16(FP), DX
	MOVQ kc+24(FP), CX
	SHLQ $2, DX
	LEAQ (SI)(DX*1), R8
	LEAQ (SI)(DX*2), R9
	LEAQ (R8)(DX*2), R10
	LEAQ (R9)(DX*2), R11
	LEAQ (R10)(DX*2), R12
	XORQ BX, BX

loop4:
	CMPQ CX, $4
	JLT  tail
	MOVUPS (SI)(BX*1), X0  // a0 a1 a2 a3
	MOVUPS (R8)(BX*1), X1  // b0 b1 b2 b3
	MOVUPS (R9)(BX*1), X2  // c0 c1 c2 c3
	MOVUPS (R10)(BX*1), X3 // d0 d1 d2 d3
	MOVUPS (R11)(BX*1), X4 // e0 e1 e2 e3
	MOVUPS (R12)(BX*1), X5 // f0 f1 f2 f3
	MOVAPS X0, X6
	UNPCKLPS X1, X6        // a0 b0 a1 b1
	UNPCKHPS X1, X0        // a2 b2 a3 b3
	MOVAPS X2, X7
	UNPCKLPS X3, X7        // c0 d0 c1 d1
	UNPCKHPS X3, X2        // c2 d2 c3 d3
	MOVAPS X6, X8
	MOVLHPS X7, X8         // a0 b0 c0 d0
	MOVHLPS X6, X7         // a1 b1 c1 d1
	MOVAPS X0, X9
	MOVLHPS X2, X9         // a2 b2 c2 d2
	MOVHLPS X0, X2         // a3 b3 c3 d3
	MOVAPS X4, X10
	UNPCKLPS X5, X10       // e0 f0 e1 f1
	UNPCKHPS X5, X4        // e2 f2 e3 f3
	MOVUPS X8, 0(DI)
	MOVLPS X10, 16(DI)
	MOVUPS X7, 24(DI)
	MOVHPS X10, 40(DI)
	MOVUPS X9, 48(DI)
	MOVLPS X4, 64(DI)
	MOVUPS X2, 72(DI)
	MOVHPS X4, 88(DI)
	ADDQ $16, BX
	ADDQ $96, DI
	SUBQ $4, CX
	JMP  loop4

tail:
	TESTQ CX, CX
	JEQ   done
	MOVSS (SI)(BX*1), X0
	MOVSS X0, 0(DI)
	MOVSS (R8)(BX*1), X0
	MOVSS X0, 4(DI)
	MOVSS (R9)(BX*1), X0
	MOVSS X0, 8(DI)
	MOVSS (R10)(BX*1), X0
	MOVSS X0, 12(DI)
	MOVSS (R11)(BX*1), X0
	MOVSS X0, 16(DI)
	MOVSS (R12)(BX*1), X0
	MOVSS X0, 20(DI)
	ADDQ  $4, BX
	ADDQ  $24, DI
	DECQ  CX
	JMP   tail

done:
	RET
