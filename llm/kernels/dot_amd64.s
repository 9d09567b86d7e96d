//go:build amd64 && !purego

#include "textflag.h"

// func dotQ8_0AVX2(row *byte, q *int8, d *float32, nb int) float32
// Per block: the 32 products summed exactly (|w| times y with w's sign, pairs in
// int16 by VPMADDUBSW, which cannot saturate as |w| <= 128 and |y| <= 127, then
// int32), the sum converted to float32 and scaled by d_w*d_a, added in block order.
TEXT ·dotQ8_0AVX2(SB), NOSPLIT, $0-36
	MOVQ row+0(FP), SI
	MOVQ q+8(FP), DI
	MOVQ d+16(FP), DX
	MOVQ nb+24(FP), CX
	VXORPS X0, X0, X0
	MOVL $0x00010001, AX
	VMOVD AX, X7
	VPBROADCASTD X7, Y7
	TESTQ CX, CX
	JEQ q8done

q8loop:
	VMOVDQU 2(SI), Y1
	VMOVDQU (DI), Y2
	VPSIGNB Y1, Y2, Y2
	VPABSB Y1, Y1
	VPMADDUBSW Y2, Y1, Y3
	VPMADDWD Y7, Y3, Y3
	VEXTRACTI128 $1, Y3, X4
	VPADDD X4, X3, X3
	VPSHUFD $0x4E, X3, X4
	VPADDD X4, X3, X3
	VPSHUFD $0xB1, X3, X4
	VPADDD X4, X3, X3
	VCVTDQ2PS X3, X3
	MOVWLZX (SI), AX
	VMOVD AX, X5
	VCVTPH2PS X5, X5
	VMULSS (DX), X5, X5
	VMULSS X5, X3, X3
	VADDSS X3, X0, X0
	ADDQ $34, SI
	ADDQ $32, DI
	ADDQ $4, DX
	DECQ CX
	JNZ q8loop

q8done:
	VZEROUPPER
	MOVSS X0, ret+32(FP)
	RET

// Q4K_HALF multiplies the 32 unsigned values in V with the activation at Y and
// scale S (int16 in memory), adding the eight int32 lane sums to Y1.
#define Q4K_HALF(V, Y, S) \
	VMOVDQU Y, Y5 \
	VPMADDUBSW Y5, V, V \
	VPBROADCASTW S, Y5 \
	VPMADDWD Y5, V, V \
	VPADDD V, Y1, Y1

// func dotQ4KLanesAVX2(row *byte, q *int8, scales *int16, dd *float32, nb int, sums *[8]float32)
TEXT ·dotQ4KLanesAVX2(SB), NOSPLIT, $0-48
	MOVQ row+0(FP), SI
	MOVQ q+8(FP), DI
	MOVQ scales+16(FP), R10
	MOVQ dd+24(FP), DX
	MOVQ nb+32(FP), CX
	MOVQ sums+40(FP), BX
	VMOVUPS (BX), Y0
	MOVL $0x0F0F0F0F, AX
	VMOVD AX, X6
	VPBROADCASTD X6, Y6
	TESTQ CX, CX
	JEQ q4done

q4block:
	VPXOR Y1, Y1, Y1
	LEAQ 16(SI), R8
	MOVQ $4, R9

q4chunk:
	VMOVDQU (R8), Y2
	VPAND Y6, Y2, Y3
	VPSRLW $4, Y2, Y4
	VPAND Y6, Y4, Y4
	Q4K_HALF(Y3, (DI), (R10))
	Q4K_HALF(Y4, 32(DI), 2(R10))
	ADDQ $32, R8
	ADDQ $64, DI
	ADDQ $4, R10
	DECQ R9
	JNZ q4chunk

	VCVTDQ2PS Y1, Y1
	VBROADCASTSS (DX), Y2
	VMULPS Y2, Y1, Y1
	VADDPS Y1, Y0, Y0
	ADDQ $144, SI
	ADDQ $4, DX
	DECQ CX
	JNZ q4block

q4done:
	VMOVUPS Y0, (BX)
	VZEROUPPER
	RET

