//go:build !purego

#include "textflag.h"

// Row kernels: whole rows of blocks per call, every constant loaded once before the
// loop. Entering a kernel once per 32-value block made the call and the constant
// broadcasts of its prologue cost more than the block's arithmetic. Each block's
// operations are the per-block kernels' (and so the scalar code's) exactly.

DATA rowc<>+0(SB)/4, $127.0
DATA rowc<>+4(SB)/4, $1.0
DATA rowc<>+8(SB)/4, $-8.0
GLOBL rowc<>(SB), RODATA|NOPTR, $12

// rowperm puts the bytes VPACKUSDW and VPACKUSWB leave lane-interleaved back in order.
DATA rowperm<>+0(SB)/4, $0
DATA rowperm<>+4(SB)/4, $4
DATA rowperm<>+8(SB)/4, $1
DATA rowperm<>+12(SB)/4, $5
DATA rowperm<>+16(SB)/4, $2
DATA rowperm<>+20(SB)/4, $6
DATA rowperm<>+24(SB)/4, $3
DATA rowperm<>+28(SB)/4, $7
GLOBL rowperm<>(SB), RODATA|NOPTR, $32

// ABSMAX4 leaves in X8 lane 0 the bit pattern of the largest of the non-negative
// floats in a, b, c, d (as integers: for non-negative floats the integer order is
// the float order, and a NaN's pattern is above +Inf's). It clobbers Y8, Y9.
#define ABSMAX4(a, b, c, d) \
	VPMAXSD b, a, Y8 \
	VPMAXSD d, c, Y9 \
	VPMAXSD Y9, Y8, Y8 \
	VEXTRACTI128 $1, Y8, X9 \
	VPMAXSD X9, X8, X8 \
	VPSHUFD $0x4E, X8, X9 \
	VPMAXSD X9, X8, X8 \
	VPSHUFD $0xB1, X8, X9 \
	VPMAXSD X9, X8, X8

// func q80RowAVX2(x *float32, y *byte, nb int) int
// Q8_0 for nb blocks (d = amax/127 as binary16, then the 32 low bytes of
// cvtt(roundf(x*id))), stopping before the first block holding a NaN (the C MAX fold
// treats NaN by operand order; the caller runs that block on the scalar code). It
// returns the number of blocks done.
TEXT ·q80RowAVX2(SB), NOSPLIT, $0-32
	MOVQ x+0(FP), SI
	MOVQ y+8(FP), DI
	MOVQ nb+16(FP), CX
	XORQ AX, AX
	MOVL $0x7fffffff, DX
	MOVQ DX, X15
	VPBROADCASTD X15, Y15 // |x| mask
	MOVL $0x3f000000, DX
	MOVQ DX, X14
	VPBROADCASTD X14, Y14 // 0.5
	MOVL $0x3f800000, DX
	MOVQ DX, X13
	VPBROADCASTD X13, Y13 // 1.0
	MOVL $0x80000000, DX
	MOVQ DX, X12
	VPBROADCASTD X12, Y12 // sign bit
	MOVL $0xff, DX
	MOVQ DX, X11
	VPBROADCASTD X11, Y11 // low byte
	VMOVDQU rowperm<>(SB), Y10

// Q8R rounds x*id (id in Y4) as q8RoundAVX2 does and leaves the low bytes in x.
#define Q8R(x) \
	VMULPS x, Y4, Y5 \
	VROUNDPS $3, Y5, Y6 \
	VSUBPS Y6, Y5, Y7 \
	VANDNPS Y7, Y12, Y7 \
	VCMPPS $13, Y14, Y7, Y7 \
	VANDPS Y12, Y5, Y9 \
	VORPS Y13, Y9, Y9 \
	VANDPS Y7, Y9, Y9 \
	VADDPS Y9, Y6, Y6 \
	VCVTTPS2DQ Y6, Y6 \
	VPAND Y11, Y6, x

