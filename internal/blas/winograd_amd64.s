//go:build !purego

#include "textflag.h"

// Winograd F(4x4, 3x3) transforms of sixteen tiles at once, one tile per lane of a
// ZMM register (see winograd.go).

// BT6 applies Bt of F(4x4, 3x3) to Z0..Z5, into Z6..Z11 (Z12..Z14 temporaries;
// Z28 = 2, Z29 = 5, Z30 = 4).
#define BT6 \
	VMOVAPS      Z4, Z6       \
	VFMADD231PS  Z30, Z0, Z6  \
	VFNMADD231PS Z29, Z2, Z6  \
	VADDPS       Z2, Z1, Z12  \
	VADDPS       Z4, Z3, Z7   \
	VFNMADD231PS Z30, Z12, Z7 \
	VSUBPS       Z2, Z1, Z13  \
	VSUBPS       Z3, Z4, Z8   \
	VFMADD231PS  Z30, Z13, Z8 \
	VSUBPS       Z1, Z3, Z14  \
	VSUBPS       Z2, Z4, Z9   \
	VMOVAPS      Z9, Z10      \
	VFMADD231PS  Z28, Z14, Z9 \
	VFNMADD231PS Z28, Z14, Z10 \
	VMOVAPS      Z5, Z11      \
	VFMADD231PS  Z30, Z1, Z11 \
	VFNMADD231PS Z29, Z3, Z11

// AT6 applies At of F(4x4, 3x3) to Z0..Z5, into Z6..Z9 (Z12..Z15 temporaries;
// Z27 = 8, Z28 = 2, Z30 = 4).
#define AT6 \
	VADDPS      Z2, Z1, Z12  \
	VSUBPS      Z2, Z1, Z13  \
	VADDPS      Z4, Z3, Z14  \
	VSUBPS      Z4, Z3, Z15  \
	VADDPS      Z12, Z0, Z6  \
	VADDPS      Z14, Z6, Z6  \
	VMOVAPS     Z13, Z7      \
	VFMADD231PS Z28, Z15, Z7 \
	VMOVAPS     Z12, Z8      \
	VFMADD231PS Z30, Z14, Z8 \
	VADDPS      Z5, Z13, Z9  \
	VFMADD231PS Z27, Z15, Z9

#define CONSTS \
	MOVL         $0x40000000, AX \
	VPBROADCASTD AX, Z28         \
	MOVL         $0x40a00000, AX \
	VPBROADCASTD AX, Z29         \
	MOVL         $0x40800000, AX \
	VPBROADCASTD AX, Z30         \
	MOVL         $0x41000000, AX \
	VPBROADCASTD AX, Z27

// PAIRS gathers the two columns disp/4 and disp/4+1 of the current row of all
// sixteen tiles as float pairs (eight 64-bit elements per gather: half the
// elements of two 32-bit gathers) and splits them into even and odd.
#define PAIRS(disp, even, odd) \
	KXNORW      K1, K1, K1 \
	VGATHERDPD  disp(SI)(Y31*4), K1, Z16 \
	KXNORW      K2, K2, K2 \
	VGATHERDPD  disp(SI)(Y22*4), K2, Z17 \
	VMOVAPS     Z16, even \
	VPERMT2PS   Z17, Z24, even \
	VMOVAPS     Z16, odd \
	VPERMT2PS   Z17, Z23, odd

DATA wgEven<>+0(SB)/4, $0
DATA wgEven<>+4(SB)/4, $2
DATA wgEven<>+8(SB)/4, $4
DATA wgEven<>+12(SB)/4, $6
DATA wgEven<>+16(SB)/4, $8
DATA wgEven<>+20(SB)/4, $10
DATA wgEven<>+24(SB)/4, $12
DATA wgEven<>+28(SB)/4, $14
DATA wgEven<>+32(SB)/4, $16
DATA wgEven<>+36(SB)/4, $18
DATA wgEven<>+40(SB)/4, $20
DATA wgEven<>+44(SB)/4, $22
DATA wgEven<>+48(SB)/4, $24
DATA wgEven<>+52(SB)/4, $26
DATA wgEven<>+56(SB)/4, $28
DATA wgEven<>+60(SB)/4, $30
GLOBL wgEven<>(SB), RODATA|NOPTR, $64