// Q6K_GROUP multiplies the 32 values in V (unsigned, 0..63, standing for V-32) with
// the activation at Y, lanes 0-3 scaled by the int8 at S0, lanes 4-7 by the one at
// S1, adding to Y1. Y10 holds 32 in every byte.
#define Q6K_GROUP(V, Y, S0, S1) \
	VMOVDQU Y, Y9 \
	VPMADDUBSW Y9, V, V \
	VPMADDUBSW Y9, Y10, Y11 \
	VPSUBW Y11, V, V \
	MOVBQSX S0, AX \
	VMOVD AX, X12 \
	VPBROADCASTW X12, X12 \
	MOVBQSX S1, AX \
	VMOVD AX, X13 \
	VPBROADCASTW X13, X13 \
	VINSERTI128 $1, X13, Y12, Y12 \
	VPMADDWD Y12, V, V \
	VPADDD V, Y1, Y1

// Q6K_HALF decodes and multiplies 128 values: low bits at R8 (64 bytes), high bits
// at R9 (32 bytes), scales at R10 (8 bytes), activation at R12 (128 bytes).
#define Q6K_HALF \
	VMOVDQU (R8), Y2 \
	VMOVDQU 32(R8), Y3 \
	VMOVDQU (R9), Y4 \
	VPAND Y6, Y2, Y5 \
	VPSLLW $4, Y4, Y7 \
	VPAND Y8, Y7, Y7 \
	VPOR Y7, Y5, Y5 \
	Q6K_GROUP(Y5, (R12), (R10), 1(R10)) \
	VPAND Y6, Y3, Y5 \
	VPSLLW $2, Y4, Y7 \
	VPAND Y8, Y7, Y7 \
	VPOR Y7, Y5, Y5 \
	Q6K_GROUP(Y5, 32(R12), 2(R10), 3(R10)) \
	VPSRLW $4, Y2, Y5 \
	VPAND Y6, Y5, Y5 \
	VPAND Y8, Y4, Y7 \
	VPOR Y7, Y5, Y5 \
	Q6K_GROUP(Y5, 64(R12), 4(R10), 5(R10)) \
	VPSRLW $4, Y3, Y5 \
	VPAND Y6, Y5, Y5 \
	VPSRLW $2, Y4, Y7 \
	VPAND Y8, Y7, Y7 \
	VPOR Y7, Y5, Y5 \
	Q6K_GROUP(Y5, 96(R12), 6(R10), 7(R10))

// func dotQ6KLanesAVX2(row *byte, q *int8, dd *float32, nb int, sums *[8]float32)
TEXT ·dotQ6KLanesAVX2(SB), NOSPLIT, $0-40
	MOVQ row+0(FP), SI
	MOVQ q+8(FP), DI
	MOVQ dd+16(FP), DX
	MOVQ nb+24(FP), CX
	MOVQ sums+32(FP), BX
	VMOVUPS (BX), Y0
	MOVL $0x0F0F0F0F, AX
	VMOVD AX, X6
	VPBROADCASTD X6, Y6
	MOVL $0x30303030, AX
	VMOVD AX, X8
	VPBROADCASTD X8, Y8
	MOVL $0x20202020, AX
	VMOVD AX, X10
	VPBROADCASTD X10, Y10
	TESTQ CX, CX
	JEQ q6done

q6block:
	VPXOR Y1, Y1, Y1
	MOVQ SI, R8
	LEAQ 128(SI), R9
	LEAQ 192(SI), R10
	MOVQ DI, R12
	Q6K_HALF
	ADDQ $64, R8
	ADDQ $32, R9
	ADDQ $8, R10
	ADDQ $128, R12
	Q6K_HALF
	VCVTDQ2PS Y1, Y1
	VBROADCASTSS (DX), Y2
	VMULPS Y2, Y1, Y1
	VADDPS Y1, Y0, Y0
	ADDQ $210, SI
	ADDQ $256, DI
	ADDQ $4, DX
	DECQ CX
	JNZ q6block

q6done:
	VMOVUPS Y0, (BX)
	VZEROUPPER
	RET

