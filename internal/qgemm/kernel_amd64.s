//go:build amd64 && !purego

#include "textflag.h"

// One row of the VNNI tile: broadcast four bytes of A, two VPDPBUSD into the row's
// accumulators (B's two 16-column vectors are in Z16 and Z17).
#define VNNIROW(off, t, lo, hi) \
	VPBROADCASTD off(AX), t \
	VPDPBUSD Z16, t, lo \
	VPDPBUSD Z17, t, hi

#define VNNISTORE(lo, hi) \
	VMOVDQU32 lo, (DI) \
	VMOVDQU32 hi, 64(DI) \
	ADDQ DX, DI

// func kernelVNNI(kg int, a *byte, b *int8, c *int32, ldc int, init *int32)
TEXT ·kernelVNNI(SB), NOSPLIT, $0-48
	MOVQ kg+0(FP), CX
	MOVQ a+8(FP), AX
	MOVQ b+16(FP), BX
	MOVQ c+24(FP), DI
	MOVQ ldc+32(FP), DX
	SHLQ $2, DX
	MOVQ init+40(FP), R9
	VMOVDQU32 (R9), Z0
	VMOVDQU32 64(R9), Z1
	VMOVDQA32 Z0, Z2
	VMOVDQA32 Z1, Z3
	VMOVDQA32 Z0, Z4
	VMOVDQA32 Z1, Z5
	VMOVDQA32 Z0, Z6
	VMOVDQA32 Z1, Z7
	VMOVDQA32 Z0, Z8
	VMOVDQA32 Z1, Z9
	VMOVDQA32 Z0, Z10
	VMOVDQA32 Z1, Z11
	VMOVDQA32 Z0, Z12
	VMOVDQA32 Z1, Z13
	VMOVDQA32 Z0, Z14
	VMOVDQA32 Z1, Z15
	TESTQ CX, CX
	JZ vnnistore

vnniloop:
	VMOVDQU32 (BX), Z16
	VMOVDQU32 64(BX), Z17
	VNNIROW(0, Z18, Z0, Z1)
	VNNIROW(4, Z19, Z2, Z3)
	VNNIROW(8, Z20, Z4, Z5)
	VNNIROW(12, Z21, Z6, Z7)
	VNNIROW(16, Z22, Z8, Z9)
	VNNIROW(20, Z23, Z10, Z11)
	VNNIROW(24, Z24, Z12, Z13)
	VNNIROW(28, Z25, Z14, Z15)
	ADDQ $32, AX
	ADDQ $128, BX
	DECQ CX
	JNZ vnniloop

vnnistore:
	VNNISTORE(Z0, Z1)
	VNNISTORE(Z2, Z3)
	VNNISTORE(Z4, Z5)
	VNNISTORE(Z6, Z7)
	VNNISTORE(Z8, Z9)
	VNNISTORE(Z10, Z11)
	VNNISTORE(Z12, Z13)
	VNNISTORE(Z14, Z15)
	VZEROUPPER
	RET

// The same for int8 A and uint8 B: VPDPBUSD takes B as its unsigned operand.
#define VNNIROWSU(off, t, lo, hi) \
	VPBROADCASTD off(AX), t \
	VPDPBUSD t, Z16, lo \
	VPDPBUSD t, Z17, hi

#define VNNISTORESU(lo, hi) \
	VMOVDQU32 lo, (DI) \
	VMOVDQU32 hi, 64(DI) \
	ADDQ DX, DI

// func kernelVNNISU(kg int, a *byte, b *int8, c *int32, ldc int, init *int32)
TEXT ·kernelVNNISU(SB), NOSPLIT, $0-48
	MOVQ kg+0(FP), CX
	MOVQ a+8(FP), AX
	MOVQ b+16(FP), BX
	MOVQ c+24(FP), DI
	MOVQ ldc+32(FP), DX
	SHLQ $2, DX
	MOVQ init+40(FP), R9
	VMOVDQU32 (R9), Z0
	VMOVDQU32 64(R9), Z1
	VMOVDQA32 Z0, Z2
	VMOVDQA32 Z1, Z3
	VMOVDQA32 Z0, Z4
	VMOVDQA32 Z1, Z5
	VMOVDQA32 Z0, Z6
	VMOVDQA32 Z1, Z7
	VMOVDQA32 Z0, Z8
	VMOVDQA32 Z1, Z9
	VMOVDQA32 Z0, Z10
	VMOVDQA32 Z1, Z11
	VMOVDQA32 Z0, Z12
	VMOVDQA32 Z1, Z13
	VMOVDQA32 Z0, Z14
	VMOVDQA32 Z1, Z15
	TESTQ CX, CX
	JZ vnnisustore

