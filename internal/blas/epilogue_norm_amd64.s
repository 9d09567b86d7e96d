//go:build amd64 && !purego

#include "textflag.h"

// HSUM4 leaves ((t0+t1)+(t2+t3)) in X0 for the four doubles t of Y0.
#define HSUM4 \
	VEXTRACTF128 $1, Y0, X1 \
	VHADDPD      X0, X0, X0 \
	VHADDPD      X1, X1, X1 \
	VADDSD       X1, X0, X0

// func sum64AVX2(p *float32, n int) float64
TEXT ·sum64AVX2(SB), NOSPLIT, $0-24
	MOVQ   p+0(FP), SI
	MOVQ   n+8(FP), CX
	VXORPD Y0, Y0, Y0 // sums of values 0-3 of each group of 8
	VXORPD Y1, Y1, Y1 // sums of values 4-7

sumloop:
	VCVTPS2PD (SI), Y2
	VCVTPS2PD 16(SI), Y3
	VADDPD    Y2, Y0, Y0
	VADDPD    Y3, Y1, Y1
	ADDQ      $32, SI
	SUBQ      $8, CX
	JNZ       sumloop
	VADDPD    Y1, Y0, Y0
	HSUM4
	VMOVSD    X0, ret+16(FP)
	VZEROUPPER
	RET

// func sqDev64AVX2(p *float32, n int, mean float64) float64
TEXT ·sqDev64AVX2(SB), NOSPLIT, $0-32
	MOVQ         p+0(FP), SI
	MOVQ         n+8(FP), CX
	VBROADCASTSD mean+16(FP), Y4
	VXORPD       Y0, Y0, Y0
	VXORPD       Y1, Y1, Y1

sqloop:
	VCVTPS2PD (SI), Y2
	VCVTPS2PD 16(SI), Y3
	VSUBPD    Y4, Y2, Y2
	VSUBPD    Y4, Y3, Y3
	VMULPD    Y2, Y2, Y2
	VMULPD    Y3, Y3, Y3
	VADDPD    Y2, Y0, Y0
	VADDPD    Y3, Y1, Y1
	ADDQ      $32, SI
	SUBQ      $8, CX
	JNZ       sqloop
	VADDPD    Y1, Y0, Y0
	HSUM4
	VMOVSD    X0, ret+24(FP)
	VZEROUPPER
	RET

// func normAffineAVX2(dst, src, scale, bias *float32, n int, mean, inv float64)
TEXT ·normAffineAVX2(SB), NOSPLIT, $0-56
	MOVQ         dst+0(FP), DI
	MOVQ         src+8(FP), SI
	MOVQ         scale+16(FP), R8
	MOVQ         bias+24(FP), R9
	MOVQ         n+32(FP), CX
	VBROADCASTSD mean+40(FP), Y4
	VBROADCASTSD inv+48(FP), Y5

normloop:
	VCVTPS2PD   (SI), Y0
	VCVTPS2PD   16(SI), Y1
	VSUBPD      Y4, Y0, Y0
	VSUBPD      Y4, Y1, Y1
	VMULPD      Y5, Y0, Y0
	VMULPD      Y5, Y1, Y1
	VCVTPD2PSY  Y0, X0
	VCVTPD2PSY  Y1, X1
	VINSERTF128 $1, X1, Y0, Y0
	VMULPS      (R8), Y0, Y0
	VADDPS      (R9), Y0, Y0
	VMOVUPS     Y0, (DI)
	ADDQ        $32, SI
	ADDQ        $32, DI
	ADDQ        $32, R8
	ADDQ        $32, R9
	SUBQ        $8, CX
	JNZ         normloop
	VZEROUPPER
	RET