// func dotQ4_0AVX2(row *byte, q *int8, d *float32, nb int) float32
// As dotQ8_0AVX2, with the block's 16 bytes unpacked: low nibbles are values 0-15,
// high nibbles 16-31, each minus 8.
TEXT ·dotQ4_0AVX2(SB), NOSPLIT, $0-36
	MOVQ row+0(FP), SI
	MOVQ q+8(FP), DI
	MOVQ d+16(FP), DX
	MOVQ nb+24(FP), CX
	VXORPS X0, X0, X0
	MOVL $0x00010001, AX
	VMOVD AX, X7
	VPBROADCASTD X7, Y7
	MOVL $0x0F0F0F0F, AX
	VMOVD AX, X6
	VPBROADCASTD X6, Y6
	MOVL $0x08080808, AX
	VMOVD AX, X8
	VPBROADCASTD X8, Y8
	TESTQ CX, CX
	JEQ q40done

q40loop:
	VMOVDQU 2(SI), X1
	VPSRLW $4, X1, X2
	VINSERTI128 $1, X2, Y1, Y1
	VPAND Y6, Y1, Y1
	VPSUBB Y8, Y1, Y1
	VMOVDQU (DI), Y2
	VPSIGNB Y1, Y2, Y2
	VPABSB Y1, Y1
	VPMADDUBSW Y2, Y1, Y3
	VPMADDWD Y7, Y3, Y3
	VEXTRACTI128 $1, Y3, X4
	VPADDD X4, X3, X3
	VPSHUFD $0x4E, X3, X4
	VPADDD X4, X3, X3
	VPSHUFD $0xB1, X3, X4
	VPADDD X4, X3, X3
	VCVTDQ2PS X3, X3
	MOVWLZX (SI), AX
	VMOVD AX, X5
	VCVTPH2PS X5, X5
	VMULSS (DX), X5, X5
	VMULSS X5, X3, X3
	VADDSS X3, X0, X0
	ADDQ $18, SI
	ADDQ $32, DI
	ADDQ $4, DX
	DECQ CX
	JNZ q40loop

q40done:
	VZEROUPPER
	MOVSS X0, ret+32(FP)
	RET

// func dotIQ4XSAVX2(qs *byte, q *int8, fac *float32, nsub int, table *[16]int8, sum *float32)
// For nsub consecutive sub-blocks of one block (32 values from 16 bytes of 4-bit
// codebook indices each), the exact integer sum of codebook value times activation,
// times the sub-block's fac, added to *sum in order.
TEXT ·dotIQ4XSAVX2(SB), NOSPLIT, $0-48
	MOVQ qs+0(FP), SI
	MOVQ q+8(FP), DI
	MOVQ fac+16(FP), DX
	MOVQ nsub+24(FP), CX
	MOVQ table+32(FP), R8
	MOVQ sum+40(FP), BX
	VMOVSS (BX), X0
	MOVL $0x00010001, AX
	VMOVD AX, X7
	VPBROADCASTD X7, Y7
	MOVL $0x0F0F0F0F, AX
	VMOVD AX, X6
	VPBROADCASTD X6, Y6
	VBROADCASTI128 (R8), Y8
	TESTQ CX, CX
	JEQ iq4done

iq4loop:
	VMOVDQU (SI), X1
	VPSRLW $4, X1, X2
	VINSERTI128 $1, X2, Y1, Y1
	VPAND Y6, Y1, Y1
	VPSHUFB Y1, Y8, Y1
	VMOVDQU (DI), Y2
	VPSIGNB Y1, Y2, Y2
	VPABSB Y1, Y1
	VPMADDUBSW Y2, Y1, Y3
	VPMADDWD Y7, Y3, Y3
	VEXTRACTI128 $1, Y3, X4
	VPADDD X4, X3, X3
	VPSHUFD $0x4E, X3, X4
	VPADDD X4, X3, X3
	VPSHUFD $0xB1, X3, X4
	VPADDD X4, X3, X3
	VCVTDQ2PS X3, X3
	VMULSS (DX), X3, X3
	VADDSS X3, X0, X0
	ADDQ $16, SI
	ADDQ $32, DI
	ADDQ $4, DX
	DECQ CX
	JNZ iq4loop

iq4done:
	VMOVSS X0, (BX)
	VZEROUPPER
	RET

