//go:build !purego

#include "textflag.h"

// func castStatsAVX2(a *float32, h *byte, n int, bf16 bool, acc *simdAcc) int
// Folds a[i] (the source values) and the half-precision values at h (binary16, or
// bfloat16 when bf16) into acc, 8 at a time, in float64 as floatStats.add does:
// lane maxima of |x-y|, and the sums x*y, x*x, y*y. It stops before the first group
// of 8 that holds an Inf or NaN on either side, or where |x-y| > maxRel*max(|x|,1e-30)
// in some lane (a new maximum relative error): the caller handles that group in Go.
// n is a multiple of 8; it returns the count folded.
TEXT ·castStatsAVX2(SB), NOSPLIT, $0-48
	MOVQ a+0(FP), SI
	MOVQ h+8(FP), DI
	MOVQ n+16(FP), CX
	MOVBQZX bf16+24(FP), R8
	MOVQ acc+32(FP), DX
	XORQ AX, AX
	VMOVUPD 0(DX), Y10
	VMOVUPD 32(DX), Y11
	VMOVUPD 64(DX), Y12
	VMOVUPD 96(DX), Y13
	VBROADCASTSD 128(DX), Y15
	MOVL $0x7fffffff, R9
	MOVQ R9, X0
	VPBROADCASTD X0, Y0
	MOVL $0x7f7fffff, R10
	MOVQ $0x7fffffffffffffff, R9
	MOVQ R9, X2
	VPBROADCASTQ X2, Y2
	MOVQ $0x39b4484bfeebc2a0, R9
	MOVQ R9, X3
	VPBROADCASTQ X3, Y3

loop:
	CMPQ AX, CX
	JGE done
	MOVQ R10, X1
	VPBROADCASTD X1, Y1
	VMOVUPS (SI)(AX*4), Y4
	TESTQ R8, R8
	JNZ bf
	VMOVDQU (DI)(AX*2), X5
	VCVTPH2PS X5, Y5
	JMP conv

bf:
	VPMOVZXWD (DI)(AX*2), Y5
	VPSLLD $16, Y5, Y5

conv:
	// Any Inf or NaN on either side: leave the group to Go.
	VPAND Y0, Y4, Y6
	VPCMPGTD Y1, Y6, Y6
	VPAND Y0, Y5, Y7
	VPCMPGTD Y1, Y7, Y7
	VPOR Y6, Y7, Y6
	VPMOVMSKB Y6, R9
	TESTL R9, R9
	JNZ done

	VCVTPS2PD X4, Y6
	VCVTPS2PD X5, Y7
	VEXTRACTF128 $1, Y4, X4
	VCVTPS2PD X4, Y8
	VEXTRACTF128 $1, Y5, X5
	VCVTPS2PD X5, Y9
	VSUBPD Y7, Y6, Y4
	VANDPD Y2, Y4, Y4
	VSUBPD Y9, Y8, Y5
	VANDPD Y2, Y5, Y5

	// A possible new maximum relative error: leave the group to Go.
	VANDPD Y2, Y6, Y1
	VMAXPD Y3, Y1, Y1
	VMULPD Y15, Y1, Y1
	VCMPPD $0x1e, Y1, Y4, Y1
	VMOVMSKPD Y1, R9
	VANDPD Y2, Y8, Y1
	VMAXPD Y3, Y1, Y1
	VMULPD Y15, Y1, Y1
	VCMPPD $0x1e, Y1, Y5, Y1
	VMOVMSKPD Y1, R11
	ORL R11, R9
	TESTL R9, R9
	JNZ done

	VMAXPD Y4, Y10, Y10
	VMAXPD Y5, Y10, Y10
	VFMADD231PD Y7, Y6, Y11
	VFMADD231PD Y9, Y8, Y11
	VFMADD231PD Y6, Y6, Y12
	VFMADD231PD Y8, Y8, Y12
	VFMADD231PD Y7, Y7, Y13
	VFMADD231PD Y9, Y9, Y13
	ADDQ $8, AX
	JMP loop

done:
	VMOVUPD Y10, 0(DX)
	VMOVUPD Y11, 32(DX)
	VMOVUPD Y12, 64(DX)
	VMOVUPD Y13, 96(DX)
	MOVQ AX, ret+40(FP)
	VZEROUPPER
	RET