// func winogradIn4AVX512(src *float32, offs *[16]int32, wp int, dst *float32, stride int, tmp *[36][16]float32)
TEXT ·winogradIn4AVX512(SB), NOSPLIT, $0-48
	MOVQ      src+0(FP), SI
	MOVQ      offs+8(FP), AX
	VMOVDQU32 (AX), Z31
	VEXTRACTI64X4 $1, Z31, Y22
	VMOVDQU32 wgEven<>(SB), Z24
	MOVL      $1, AX
	VPBROADCASTD AX, Z23
	VPADDD    Z23, Z24, Z23 // odd indices
	MOVQ      wp+16(FP), BX
	SHLQ      $2, BX
	MOVQ      dst+24(FP), DI
	MOVQ      stride+32(FP), DX
	SHLQ      $2, DX
	MOVQ      tmp+40(FP), R8
	CONSTS
	MOVQ      $6, CX

inRows:
	PAIRS(0, Z0, Z1)
	PAIRS(8, Z2, Z3)
	PAIRS(16, Z4, Z5)
	BT6
	VMOVUPS Z6, (R8)
	VMOVUPS Z7, 64(R8)
	VMOVUPS Z8, 128(R8)
	VMOVUPS Z9, 192(R8)
	VMOVUPS Z10, 256(R8)
	VMOVUPS Z11, 320(R8)
	ADDQ    BX, SI
	ADDQ    $384, R8
	DECQ    CX
	JNZ     inRows

	// Columns: element (i, j) of the result is matrix i*6+j of dst.
	MOVQ tmp+40(FP), R8
	MOVQ DX, R9
	IMULQ $6, R9 // 6 matrices
	MOVQ $6, CX

inCols:
	VMOVUPS (R8), Z0
	VMOVUPS 384(R8), Z1
	VMOVUPS 768(R8), Z2
	VMOVUPS 1152(R8), Z3
	VMOVUPS 1536(R8), Z4
	VMOVUPS 1920(R8), Z5
	BT6
	MOVQ    DI, R10
	VMOVUPS Z6, (R10)
	ADDQ    R9, R10
	VMOVUPS Z7, (R10)
	ADDQ    R9, R10
	VMOVUPS Z8, (R10)
	ADDQ    R9, R10
	VMOVUPS Z9, (R10)
	ADDQ    R9, R10
	VMOVUPS Z10, (R10)
	ADDQ    R9, R10
	VMOVUPS Z11, (R10)
	ADDQ    $64, R8
	ADDQ    DX, DI
	DECQ    CX
	JNZ     inCols
	VZEROUPPER
	RET

// ST stores the 128-bit chunk q of register R (four outputs of one tile row) at
// the byte offset of lane l (R13) under the lane's column mask for this row (R11).
#define ST(l8, l2, q, R) \
	MOVQ          l8(R13), R14 \
	KMOVW         l2(R11), K1  \
	VEXTRACTF32X4 $q, R, K1, (DI)(R14*1)

// func winogradOut4AVX512(src *float32, stride int, dst *float32, addrs *[16]int, ow int, masks *[4][16]uint16, bias float32, relu bool, tmp *[24][16]float32)
TEXT ·winogradOut4AVX512(SB), NOSPLIT, $0-64
	MOVQ         src+0(FP), SI
	MOVQ         stride+8(FP), DX
	SHLQ         $2, DX
	MOVQ         tmp+56(FP), R8
	CONSTS
	VBROADCASTSS bias+48(FP), Z26
	MOVQ         $6, CX

outCols:
	// Column j: the six matrices i*6+j, i = 0..5.
	MOVQ    SI, R10
	MOVQ    DX, R9
	IMULQ   $6, R9
	VMOVUPS (R10), Z0
	ADDQ    R9, R10
	VMOVUPS (R10), Z1
	ADDQ    R9, R10
	VMOVUPS (R10), Z2
	ADDQ    R9, R10
	VMOVUPS (R10), Z3
	ADDQ    R9, R10
	VMOVUPS (R10), Z4
	ADDQ    R9, R10
	VMOVUPS (R10), Z5
	AT6
	VMOVUPS Z6, (R8)
	VMOVUPS Z7, 384(R8)
	VMOVUPS Z8, 768(R8)
	VMOVUPS Z9, 1152(R8)
	ADDQ    DX, SI
	ADDQ    $64, R8
	DECQ    CX
	JNZ     outCols

	MOVQ    tmp+56(FP), R8
	MOVQ    dst+16(FP), DI
	MOVQ    addrs+24(FP), R13
	MOVQ    ow+32(FP), BX
	SHLQ    $2, BX
	MOVQ    masks+40(FP), R11
	MOVBLZX relu+52(FP), R12
	MOVQ    $4, CX