vnnisuloop:
	VMOVDQU32 (BX), Z16
	VMOVDQU32 64(BX), Z17
	VNNIROWSU(0, Z18, Z0, Z1)
	VNNIROWSU(4, Z19, Z2, Z3)
	VNNIROWSU(8, Z20, Z4, Z5)
	VNNIROWSU(12, Z21, Z6, Z7)
	VNNIROWSU(16, Z22, Z8, Z9)
	VNNIROWSU(20, Z23, Z10, Z11)
	VNNIROWSU(24, Z24, Z12, Z13)
	VNNIROWSU(28, Z25, Z14, Z15)
	ADDQ $32, AX
	ADDQ $128, BX
	DECQ CX
	JNZ vnnisuloop

vnnisustore:
	VNNISTORESU(Z0, Z1)
	VNNISTORESU(Z2, Z3)
	VNNISTORESU(Z4, Z5)
	VNNISTORESU(Z6, Z7)
	VNNISTORESU(Z8, Z9)
	VNNISTORESU(Z10, Z11)
	VNNISTORESU(Z12, Z13)
	VNNISTORESU(Z14, Z15)
	VZEROUPPER
	RET


// One row of an AVX2 4x8 sub-tile: A's four bytes zero-extended to int16 and
// repeated, times the sign-extended B columns (Y8: columns 0-3, Y9: 4-7, four k
// steps each); VPMADDWD adds the products in pairs into int32, so each column
// accumulates two partial sums, added by VPHADDD at the end.
#define AVX2ROW(off, lo, hi) \
	VPBROADCASTD off(SI), X10 \
	VPMOVZXBW X10, Y10 \
	VPMADDWD Y8, Y10, Y11 \
	VPADDD Y11, lo, lo \
	VPMADDWD Y9, Y10, Y12 \
	VPADDD Y12, hi, hi

// Finish one row of a sub-tile: pair sums to column sums, in column order.
#define AVX2STORE(lo, hi) \
	VPHADDD hi, lo, Y10 \
	VPERMQ $0xD8, Y10, Y10 \
	VPADDD (R14)(R12*1), Y10, Y10 \
	VMOVDQU Y10, (R13) \
	ADDQ DX, R13

// func kernelAVX2(kg int, a *byte, b *int8, c *int32, ldc int, init *int32)
TEXT ·kernelAVX2(SB), NOSPLIT, $0-48
	MOVQ init+40(FP), R14
	MOVQ kg+0(FP), CX
	MOVQ a+8(FP), AX
	MOVQ b+16(FP), BX
	MOVQ c+24(FP), DI
	MOVQ ldc+32(FP), DX
	SHLQ $2, DX
	XORQ R11, R11 // row half: rows 4*R11 .. 4*R11+3

avx2half:
	XORQ R12, R12 // byte offset of the 8-column quarter in a B group: 0, 32, 64, 96

avx2quarter:
	VPXOR Y0, Y0, Y0
	VPXOR Y1, Y1, Y1
	VPXOR Y2, Y2, Y2
	VPXOR Y3, Y3, Y3
	VPXOR Y4, Y4, Y4
	VPXOR Y5, Y5, Y5
	VPXOR Y6, Y6, Y6
	VPXOR Y7, Y7, Y7
	MOVQ R11, R13
	SHLQ $4, R13
	LEAQ (AX)(R13*1), SI
	LEAQ (BX)(R12*1), R8
	MOVQ CX, R9
	TESTQ R9, R9
	JZ avx2done

avx2loop:
	VPMOVSXBW (R8), Y8
	VPMOVSXBW 16(R8), Y9
	AVX2ROW(0, Y0, Y1)
	AVX2ROW(4, Y2, Y3)
	AVX2ROW(8, Y4, Y5)
	AVX2ROW(12, Y6, Y7)
	ADDQ $32, SI
	ADDQ $128, R8
	DECQ R9
	JNZ avx2loop