// func dotQ5KLanesAVX2(row *byte, q *int8, scales *int16, dd *float32, nb int, sums *[8]float32)
// As dotQ4KLanesAVX2 with the fifth bit of each value from qh: bit 2c of qh[l] for
// the low nibbles of chunk c, bit 2c+1 for the high ones.
TEXT ·dotQ5KLanesAVX2(SB), NOSPLIT, $0-48
	MOVQ row+0(FP), SI
	MOVQ q+8(FP), DI
	MOVQ scales+16(FP), R10
	MOVQ dd+24(FP), DX
	MOVQ nb+32(FP), CX
	MOVQ sums+40(FP), BX
	VMOVUPS (BX), Y0
	MOVL $0x0F0F0F0F, AX
	VMOVD AX, X6
	VPBROADCASTD X6, Y6
	MOVL $0x10101010, AX
	VMOVD AX, X8
	VPBROADCASTD X8, Y8
	TESTQ CX, CX
	JEQ q5done

q5block:
	VPXOR Y1, Y1, Y1
	VMOVDQU 16(SI), Y9
	LEAQ 48(SI), R8
	MOVQ $4, R9

q5chunk:
	VMOVDQU (R8), Y2
	VPAND Y6, Y2, Y3
	VPSLLW $4, Y9, Y10
	VPAND Y8, Y10, Y10
	VPOR Y10, Y3, Y3
	VPSRLW $4, Y2, Y4
	VPAND Y6, Y4, Y4
	VPSLLW $3, Y9, Y10
	VPAND Y8, Y10, Y10
	VPOR Y10, Y4, Y4
	Q4K_HALF(Y3, (DI), (R10))
	Q4K_HALF(Y4, 32(DI), 2(R10))
	VPSRLW $2, Y9, Y9
	ADDQ $32, R8
	ADDQ $64, DI
	ADDQ $4, R10
	DECQ R9
	JNZ q5chunk

	VCVTDQ2PS Y1, Y1
	VBROADCASTSS (DX), Y2
	VMULPS Y2, Y1, Y1
	VADDPS Y1, Y0, Y0
	ADDQ $176, SI
	ADDQ $4, DX
	DECQ CX
	JNZ q5block

q5done:
	VMOVUPS Y0, (BX)
	VZEROUPPER
	RET

// func dequantQ8_0AVX2(dst *float32, row *byte, nb int)
// dst[32b+i] = float32(q[i]) * d for each block b: one rounding, as the Go decoder.
TEXT ·dequantQ8_0AVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ row+8(FP), SI
	MOVQ nb+16(FP), CX
	TESTQ CX, CX
	JEQ dq8done

dq8loop:
	MOVWLZX (SI), AX
	VMOVD AX, X5
	VCVTPH2PS X5, X5
	VBROADCASTSS X5, Y5
	VPMOVSXBD 2(SI), Y1
	VPMOVSXBD 10(SI), Y2
	VPMOVSXBD 18(SI), Y3
	VPMOVSXBD 26(SI), Y4
	VCVTDQ2PS Y1, Y1
	VCVTDQ2PS Y2, Y2
	VCVTDQ2PS Y3, Y3
	VCVTDQ2PS Y4, Y4
	VMULPS Y5, Y1, Y1
	VMULPS Y5, Y2, Y2
	VMULPS Y5, Y3, Y3
	VMULPS Y5, Y4, Y4
	VMOVUPS Y1, (DI)
	VMOVUPS Y2, 32(DI)
	VMOVUPS Y3, 64(DI)
	VMOVUPS Y4, 96(DI)
	ADDQ $34, SI
	ADDQ $128, DI
	DECQ CX
	JNZ dq8loop

dq8done:
	VZEROUPPER
	RET

// func dequantQ4KAVX2(dst *float32, qs *byte, fac *float32, mins *float32)
// One Q4_K block: its 128 bytes of nibbles at qs, sub-block j (low nibbles of chunk
// j/2 for even j, high for odd) decoded as float32(fac[j]*q) - mins[j].
TEXT ·dequantQ4KAVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ qs+8(FP), SI
	MOVQ fac+16(FP), DX
	MOVQ mins+24(FP), R8
	MOVL $0x0000000F, AX
	VMOVD AX, X6
	VPBROADCASTD X6, Y6
	MOVQ $4, CX

dq4chunk:
	VBROADCASTSS (DX), Y7
	VBROADCASTSS (R8), Y8
	VBROADCASTSS 4(DX), Y9
	VBROADCASTSS 4(R8), Y10
	MOVQ $4, R9

