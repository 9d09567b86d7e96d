//go:build amd64 && !purego

#include "textflag.h"

// func f16ToF32F16C(dst *float32, src *byte, n int) int
// Converts 8 halves at a time with VCVTPH2PS (exact), stopping before the first group
// of 8 that holds a NaN (the instruction would quiet a signalling NaN's payload, the
// scalar conversion keeps it). n is a multiple of 8; it returns the count converted.
TEXT ·f16ToF32F16C(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	XORQ AX, AX
	MOVL $0x7fff, DX
	MOVQ DX, X1
	VPBROADCASTW X1, X1
	MOVL $0x7c00, DX
	MOVQ DX, X2
	VPBROADCASTW X2, X2

f16loop:
	CMPQ AX, CX
	JGE f16done
	VMOVDQU (SI)(AX*2), X3
	VPAND X1, X3, X4
	VPCMPGTW X2, X4, X4
	VPMOVMSKB X4, DX
	TESTL DX, DX
	JNZ f16done
	VCVTPH2PS X3, Y5
	VMOVUPS Y5, (DI)(AX*4)
	ADDQ $8, AX
	JMP f16loop

f16done:
	MOVQ AX, ret+24(FP)
	VZEROUPPER
	RET

// func bf16ToF32AVX2(dst *float32, src *byte, n int)
// Widens n bfloat16 values (n a multiple of 8): each float32 has the value's 16 bits
// on top and zeros below, as tensor.ConvertBF16ToF32 (NaN payloads kept).
TEXT ·bf16ToF32AVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	XORQ AX, AX

bf16loop:
	CMPQ AX, CX
	JGE bf16done
	VPMOVZXWD (SI)(AX*2), Y0
	VPSLLD $16, Y0, Y0
	VMOVDQU Y0, (DI)(AX*4)
	ADDQ $8, AX
	JMP bf16loop

bf16done:
	VZEROUPPER
	RET