outRows:
	VMOVUPS (R8), Z0
	VMOVUPS 64(R8), Z1
	VMOVUPS 128(R8), Z2
	VMOVUPS 192(R8), Z3
	VMOVUPS 256(R8), Z4
	VMOVUPS 320(R8), Z5
	AT6
	VADDPS  Z26, Z6, Z6
	VADDPS  Z26, Z7, Z7
	VADDPS  Z26, Z8, Z8
	VADDPS  Z26, Z9, Z9
	TESTQ   R12, R12
	JZ      transpose
	// Relu as BiasRelu and ONNX Runtime: v < 0 ? 0 : v (NaNs and -0 kept).
	VPXORD  Z15, Z15, Z15
	VMAXPS  Z6, Z15, Z6
	VMAXPS  Z7, Z15, Z7
	VMAXPS  Z8, Z15, Z8
	VMAXPS  Z9, Z15, Z9

transpose:
	// Z6..Z9 hold output columns 0..3 of this row for the sixteen tiles; four
	// 4 x 4 transposes per 128-bit lane give each tile's row as one chunk: Z0
	// holds tiles 0, 4, 8, 12, Z1 tiles 1, 5, 9, 13, and so on.
	VUNPCKLPS Z7, Z6, Z10
	VUNPCKHPS Z7, Z6, Z11
	VUNPCKLPS Z9, Z8, Z12
	VUNPCKHPS Z9, Z8, Z13
	VUNPCKLPD Z12, Z10, Z0
	VUNPCKHPD Z12, Z10, Z1
	VUNPCKLPD Z13, Z11, Z2
	VUNPCKHPD Z13, Z11, Z3
	ST(0, 0, 0, Z0)
	ST(8, 2, 0, Z1)
	ST(16, 4, 0, Z2)
	ST(24, 6, 0, Z3)
	ST(32, 8, 1, Z0)
	ST(40, 10, 1, Z1)
	ST(48, 12, 1, Z2)
	ST(56, 14, 1, Z3)
	ST(64, 16, 2, Z0)
	ST(72, 18, 2, Z1)
	ST(80, 20, 2, Z2)
	ST(88, 22, 2, Z3)
	ST(96, 24, 3, Z0)
	ST(104, 26, 3, Z1)
	ST(112, 28, 3, Z2)
	ST(120, 30, 3, Z3)
	ADDQ      $32, R11
	ADDQ      $384, R8
	ADDQ      BX, DI
	DECQ      CX
	JNZ       outRows
	VZEROUPPER
	RET

// BT4 applies Bt of F(2x2, 3x3) to Z0..Z3, into Z6..Z9.
#define BT4 \
	VSUBPS Z2, Z0, Z6 \
	VADDPS Z2, Z1, Z7 \
	VSUBPS Z1, Z2, Z8 \
	VSUBPS Z3, Z1, Z9

// AT4 applies At of F(2x2, 3x3) to Z0..Z3, into Z6 and Z7.
#define AT4 \
	VADDPS Z1, Z0, Z6 \
	VADDPS Z2, Z6, Z6 \
	VSUBPS Z2, Z1, Z7 \
	VSUBPS Z3, Z7, Z7

// func winogradIn2AVX512(src *float32, offs *[16]int32, wp int, dst *float32, stride int, tmp *[36][16]float32)
TEXT ·winogradIn2AVX512(SB), NOSPLIT, $0-48
	MOVQ          src+0(FP), SI
	MOVQ          offs+8(FP), AX
	VMOVDQU32     (AX), Z31
	VEXTRACTI64X4 $1, Z31, Y22
	VMOVDQU32     wgEven<>(SB), Z24
	MOVL          $1, AX
	VPBROADCASTD  AX, Z23
	VPADDD        Z23, Z24, Z23
	MOVQ          wp+16(FP), BX
	SHLQ          $2, BX
	MOVQ          dst+24(FP), DI
	MOVQ          stride+32(FP), DX
	SHLQ          $2, DX
	MOVQ          tmp+40(FP), R8
	MOVQ          $4, CX