dq4eight:
	VPMOVZXBD (SI), Y1
	VPAND Y6, Y1, Y2
	VPSRLD $4, Y1, Y3
	VCVTDQ2PS Y2, Y2
	VCVTDQ2PS Y3, Y3
	VMULPS Y7, Y2, Y2
	VSUBPS Y8, Y2, Y2
	VMULPS Y9, Y3, Y3
	VSUBPS Y10, Y3, Y3
	VMOVUPS Y2, (DI)
	VMOVUPS Y3, 128(DI)
	ADDQ $8, SI
	ADDQ $32, DI
	DECQ R9
	JNZ dq4eight

	ADDQ $128, DI
	ADDQ $8, DX
	ADDQ $8, R8
	DECQ CX
	JNZ dq4chunk
	VZEROUPPER
	RET

// DQ6_STORE converts the 32 signed bytes in Y5 to float32, the first 16 times the
// factor at F0(DX), the others times the one at F1(DX), and stores them at D0..D3(DI).
#define DQ6_STORE(D0, D1, D2, D3, F0, F1) \
	VBROADCASTSS F0(DX), Y11 \
	VBROADCASTSS F1(DX), Y12 \
	VEXTRACTI128 $1, Y5, X13 \
	VPMOVSXBD X5, Y14 \
	VCVTDQ2PS Y14, Y14 \
	VMULPS Y11, Y14, Y14 \
	VMOVUPS Y14, D0(DI) \
	VPSRLDQ $8, X5, X15 \
	VPMOVSXBD X15, Y14 \
	VCVTDQ2PS Y14, Y14 \
	VMULPS Y11, Y14, Y14 \
	VMOVUPS Y14, D1(DI) \
	VPMOVSXBD X13, Y14 \
	VCVTDQ2PS Y14, Y14 \
	VMULPS Y12, Y14, Y14 \
	VMOVUPS Y14, D2(DI) \
	VPSRLDQ $8, X13, X15 \
	VPMOVSXBD X15, Y14 \
	VCVTDQ2PS Y14, Y14 \
	VMULPS Y12, Y14, Y14 \
	VMOVUPS Y14, D3(DI)

// func dequantQ6KAVX2(dst *float32, blk *byte, fac *float32)
// One Q6_K block: value (6 bits minus 32) times fac[j] for each 16-value sub-block j.
TEXT ·dequantQ6KAVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ blk+8(FP), SI
	MOVQ fac+16(FP), DX
	MOVL $0x0F0F0F0F, AX
	VMOVD AX, X6
	VPBROADCASTD X6, Y6
	MOVL $0x30303030, AX
	VMOVD AX, X8
	VPBROADCASTD X8, Y8
	MOVL $0x20202020, AX
	VMOVD AX, X10
	VPBROADCASTD X10, Y10
	MOVQ SI, R8
	LEAQ 128(SI), R9
	MOVQ $2, CX

dq6half:
	VMOVDQU (R8), Y2
	VMOVDQU 32(R8), Y3
	VMOVDQU (R9), Y4
	VPAND Y6, Y2, Y5
	VPSLLW $4, Y4, Y7
	VPAND Y8, Y7, Y7
	VPOR Y7, Y5, Y5
	VPSUBB Y10, Y5, Y5
	DQ6_STORE(0, 32, 64, 96, 0, 4)
	VPAND Y6, Y3, Y5
	VPSLLW $2, Y4, Y7
	VPAND Y8, Y7, Y7
	VPOR Y7, Y5, Y5
	VPSUBB Y10, Y5, Y5
	DQ6_STORE(128, 160, 192, 224, 8, 12)
	VPSRLW $4, Y2, Y5
	VPAND Y6, Y5, Y5
	VPAND Y8, Y4, Y7
	VPOR Y7, Y5, Y5
	VPSUBB Y10, Y5, Y5
	DQ6_STORE(256, 288, 320, 352, 16, 20)
	VPSRLW $4, Y3, Y5
	VPAND Y6, Y5, Y5
	VPSRLW $2, Y4, Y7
	VPAND Y8, Y7, Y7
	VPOR Y7, Y5, Y5
	VPSUBB Y10, Y5, Y5
	DQ6_STORE(384, 416, 448, 480, 24, 28)
	ADDQ $64, R8
	ADDQ $32, R9
	ADDQ $512, DI
	ADDQ $32, DX
	DECQ CX
	JNZ dq6half
	VZEROUPPER
	RET