avx2done:
	// R13 = c + 4*R11 rows + the quarter's columns (R12 bytes: 8 int32 per 32 bytes of B)
	MOVQ R11, R13
	SHLQ $2, R13
	IMULQ DX, R13
	ADDQ DI, R13
	ADDQ R12, R13
	AVX2STORE(Y0, Y1)
	AVX2STORE(Y2, Y3)
	AVX2STORE(Y4, Y5)
	AVX2STORE(Y6, Y7)
	ADDQ $32, R12
	CMPQ R12, $128
	JLT avx2quarter
	INCQ R11
	CMPQ R11, $2
	JLT avx2half
	VZEROUPPER
	RET

// The same for int8 A (sign-extended) and uint8 B (zero-extended).
#define AVX2ROWSU(off, lo, hi) \
	VPBROADCASTD off(SI), X10 \
	VPMOVSXBW X10, Y10 \
	VPMADDWD Y8, Y10, Y11 \
	VPADDD Y11, lo, lo \
	VPMADDWD Y9, Y10, Y12 \
	VPADDD Y12, hi, hi

// Finish one row of a sub-tile: pair sums to column sums, in column order.
#define AVX2STORESU(lo, hi) \
	VPHADDD hi, lo, Y10 \
	VPERMQ $0xD8, Y10, Y10 \
	VPADDD (R14)(R12*1), Y10, Y10 \
	VMOVDQU Y10, (R13) \
	ADDQ DX, R13

// func kernelAVX2SU(kg int, a *byte, b *int8, c *int32, ldc int, init *int32)
TEXT ·kernelAVX2SU(SB), NOSPLIT, $0-48
	MOVQ init+40(FP), R14
	MOVQ kg+0(FP), CX
	MOVQ a+8(FP), AX
	MOVQ b+16(FP), BX
	MOVQ c+24(FP), DI
	MOVQ ldc+32(FP), DX
	SHLQ $2, DX
	XORQ R11, R11 // row half: rows 4*R11 .. 4*R11+3

avx2halfsu:
	XORQ R12, R12 // byte offset of the 8-column quarter in a B group: 0, 32, 64, 96

avx2quartersu:
	VPXOR Y0, Y0, Y0
	VPXOR Y1, Y1, Y1
	VPXOR Y2, Y2, Y2
	VPXOR Y3, Y3, Y3
	VPXOR Y4, Y4, Y4
	VPXOR Y5, Y5, Y5
	VPXOR Y6, Y6, Y6
	VPXOR Y7, Y7, Y7
	MOVQ R11, R13
	SHLQ $4, R13
	LEAQ (AX)(R13*1), SI
	LEAQ (BX)(R12*1), R8
	MOVQ CX, R9
	TESTQ R9, R9
	JZ avx2donesu

avx2loopsu:
	VPMOVZXBW (R8), Y8
	VPMOVZXBW 16(R8), Y9
	AVX2ROWSU(0, Y0, Y1)
	AVX2ROWSU(4, Y2, Y3)
	AVX2ROWSU(8, Y4, Y5)
	AVX2ROWSU(12, Y6, Y7)
	ADDQ $32, SI
	ADDQ $128, R8
	DECQ R9
	JNZ avx2loopsu

avx2donesu:
	// R13 = c + 4*R11 rows + the quarter's columns (R12 bytes: 8 int32 per 32 bytes of B)
	MOVQ R11, R13
	SHLQ $2, R13
	IMULQ DX, R13
	ADDQ DI, R13
	ADDQ R12, R13
	AVX2STORESU(Y0, Y1)
	AVX2STORESU(Y2, Y3)
	AVX2STORESU(Y4, Y5)
	AVX2STORESU(Y6, Y7)
	ADDQ $32, R12
	CMPQ R12, $128
	JLT avx2quartersu
	INCQ R11
	CMPQ R11, $2
	JLT avx2halfsu
	VZEROUPPER
	RET

// func kernelVNNIOffs(kg int, a, b *byte, offs *int, c *int32, ldc int, init *int32)
TEXT ·kernelVNNIOffs(SB), NOSPLIT, $0-56
	MOVQ kg+0(FP), CX
	MOVQ a+8(FP), AX
	MOVQ b+16(FP), BX
	MOVQ offs+24(FP), SI
	MOVQ c+32(FP), DI
	MOVQ ldc+40(FP), DX
	SHLQ $2, DX
	MOVQ init+48(FP), R9
	VMOVDQU32 (R9), Z0
	VMOVDQU32 64(R9), Z1
	VMOVDQA32 Z0, Z2
	VMOVDQA32 Z1, Z3
	VMOVDQA32 Z0, Z4
	VMOVDQA32 Z1, Z5
	VMOVDQA32 Z0, Z6
	VMOVDQA32 Z1, Z7
	VMOVDQA32 Z0, Z8
	VMOVDQA32 Z1, Z9
	VMOVDQA32 Z0, Z10
	VMOVDQA32 Z1, Z11
	VMOVDQA32 Z0, Z12
	VMOVDQA32 Z1, Z13
	VMOVDQA32 Z0, Z14
	VMOVDQA32 Z1, Z15
	TESTQ CX, CX
	JZ vnnioffsstore

