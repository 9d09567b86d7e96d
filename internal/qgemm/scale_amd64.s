//go:build amd64 && !purego

#include "textflag.h"

// func scaleAVX2(dst *float32, src *int32, n int, off int32, k, b float32, bias bool)
TEXT ·scaleAVX2(SB), NOSPLIT, $0-37
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	MOVL off+24(FP), AX
	MOVD AX, X1
	VPBROADCASTD X1, Y1
	MOVSS k+28(FP), X2
	VBROADCASTSS X2, Y2
	MOVSS b+32(FP), X3
	VBROADCASTSS X3, Y3
	MOVBLZX bias+36(FP), AX
	SHRQ $3, CX
	JZ done
	TESTQ AX, AX
	JNZ withbias

plain:
	VMOVDQU (SI), Y0
	VPADDD Y1, Y0, Y0
	VCVTDQ2PS Y0, Y0
	VMULPS Y2, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ plain
	JMP done

withbias:
	VMOVDQU (SI), Y0
	VPADDD Y1, Y0, Y0
	VCVTDQ2PS Y0, Y0
	VMULPS Y2, Y0, Y0
	VADDPS Y3, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ withbias

done:
	VZEROUPPER
	RET

// func dequantizeAVX2(dst *float32, src *byte, n int, z, s float32, signed bool)
TEXT ·dequantizeAVX2(SB), NOSPLIT, $0-33
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	MOVSS z+24(FP), X2
	VBROADCASTSS X2, Y2
	MOVSS s+28(FP), X3
	VBROADCASTSS X3, Y3
	MOVBLZX signed+32(FP), AX
	SHRQ $3, CX
	JZ dqdone
	TESTQ AX, AX
	JNZ dqsigned

dqunsigned:
	VPMOVZXBD (SI), Y0
	VCVTDQ2PS Y0, Y0
	VSUBPS Y2, Y0, Y0
	VMULPS Y3, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $8, SI
	ADDQ $32, DI
	DECQ CX
	JNZ dqunsigned
	JMP dqdone

dqsigned:
	VPMOVSXBD (SI), Y0
	VCVTDQ2PS Y0, Y0
	VSUBPS Y2, Y0, Y0
	VMULPS Y3, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $8, SI
	ADDQ $32, DI
	DECQ CX
	JNZ dqsigned

dqdone:
	VZEROUPPER
	RET
