//go:build !purego

#include "textflag.h"

// The Winograd F(4x4, 3x3) transforms in AVX2 on the lane arrays of winograd.go
// ([n][16]float32, rows 64 bytes apart), eight lanes per pass; the gathers and
// scatters stay in Go (AVX2 has no scatter).

DATA wgTwo<>+0(SB)/4, $0x40000000
DATA wgFour<>+0(SB)/4, $0x40800000
DATA wgFive<>+0(SB)/4, $0x40a00000
DATA wgEight<>+0(SB)/4, $0x41000000
GLOBL wgTwo<>(SB), RODATA|NOPTR, $4
GLOBL wgFour<>(SB), RODATA|NOPTR, $4
GLOBL wgFive<>(SB), RODATA|NOPTR, $4
GLOBL wgEight<>(SB), RODATA|NOPTR, $4

// YBT6: Bt of F(4x4) on Y0..Y5 into Y6..Y11 (Y12..Y15 temporaries or constants).
#define YBT6 \
	VBROADCASTSS wgFour<>(SB), Y15 \
	VBROADCASTSS wgFive<>(SB), Y14 \
	VMOVAPS      Y4, Y6        \
	VFMADD231PS  Y15, Y0, Y6   \
	VFNMADD231PS Y14, Y2, Y6   \
	VMOVAPS      Y5, Y11       \
	VFMADD231PS  Y15, Y1, Y11  \
	VFNMADD231PS Y14, Y3, Y11  \
	VADDPS       Y2, Y1, Y12   \
	VADDPS       Y4, Y3, Y7    \
	VFNMADD231PS Y15, Y12, Y7  \
	VSUBPS       Y2, Y1, Y13   \
	VSUBPS       Y3, Y4, Y8    \
	VFMADD231PS  Y15, Y13, Y8  \
	VBROADCASTSS wgTwo<>(SB), Y15 \
	VSUBPS       Y1, Y3, Y14   \
	VSUBPS       Y2, Y4, Y9    \
	VMOVAPS      Y9, Y10       \
	VFMADD231PS  Y15, Y14, Y9  \
	VFNMADD231PS Y15, Y14, Y10

// YAT6: At of F(4x4) on Y0..Y5 into Y6..Y9 (Y10..Y15 temporaries or constants).
#define YAT6 \
	VADDPS       Y2, Y1, Y12   \
	VSUBPS       Y2, Y1, Y13   \
	VADDPS       Y4, Y3, Y14   \
	VSUBPS       Y4, Y3, Y15   \
	VADDPS       Y12, Y0, Y6   \
	VADDPS       Y14, Y6, Y6   \
	VBROADCASTSS wgTwo<>(SB), Y10 \
	VMOVAPS      Y13, Y7       \
	VFMADD231PS  Y10, Y15, Y7  \
	VBROADCASTSS wgFour<>(SB), Y10 \
	VMOVAPS      Y12, Y8       \
	VFMADD231PS  Y10, Y14, Y8  \
	VBROADCASTSS wgEight<>(SB), Y10 \
	VADDPS       Y5, Y13, Y9   \
	VFMADD231PS  Y10, Y15, Y9

// func inputTransform4AVX2(d *[36][16]float32)
TEXT ·inputTransform4AVX2(SB), 0, $2304-8
	MOVQ d+0(FP), DI
	MOVQ $2, DX // halves of eight lanes

half:
	// Columns: t[i'*6+j] = sum_i Bt[i'][i] d[i*6+j].
	MOVQ DI, SI
	LEAQ tmp-2304(SP), R8
	MOVQ $6, CX

cols:
	VMOVUPS (SI), Y0
	VMOVUPS 384(SI), Y1
	VMOVUPS 768(SI), Y2
	VMOVUPS 1152(SI), Y3
	VMOVUPS 1536(SI), Y4
	VMOVUPS 1920(SI), Y5
	YBT6
	VMOVUPS Y6, (R8)
	VMOVUPS Y7, 384(R8)
	VMOVUPS Y8, 768(R8)
	VMOVUPS Y9, 1152(R8)
	VMOVUPS Y10, 1536(R8)
	VMOVUPS Y11, 1920(R8)
	ADDQ    $64, SI
	ADDQ    $64, R8
	DECQ    CX
	JNZ     cols

	// Rows: d[i'*6+j'] = sum_j t[i'*6+j] Bt[j'][j].
	MOVQ DI, SI
	LEAQ tmp-2304(SP), R8
	MOVQ $6, CX

rows:
	VMOVUPS (R8), Y0
	VMOVUPS 64(R8), Y1
	VMOVUPS 128(R8), Y2
	VMOVUPS 192(R8), Y3
	VMOVUPS 256(R8), Y4
	VMOVUPS 320(R8), Y5
	YBT6
	VMOVUPS Y6, (SI)
	VMOVUPS Y7, 64(SI)
	VMOVUPS Y8, 128(SI)
	VMOVUPS Y9, 192(SI)
	VMOVUPS Y10, 256(SI)
	VMOVUPS Y11, 320(SI)
	ADDQ    $384, SI
	ADDQ    $384, R8
	DECQ    CX
	JNZ     rows

	ADDQ $32, DI
	DECQ DX
	JNZ  half
	VZEROUPPER
	RET

// func outputTransform4AVX2(o *[16][16]float32, s *[36][16]float32)
TEXT ·outputTransform4AVX2(SB), 0, $1536-16
	MOVQ o+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ $2, DX

outHalf:
	// Columns: t[i'*6+j] = sum_i At[i'][i] s[i*6+j], i' < 4.
	MOVQ SI, R9
	LEAQ tmp-1536(SP), R8
	MOVQ $6, CX

outCols:
	VMOVUPS (R9), Y0
	VMOVUPS 384(R9), Y1
	VMOVUPS 768(R9), Y2
	VMOVUPS 1152(R9), Y3
	VMOVUPS 1536(R9), Y4
	VMOVUPS 1920(R9), Y5
	YAT6
	VMOVUPS Y6, (R8)
	VMOVUPS Y7, 384(R8)
	VMOVUPS Y8, 768(R8)
	VMOVUPS Y9, 1152(R8)
	ADDQ    $64, R9
	ADDQ    $64, R8
	DECQ    CX
	JNZ     outCols

	// Rows: o[i'*4+j'] = sum_j t[i'*6+j] At[j'][j].
	MOVQ DI, R9
	LEAQ tmp-1536(SP), R8
	MOVQ $4, CX

outRows:
	VMOVUPS (R8), Y0
	VMOVUPS 64(R8), Y1
	VMOVUPS 128(R8), Y2
	VMOVUPS 192(R8), Y3
	VMOVUPS 256(R8), Y4
	VMOVUPS 320(R8), Y5
	YAT6
	VMOVUPS Y6, (R9)
	VMOVUPS Y7, 64(R9)
	VMOVUPS Y8, 128(R9)
	VMOVUPS Y9, 192(R9)
	ADDQ    $256, R9
	ADDQ    $384, R8
	DECQ    CX
	JNZ     outRows

	ADDQ $32, DI
	ADDQ $32, SI
	DECQ DX
	JNZ  outHalf
	VZEROUPPER
	RET