in2Rows:
	PAIRS(0, Z0, Z1)
	PAIRS(8, Z2, Z3)
	BT4
	VMOVUPS Z6, (R8)
	VMOVUPS Z7, 64(R8)
	VMOVUPS Z8, 128(R8)
	VMOVUPS Z9, 192(R8)
	ADDQ    BX, SI
	ADDQ    $256, R8
	DECQ    CX
	JNZ     in2Rows

	MOVQ  tmp+40(FP), R8
	MOVQ  DX, R9
	SHLQ  $2, R9 // 4 matrices
	MOVQ  $4, CX

in2Cols:
	VMOVUPS (R8), Z0
	VMOVUPS 256(R8), Z1
	VMOVUPS 512(R8), Z2
	VMOVUPS 768(R8), Z3
	BT4
	MOVQ    DI, R10
	VMOVUPS Z6, (R10)
	ADDQ    R9, R10
	VMOVUPS Z7, (R10)
	ADDQ    R9, R10
	VMOVUPS Z8, (R10)
	ADDQ    R9, R10
	VMOVUPS Z9, (R10)
	ADDQ    $64, R8
	ADDQ    DX, DI
	DECQ    CX
	JNZ     in2Cols
	VZEROUPPER
	RET

// func winogradOut2AVX512(src *float32, stride int, dst *float32, offs *[16]int32, ow int, masks *[16]uint16, bias float32, relu bool, tmp *[24][16]float32)
TEXT ·winogradOut2AVX512(SB), NOSPLIT, $0-64
	MOVQ         src+0(FP), SI
	MOVQ         stride+8(FP), DX
	SHLQ         $2, DX
	MOVQ         tmp+56(FP), R8
	VBROADCASTSS bias+48(FP), Z26
	MOVQ         DX, R9
	SHLQ         $2, R9 // 4 matrices
	MOVQ         $4, CX

out2Cols:
	MOVQ    SI, R10
	VMOVUPS (R10), Z0
	ADDQ    R9, R10
	VMOVUPS (R10), Z1
	ADDQ    R9, R10
	VMOVUPS (R10), Z2
	ADDQ    R9, R10
	VMOVUPS (R10), Z3
	AT4
	VMOVUPS Z6, (R8)
	VMOVUPS Z7, 256(R8)
	ADDQ    DX, SI
	ADDQ    $64, R8
	DECQ    CX
	JNZ     out2Cols

	MOVQ      tmp+56(FP), R8
	MOVQ      dst+16(FP), DI
	MOVQ      offs+24(FP), AX
	VMOVDQU32 (AX), Z31
	MOVQ      ow+32(FP), BX
	SHLQ      $2, BX
	MOVQ      masks+40(FP), R11
	MOVBLZX   relu+52(FP), R12
	MOVQ      $2, CX

out2Rows:
	VMOVUPS (R8), Z0
	VMOVUPS 64(R8), Z1
	VMOVUPS 128(R8), Z2
	VMOVUPS 192(R8), Z3
	AT4
	VADDPS  Z26, Z6, Z6
	VADDPS  Z26, Z7, Z7
	TESTQ   R12, R12
	JZ      store2
	VPXORD  Z15, Z15, Z15 // Relu as BiasRelu: v < 0 ? 0 : v
	VMAXPS  Z6, Z15, Z6
	VMAXPS  Z7, Z15, Z7

store2:
	KMOVW       (R11), K1
	VSCATTERDPS Z6, K1, (DI)(Z31*4)
	KMOVW       2(R11), K1
	VSCATTERDPS Z7, K1, 4(DI)(Z31*4)
	ADDQ        $4, R11
	ADDQ        $256, R8
	ADDQ        BX, DI
	DECQ        CX
	JNZ         out2Rows
	VZEROUPPER
	RET
