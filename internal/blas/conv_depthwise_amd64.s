//go:build amd64 && !purego

#include "textflag.h"

// func fmaRowAVX512(dst, src *float32, n int, v float32)
TEXT ·fmaRowAVX512(SB), NOSPLIT, $0-28
	MOVQ         dst+0(FP), DI
	MOVQ         src+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSS v+24(FP), Z0

loop32:
	CMPQ        CX, $32
	JLT         loop16
	VMOVUPS     (DI), Z1
	VMOVUPS     64(DI), Z2
	VFMADD231PS (SI), Z0, Z1
	VFMADD231PS 64(SI), Z0, Z2
	VMOVUPS     Z1, (DI)
	VMOVUPS     Z2, 64(DI)
	ADDQ        $128, DI
	ADDQ        $128, SI
	SUBQ        $32, CX
	JMP         loop32

loop16:
	CMPQ        CX, $16
	JLT         tail
	VMOVUPS     (DI), Z1
	VFMADD231PS (SI), Z0, Z1
	VMOVUPS     Z1, (DI)
	ADDQ        $64, DI
	ADDQ        $64, SI
	SUBQ        $16, CX
	JMP         loop16

tail:
	TESTQ       CX, CX
	JEQ         done
	// K1 = the low CX bits: masked loads and stores touch nothing past n.
	MOVL        $1, AX
	SHLL        CX, AX
	DECL        AX
	KMOVW       AX, K1
	VMOVUPS.Z   (DI), K1, Z1
	VMOVUPS.Z   (SI), K1, Z2
	VFMADD231PS Z2, Z0, Z1
	VMOVUPS     Z1, K1, (DI)

done:
	VZEROUPPER
	RET

// func fmaRowAVX2(dst, src *float32, n int, v float32)
TEXT ·fmaRowAVX2(SB), NOSPLIT, $0-28
	MOVQ         dst+0(FP), DI
	MOVQ         src+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSS v+24(FP), Y0

loop8:
	CMPQ        CX, $8
	JLT         tail1
	VMOVUPS     (DI), Y1
	VFMADD231PS (SI), Y0, Y1
	VMOVUPS     Y1, (DI)
	ADDQ        $32, DI
	ADDQ        $32, SI
	SUBQ        $8, CX
	JMP         loop8

tail1:
	TESTQ       CX, CX
	JEQ         done1
	VMOVSS      (DI), X1
	VFMADD231SS (SI), X0, X1
	VMOVSS      X1, (DI)
	ADDQ        $4, DI
	ADDQ        $4, SI
	DECQ        CX
	JMP         tail1

done1:
	VZEROUPPER
	RET