q80loop:
	CMPQ AX, CX
	JGE q80done
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS 64(SI), Y2
	VMOVUPS 96(SI), Y3
	VANDPS Y15, Y0, Y4
	VANDPS Y15, Y1, Y5
	VANDPS Y15, Y2, Y6
	VANDPS Y15, Y3, Y7
	ABSMAX4(Y4, Y5, Y6, Y7)
	VMOVD X8, DX
	CMPL DX, $0x7f800000
	JA q80done // a NaN
	VDIVSS rowc<>+0(SB), X8, X8 // d = amax / 127
	VDIVSS X8, X13, X4          // 1/d
	VXORPS X5, X5, X5
	VCMPSS $4, X5, X8, X5       // d != 0
	VANDPS X5, X4, X4           // id = d != 0 ? 1/d : 0
	VCVTPS2PH $0, X8, X8
	VMOVD X8, DX
	MOVW DX, (DI)
	VBROADCASTSS X4, Y4
	Q8R(Y0)
	Q8R(Y1)
	Q8R(Y2)
	Q8R(Y3)
	VPACKUSDW Y1, Y0, Y0
	VPACKUSDW Y3, Y2, Y2
	VPACKUSWB Y2, Y0, Y0
	VPERMD Y0, Y10, Y0
	VMOVDQU Y0, 2(DI)
	ADDQ $128, SI
	ADDQ $34, DI
	INCQ AX
	JMP q80loop

q80done:
	MOVQ AX, ret+24(FP)
	VZEROUPPER
	RET

// func q40RowAVX2(x *float32, y *byte, nb int)
// Q4_0 for nb blocks: max is the first value of largest magnitude (NaNs skipped; 0 if
// every magnitude is 0), d = max / -8 as binary16, and the nibbles
// MIN(15, (int8)cvtt(x*id + 8.5)) paired j with j+16.
TEXT ·q40RowAVX2(SB), NOSPLIT, $0-24
	MOVQ x+0(FP), SI
	MOVQ y+8(FP), DI
	MOVQ nb+16(FP), CX
	MOVL $0x7fffffff, DX
	MOVQ DX, X15
	VPBROADCASTD X15, Y15 // |x| mask
	MOVL $0x41080000, DX
	MOVQ DX, X14
	VPBROADCASTD X14, Y14 // 8.5
	MOVL $15, DX
	MOVQ DX, X13
	VPBROADCASTD X13, Y13
	MOVL $0xff, DX
	MOVQ DX, X12
	VPBROADCASTD X12, Y12
	VMOVDQU rowperm<>(SB), Y11
	MOVL $0x7f800000, DX
	MOVQ DX, X10
	VPBROADCASTD X10, Y10 // +Inf: larger patterns are NaNs

// ABSNN leaves |x| in a, 0 where x is NaN.
#define ABSNN(x, a) \
	VPAND Y15, x, a \
	VPCMPGTD Y10, a, Y9 \
	VPANDN a, Y9, a

// Q4N leaves in x the levels MIN(15, (int8)cvtt(x*id + 8.5)), id in Y4.
#define Q4N(x) \
	VMULPS x, Y4, x \
	VADDPS Y14, x, x \
	VCVTTPS2DQ x, x \
	VPSLLD $24, x, x \
	VPSRAD $24, x, x \
	VPMINSD Y13, x, x

q40loop:
	TESTQ CX, CX
	JLE q40done
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS 64(SI), Y2
	VMOVUPS 96(SI), Y3
	ABSNN(Y0, Y4)
	ABSNN(Y1, Y5)
	ABSNN(Y2, Y6)
	ABSNN(Y3, Y7)
	ABSMAX4(Y4, Y5, Y6, Y7)
	VMOVD X8, DX
	VXORPS X9, X9, X9 // max = 0 when every magnitude is 0
	TESTL DX, DX
	JZ q40scale
	// first index holding the largest magnitude
	VPBROADCASTD X8, Y8
	VPCMPEQD Y8, Y4, Y4
	VPCMPEQD Y8, Y5, Y5
	VPCMPEQD Y8, Y6, Y6
	VPCMPEQD Y8, Y7, Y7
	VMOVMSKPS Y4, AX
	VMOVMSKPS Y5, BX
	SHLL $8, BX
	ORL BX, AX
	VMOVMSKPS Y6, BX
	SHLL $16, BX
	ORL BX, AX
	VMOVMSKPS Y7, BX
	SHLL $24, BX
	ORL BX, AX
	BSFL AX, AX
	VMOVSS (SI)(AX*4), X9