vnnioffsloop:
	MOVQ (SI), R8
	VMOVDQU32 (BX)(R8*1), Z16
	VMOVDQU32 64(BX)(R8*1), Z17
	VNNIROWSU(0, Z18, Z0, Z1)
	VNNIROWSU(4, Z19, Z2, Z3)
	VNNIROWSU(8, Z20, Z4, Z5)
	VNNIROWSU(12, Z21, Z6, Z7)
	VNNIROWSU(16, Z22, Z8, Z9)
	VNNIROWSU(20, Z23, Z10, Z11)
	VNNIROWSU(24, Z24, Z12, Z13)
	VNNIROWSU(28, Z25, Z14, Z15)
	ADDQ $32, AX
	ADDQ $8, SI
	DECQ CX
	JNZ vnnioffsloop

vnnioffsstore:
	VNNISTORESU(Z0, Z1)
	VNNISTORESU(Z2, Z3)
	VNNISTORESU(Z4, Z5)
	VNNISTORESU(Z6, Z7)
	VNNISTORESU(Z8, Z9)
	VNNISTORESU(Z10, Z11)
	VNNISTORESU(Z12, Z13)
	VNNISTORESU(Z14, Z15)
	VZEROUPPER
	RET

// func kernelAVX2Offs(kg int, a, b *byte, offs *int, c *int32, ldc int, init *int32)
TEXT ·kernelAVX2Offs(SB), NOSPLIT, $0-56
	MOVQ init+48(FP), R14
	MOVQ kg+0(FP), CX
	MOVQ a+8(FP), AX
	MOVQ b+16(FP), BX
	MOVQ offs+24(FP), R10
	MOVQ c+32(FP), DI
	MOVQ ldc+40(FP), DX
	SHLQ $2, DX
	XORQ R11, R11 // row half: rows 4*R11 .. 4*R11+3

avx2halfoffs:
	XORQ R12, R12 // byte offset of the 8-column quarter in a B group: 0, 32, 64, 96

avx2quarteroffs:
	VPXOR Y0, Y0, Y0
	VPXOR Y1, Y1, Y1
	VPXOR Y2, Y2, Y2
	VPXOR Y3, Y3, Y3
	VPXOR Y4, Y4, Y4
	VPXOR Y5, Y5, Y5
	VPXOR Y6, Y6, Y6
	VPXOR Y7, Y7, Y7
	MOVQ R11, R13
	SHLQ $4, R13
	LEAQ (AX)(R13*1), SI
	LEAQ (BX)(R12*1), R13 // B at the quarter's first column
	MOVQ R10, R8          // next group's offset
	MOVQ CX, R9
	TESTQ R9, R9
	JZ avx2doneoffs

avx2loopoffs:
	MOVQ (R8), R15
	VPMOVZXBW (R13)(R15*1), Y8
	VPMOVZXBW 16(R13)(R15*1), Y9
	AVX2ROWSU(0, Y0, Y1)
	AVX2ROWSU(4, Y2, Y3)
	AVX2ROWSU(8, Y4, Y5)
	AVX2ROWSU(12, Y6, Y7)
	ADDQ $32, SI
	ADDQ $8, R8
	DECQ R9
	JNZ avx2loopoffs

avx2doneoffs:
	// R13 = c + 4*R11 rows + the quarter's columns (R12 bytes: 8 int32 per 32 bytes of B)
	MOVQ R11, R13
	SHLQ $2, R13
	IMULQ DX, R13
	ADDQ DI, R13
	ADDQ R12, R13
	AVX2STORESU(Y0, Y1)
	AVX2STORESU(Y2, Y3)
	AVX2STORESU(Y4, Y5)
	AVX2STORESU(Y6, Y7)
	ADDQ $32, R12
	CMPQ R12, $128
	JLT avx2quarteroffs
	INCQ R11
	CMPQ R11, $2
	JLT avx2halfoffs
	VZEROUPPER
	RET
