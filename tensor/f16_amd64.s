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
