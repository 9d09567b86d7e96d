//go:build amd64 && !purego

#include "textflag.h"

// TRANSPOSE8 transposes the 8x8 block in Y0..Y7 (row i in Yi) into Y8..Y15 (column
// j in Y8+j), using Y0..Y7 as scratch.
#define TRANSPOSE8 \
	VUNPCKLPS Y1, Y0, Y8 \ // a0 b0 a1 b1 | a4 b4 a5 b5
	VUNPCKHPS Y1, Y0, Y9 \ // a2 b2 a3 b3 | a6 b6 a7 b7
	VUNPCKLPS Y3, Y2, Y10 \
	VUNPCKHPS Y3, Y2, Y11 \
	VUNPCKLPS Y5, Y4, Y12 \
	VUNPCKHPS Y5, Y4, Y13 \
	VUNPCKLPS Y7, Y6, Y14 \
	VUNPCKHPS Y7, Y6, Y15 \
	VSHUFPS $0x44, Y10, Y8, Y0 \ // a0 b0 c0 d0 | a4 b4 c4 d4
	VSHUFPS $0xEE, Y10, Y8, Y1 \ // a1 b1 c1 d1 | a5 ...
	VSHUFPS $0x44, Y11, Y9, Y2 \ // a2 ...      | a6 ...
	VSHUFPS $0xEE, Y11, Y9, Y3 \ // a3 ...      | a7 ...
	VSHUFPS $0x44, Y14, Y12, Y4 \ // e0 f0 g0 h0 | e4 ...
	VSHUFPS $0xEE, Y14, Y12, Y5 \
	VSHUFPS $0x44, Y15, Y13, Y6 \
	VSHUFPS $0xEE, Y15, Y13, Y7 \
	VPERM2F128 $0x20, Y4, Y0, Y8 \ // column 0
	VPERM2F128 $0x20, Y5, Y1, Y9 \
	VPERM2F128 $0x20, Y6, Y2, Y10 \
	VPERM2F128 $0x20, Y7, Y3, Y11 \
	VPERM2F128 $0x31, Y4, Y0, Y12 \ // column 4
	VPERM2F128 $0x31, Y5, Y1, Y13 \
	VPERM2F128 $0x31, Y6, Y2, Y14 \
	VPERM2F128 $0x31, Y7, Y3, Y15

// LOAD8 loads eight columns of eight rows: rows 0-4 from base r0, rows 5-7 from r5
// (= r0 + 5*lda), at byte offset off; DX is lda and CX 3*lda in bytes.
#define LOAD8(r0, r5, off) \
	VMOVUPS (r0)(off*1), Y0 \
	LEAQ (r0)(DX*1), R13 \
	VMOVUPS (R13)(off*1), Y1 \
	LEAQ (r0)(DX*2), R13 \
	VMOVUPS (R13)(off*1), Y2 \
	LEAQ (r0)(CX*1), R13 \
	VMOVUPS (R13)(off*1), Y3 \
	LEAQ (r0)(DX*4), R13 \
	VMOVUPS (R13)(off*1), Y4 \
	VMOVUPS (r5)(off*1), Y5 \
	LEAQ (r5)(DX*1), R13 \
	VMOVUPS (R13)(off*1), Y6 \
	LEAQ (r5)(DX*2), R13 \
	VMOVUPS (R13)(off*1), Y7

// STORE8 stores columns Y8..Y15 at dst+disp, 64 bytes apart (one 16-wide k step each).
#define STORE8(dst, disp) \
	VMOVUPS Y8, (disp+0)(dst) \
	VMOVUPS Y9, (disp+64)(dst) \
	VMOVUPS Y10, (disp+128)(dst) \
	VMOVUPS Y11, (disp+192)(dst) \
	VMOVUPS Y12, (disp+256)(dst) \
	VMOVUPS Y13, (disp+320)(dst) \
	VMOVUPS Y14, (disp+384)(dst) \
	VMOVUPS Y15, (disp+448)(dst)

// func packA16AVX2(dst, src *float32, lda, k8 int)
TEXT ·packA16AVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ lda+16(FP), DX
	MOVQ k8+24(FP), BX
	SHLQ $2, DX              // lda in bytes
	LEAQ (DX)(DX*2), CX      // 3*lda
	LEAQ (SI)(DX*4), R8
	ADDQ DX, R8              // row 5
	LEAQ (SI)(DX*8), R9      // row 8
	LEAQ (R8)(DX*8), R10     // row 13
	XORQ AX, AX              // byte offset along the rows
	SHRQ $3, BX              // 8-column blocks

loop:
	LOAD8(SI, R8, AX)
	TRANSPOSE8
	STORE8(DI, 0)
	LOAD8(R9, R10, AX)
	TRANSPOSE8
	STORE8(DI, 32)
	ADDQ $32, AX
	ADDQ $512, DI
	DECQ BX
	JNZ  loop
	VZEROUPPER
	RET
