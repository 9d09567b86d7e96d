//go:build !purego

#include "textflag.h"

// func f32ToF16F16C(dst *byte, src *float32, n int) int
// A NaN is a float whose bits without the sign exceed 0x7f800000 (as signed int32).
TEXT ·f32ToF16F16C(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	XORQ AX, AX
	MOVL $0x7fffffff, DX
	MOVQ DX, X1
	VPBROADCASTD X1, Y1
	MOVL $0x7f800000, DX
	MOVQ DX, X2
	VPBROADCASTD X2, Y2

loop:
	CMPQ AX, CX
	JGE done
	VMOVDQU (SI)(AX*4), Y3
	VPAND Y1, Y3, Y4
	VPCMPGTD Y2, Y4, Y4
	VPMOVMSKB Y4, DX
	TESTL DX, DX
	JNZ done
	VCVTPS2PH $0, Y3, X5
	VMOVDQU X5, (DI)(AX*2)
	ADDQ $8, AX
	JMP loop

done:
	MOVQ AX, ret+24(FP)
	VZEROUPPER
	RET

// func f32ToBF16AVX2(dst *byte, src *float32, n int) int
// Rounds 8 floats at a time to bfloat16, to nearest even: (b + 0x7fff + (b>>16)&1) >> 16,
// stopping before the first group of 8 that holds a NaN (ConvertF32ToBF16 quiets it).
TEXT ·f32ToBF16AVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	XORQ AX, AX
	MOVL $0x7fffffff, DX
	MOVQ DX, X1
	VPBROADCASTD X1, Y1
	MOVL $0x7f800000, DX
	MOVQ DX, X2
	VPBROADCASTD X2, Y2
	MOVL $0x7fff, DX
	MOVQ DX, X6
	VPBROADCASTD X6, Y6
	MOVL $1, DX
	MOVQ DX, X7
	VPBROADCASTD X7, Y7

bfloop:
	CMPQ AX, CX
	JGE bfdone
	VMOVDQU (SI)(AX*4), Y3
	VPAND Y1, Y3, Y4
	VPCMPGTD Y2, Y4, Y4
	VPMOVMSKB Y4, DX
	TESTL DX, DX
	JNZ bfdone
	VPSRLD $16, Y3, Y4
	VPAND Y7, Y4, Y4
	VPADDD Y6, Y3, Y3
	VPADDD Y4, Y3, Y3
	VPSRLD $16, Y3, Y3
	VPACKUSDW Y3, Y3, Y3
	VPERMQ $0x08, Y3, Y3
	VMOVDQU X3, (DI)(AX*2)
	ADDQ $8, AX
	JMP bfloop

bfdone:
	MOVQ AX, ret+24(FP)
	VZEROUPPER
	RET
