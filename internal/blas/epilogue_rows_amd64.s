//go:build amd64 && !purego

#include "textflag.h"

DATA negInf<>+0(SB)/4, $0xff800000
GLOBL negInf<>(SB), RODATA|NOPTR, $4

// func maxAVX2(p *float32, n int) float32
// MAXPS returns its second (source) operand when either is NaN, so with the running
// maximum there a NaN value leaves it unchanged, as the scalar v > mx test does.
TEXT ·maxAVX2(SB), NOSPLIT, $0-20
	MOVQ         p+0(FP), SI
	MOVQ         n+8(FP), CX
	VBROADCASTSS negInf<>(SB), Y0

maxloop:
	VMOVUPS (SI), Y1
	VMAXPS  Y0, Y1, Y0 // Y0 = Y1 > Y0 ? Y1 : Y0
	ADDQ    $32, SI
	SUBQ    $8, CX
	JNZ     maxloop
	VEXTRACTF128 $1, Y0, X1
	VMAXPS       X1, X0, X0
	VMOVHLPS     X0, X0, X1
	VMAXPS       X1, X0, X0
	VPSHUFD      $1, X0, X1
	VMAXSS       X1, X0, X0
	VMOVSS       X0, ret+16(FP)
	VZEROUPPER
	RET

// func scalarOpAVX2(dst, src *float32, n int, f float32, div bool)
TEXT ·scalarOpAVX2(SB), NOSPLIT, $0-29
	MOVQ         dst+0(FP), DI
	MOVQ         src+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSS f+24(FP), Y0
	MOVBLZX      div+28(FP), AX
	TESTQ        AX, AX
	JNE          divloop

mulloop:
	VMULPS  (SI), Y0, Y1
	VMOVUPS Y1, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	SUBQ    $8, CX
	JNZ     mulloop
	VZEROUPPER
	RET

divloop:
	VMOVUPS (SI), Y1
	VDIVPS  Y0, Y1, Y1 // Y1 = Y1 / Y0
	VMOVUPS Y1, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	SUBQ    $8, CX
	JNZ     divloop
	VZEROUPPER
	RET