q40scale:
	VDIVSS rowc<>+8(SB), X9, X9 // d = max / -8
	VMOVSS rowc<>+4(SB), X5
	VDIVSS X9, X5, X4           // 1/d
	VXORPS X5, X5, X5
	VCMPSS $4, X5, X9, X5       // d != 0 (d is never NaN)
	VANDPS X5, X4, X4
	VCVTPS2PH $0, X9, X9
	VMOVD X9, DX
	MOVW DX, (DI)
	VBROADCASTSS X4, Y4
	Q4N(Y0)
	Q4N(Y1)
	Q4N(Y2)
	Q4N(Y3)
	VPSLLD $4, Y2, Y2
	VPSLLD $4, Y3, Y3
	VPOR Y2, Y0, Y0
	VPOR Y3, Y1, Y1
	VPAND Y12, Y0, Y0
	VPAND Y12, Y1, Y1
	VPACKUSDW Y1, Y0, Y0
	VPACKUSWB Y0, Y0, Y0
	VPERMD Y0, Y11, Y0
	VMOVDQU X0, 2(DI)
	ADDQ $128, SI
	ADDQ $18, DI
	DECQ CX
	JMP q40loop

q40done:
	VZEROUPPER
	RET

// func kLevelsAVX2(x, d, dm *float32, L *byte, nsub, sub int, lo, hi, off int32)
// The k-quants' final levels for nsub sub-blocks of sub values (a multiple of 8):
// L[i] = off + MAX(lo, MIN(hi, nearest_int((x[i] + dm[j]) / d[j]))) for every value i
// of sub-block j whose d[j] != 0 (NaN included); the others are left as they are.
// nearest_int is ggml's: the low 23 bits of f + 1.5*2^23, less 2^22.
TEXT ·kLevelsAVX2(SB), NOSPLIT, $0-60
	MOVQ x+0(FP), SI
	MOVQ d+8(FP), R8
	MOVQ dm+16(FP), R9
	MOVQ L+24(FP), DI
	MOVQ nsub+32(FP), CX
	MOVQ sub+40(FP), R10
	MOVL lo+48(FP), DX
	VMOVD DX, X12
	VPBROADCASTD X12, Y12
	MOVL hi+52(FP), DX
	VMOVD DX, X13
	VPBROADCASTD X13, Y13
	MOVL off+56(FP), DX
	VMOVD DX, X14
	VPBROADCASTD X14, Y14
	MOVL $0x4b400000, DX
	MOVQ DX, X9
	VPBROADCASTD X9, Y9 // 1.5*2^23
	MOVL $0x007fffff, DX
	MOVQ DX, X10
	VPBROADCASTD X10, Y10
	MOVL $0x00400000, DX
	MOVQ DX, X11
	VPBROADCASTD X11, Y11
	VXORPS X15, X15, X15

klsub:
	TESTQ CX, CX
	JLE kldone
	VMOVSS (R8), X1
	VUCOMISS X15, X1
	JNE kldo
	JP kldo
	// d == 0: skip the sub-block
	LEAQ (SI)(R10*4), SI
	ADDQ R10, DI
	JMP klnext

kldo:
	VBROADCASTSS X1, Y1
	VBROADCASTSS (R9), Y2
	MOVQ R10, BX

klval:
	VMOVUPS (SI), Y3
	VADDPS Y2, Y3, Y3
	VDIVPS Y1, Y3, Y3
	VADDPS Y9, Y3, Y3
	VPAND Y10, Y3, Y3
	VPSUBD Y11, Y3, Y3
	VPMINSD Y13, Y3, Y3
	VPMAXSD Y12, Y3, Y3
	VPADDD Y14, Y3, Y3
	VEXTRACTI128 $1, Y3, X4
	VPACKUSDW X4, X3, X3
	VPACKUSWB X3, X3, X3
	VMOVQ X3, (DI)
	ADDQ $32, SI
	ADDQ $8, DI
	SUBQ $8, BX
	JG klval

klnext:
	ADDQ $4, R8
	ADDQ $4, R9
	DECQ CX
	JMP klsub

kldone:
	VZEROUPPER
	RET
