//go:build amd64 && !purego

#include "textflag.h"

// func biasReluAVX2(p *float32, n int, b float32, relu bool)
// Relu is MAXPS(0, v): 0 > v ? 0 : v, and v where either is a NaN, so -0 and NaNs
// stay as they are (ONNX Runtime's Relu).
TEXT ·biasReluAVX2(SB), NOSPLIT, $0-21
	MOVQ         p+0(FP), DI
	MOVQ         n+8(FP), CX
	VBROADCASTSS b+16(FP), Y0
	VXORPS       Y5, Y5, Y5
	MOVBLZX      relu+20(FP), AX
	TESTQ        AX, AX
	JEQ          addloop

reluloop:
	CMPQ    CX, $16
	JLT     done
	VADDPS  (DI), Y0, Y1
	VADDPS  32(DI), Y0, Y2
	VMAXPS  Y1, Y5, Y1
	VMAXPS  Y2, Y5, Y2
	VMOVUPS Y1, (DI)
	VMOVUPS Y2, 32(DI)
	ADDQ    $64, DI
	SUBQ    $16, CX
	JMP     reluloop

addloop:
	CMPQ    CX, $16
	JLT     done
	VADDPS  (DI), Y0, Y1
	VADDPS  32(DI), Y0, Y2
	VMOVUPS Y1, (DI)
	VMOVUPS Y2, 32(DI)
	ADDQ    $64, DI
	SUBQ    $16, CX
	JMP     addloop

done:
	VZEROUPPER
	RET

// d = PoolMax(a, b) in every lane: MAXPS gives a > b ? a : b, and b where either
// is a NaN; a's NaNs are blended back in, bits unchanged. t is scratch; d may be b
// but not a.
#define PMAX(a, b, t, d) \
	VCMPPS    $3, a, a, t \
	VMAXPS    b, a, d \
	VBLENDVPS t, a, d, d

// One 8-output 2x2 pool step at output column BX: out row DI, input rows SI and
// R11. Y4/Y5 and Y6/Y7 are the even and odd columns of the two rows, in the lane
// order 0 1 4 5 2 3 6 7 that VPERMPD undoes.
#define POOL8 \
	VMOVUPS (SI)(BX*8), Y0 \
	VMOVUPS 32(SI)(BX*8), Y1 \
	VMOVUPS (R11)(BX*8), Y2 \
	VMOVUPS 32(R11)(BX*8), Y3 \
	VSHUFPS $0x88, Y1, Y0, Y4 \
	VSHUFPS $0xDD, Y1, Y0, Y5 \
	VSHUFPS $0x88, Y3, Y2, Y6 \
	VSHUFPS $0xDD, Y3, Y2, Y7 \
	PMAX(Y4, Y5, Y8, Y0) \
	PMAX(Y6, Y7, Y8, Y1) \
	PMAX(Y0, Y1, Y8, Y2) \
	VPERMPD $0xD8, Y2, Y2 \
	VMOVUPS Y2, (DI)(BX*4)

// POOL8 on 128-bit vectors: 4 outputs at output column BX.
#define POOL4 \
	VMOVUPS (SI)(BX*8), X0 \
	VMOVUPS 16(SI)(BX*8), X1 \
	VMOVUPS (R11)(BX*8), X2 \
	VMOVUPS 16(R11)(BX*8), X3 \
	VSHUFPS $0x88, X1, X0, X4 \
	VSHUFPS $0xDD, X1, X0, X5 \
	VSHUFPS $0x88, X3, X2, X6 \
	VSHUFPS $0xDD, X3, X2, X7 \
	PMAX(X4, X5, X8, X0) \
	PMAX(X6, X7, X8, X1) \
	PMAX(X0, X1, X8, X2) \
	VMOVUPS X2, (DI)(BX*4)

// func maxPool2x2AVX2(out, r0, r1 *float32, n int)
// Each row's column pairs are reduced first, then the two rows: PoolMax folds in
// window order (r0's pair, then r1's), so its first NaN and last maximal value win.
TEXT ·maxPool2x2AVX2(SB), NOSPLIT, $0-32
	MOVQ out+0(FP), DI
	MOVQ r0+8(FP), SI
	MOVQ r1+16(FP), DX
	MOVQ n+24(FP), CX
	MOVQ DX, R11
	XORQ BX, BX

poolloop:
	CMPQ CX, $8
	JLT  pooldone
	POOL8
	ADDQ $8, BX
	SUBQ $8, CX
	JMP  poolloop

pooldone:
	VZEROUPPER
	RET

// func maxPool4AVX2(out, r0, r1 *float32)
// maxPool2x2AVX2's step on 128-bit vectors: 8 inputs of each row, 4 outputs.
TEXT ·maxPool4AVX2(SB), NOSPLIT, $0-24
	MOVQ out+0(FP), DI
	MOVQ r0+8(FP), SI
	MOVQ r1+16(FP), R11
	XORQ BX, BX
	POOL4
	RET

// func expShiftedAVX2(dst, src *float32, n int, shift float32) float32
// x = max(src - shift, -87.33654) (a NaN stays), n = round(x*log2e),
// r = x - n*ln2 (in two parts), p = sum r^i/i! for i <= 7, result p * 2^n, or 0 where
// src - shift was below the bound. n is in [-126, 0] for x <= 0.
TEXT ·expShiftedAVX2(SB), NOSPLIT, $0-36
	MOVQ         dst+0(FP), DI
	MOVQ         src+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSS shift+24(FP), Y12
	VXORPS       Y13, Y13, Y13 // sum
	VXORPS       Y6, Y6, Y6    // zero
	MOVL         $127, AX
	MOVQ         AX, X7
	VPBROADCASTD X7, Y7
	VMOVUPS      ·expConsts+96(SB), Y11 // lower bound

exploop:
	CMPQ        CX, $8
	JLT         expdone
	VMOVUPS     (SI), Y0
	VSUBPS      Y12, Y0, Y0
	VCMPPS      $5, Y11, Y0, Y5 // not less than the bound (true for NaN)
	VMAXPS      Y0, Y11, Y1     // NaN in Y0 propagates
	VMINPS      Y1, Y6, Y1      // x <= 0
	VMULPS      ·expConsts+0(SB), Y1, Y2
	VROUNDPS    $0, Y2, Y2
	VFNMADD231PS ·expConsts+32(SB), Y2, Y1
	VFNMADD231PS ·expConsts+64(SB), Y2, Y1
	VMOVUPS     ·expConsts+352(SB), Y3
	VFMADD213PS ·expConsts+320(SB), Y1, Y3
	VFMADD213PS ·expConsts+288(SB), Y1, Y3
	VFMADD213PS ·expConsts+256(SB), Y1, Y3
	VFMADD213PS ·expConsts+224(SB), Y1, Y3
	VFMADD213PS ·expConsts+192(SB), Y1, Y3
	VFMADD213PS ·expConsts+160(SB), Y1, Y3
	VFMADD213PS ·expConsts+128(SB), Y1, Y3
	VCVTPS2DQ   Y2, Y4
	VPADDD      Y7, Y4, Y4
	VPSLLD      $23, Y4, Y4
	VMULPS      Y4, Y3, Y3
	VANDPS      Y5, Y3, Y3
	VMOVUPS     Y3, (DI)
	VADDPS      Y3, Y13, Y13
	ADDQ        $32, SI
	ADDQ        $32, DI
	SUBQ        $8, CX
	JMP         exploop

expdone:
	VEXTRACTF128 $1, Y13, X0
	VADDPS       X0, X13, X13
	VHADDPS      X13, X13, X13
	VHADDPS      X13, X13, X13
	VMOVSS       X13, ret+32(FP)
	VZEROUPPER
	RET

// func quantize8AVX2(dst *byte, src *float32, n int, s, lo, hi, z float32, signed bool)
// dst[i] = round_half_even(clamp(src[i]/s, lo, hi)) + z as a byte (int8 when signed);
// a NaN quotient gives z. n is a multiple of 8.
TEXT ·quantize8AVX2(SB), NOSPLIT, $0-41
	MOVQ         dst+0(FP), DI
	MOVQ         src+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSS s+24(FP), Y8
	VBROADCASTSS lo+28(FP), Y9
	VBROADCASTSS hi+32(FP), Y10
	VBROADCASTSS z+36(FP), Y11
	MOVBLZX      signed+40(FP), AX

qloop:
	CMPQ         CX, $8
	JLT          qdone
	VMOVUPS      (SI), Y0
	VDIVPS       Y8, Y0, Y0
	VCMPPS       $3, Y0, Y0, Y1 // NaN lanes
	VANDNPS      Y0, Y1, Y0     // become 0
	VMAXPS       Y9, Y0, Y0
	VMINPS       Y10, Y0, Y0
	VROUNDPS     $0, Y0, Y0
	VADDPS       Y11, Y0, Y0
	VCVTPS2DQ    Y0, Y0
	VEXTRACTI128 $1, Y0, X1
	VPACKSSDW    X1, X0, X0
	TESTQ        AX, AX
	JNE          qsigned
	VPACKUSWB    X0, X0, X0
	JMP          qstore

qsigned:
	VPACKSSWB X0, X0, X0

qstore:
	MOVQ X0, (DI)
	ADDQ $32, SI
	ADDQ $8, DI
	SUBQ $8, CX
	JMP  qloop

qdone:
	VZEROUPPER
	RET

// func arithAVX2(dst, a, b *float32, n, op int)
// dst = a op b for op 0 (add), 1 (sub), 2 (mul), 16 values per step, then 8; n is a
// multiple of 8.
TEXT ·arithAVX2(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DX
	MOVQ n+24(FP), CX
	MOVQ op+32(FP), AX
	CMPQ AX, $1
	JEQ  sub16
	JGT  mul16

add16:
	CMPQ    CX, $16
	JLT     add8
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VADDPS  (DX), Y0, Y0
	VADDPS  32(DX), Y1, Y1
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	ADDQ    $64, SI
	ADDQ    $64, DX
	ADDQ    $64, DI
	SUBQ    $16, CX
	JMP     add16

add8:
	CMPQ    CX, $8
	JLT     arithdone
	VMOVUPS (SI), Y0
	VADDPS  (DX), Y0, Y0
	VMOVUPS Y0, (DI)
	JMP     arithdone

sub16:
	CMPQ    CX, $16
	JLT     sub8
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VSUBPS  (DX), Y0, Y0
	VSUBPS  32(DX), Y1, Y1
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	ADDQ    $64, SI
	ADDQ    $64, DX
	ADDQ    $64, DI
	SUBQ    $16, CX
	JMP     sub16

sub8:
	CMPQ    CX, $8
	JLT     arithdone
	VMOVUPS (SI), Y0
	VSUBPS  (DX), Y0, Y0
	VMOVUPS Y0, (DI)
	JMP     arithdone

mul16:
	CMPQ    CX, $16
	JLT     mul8
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMULPS  (DX), Y0, Y0
	VMULPS  32(DX), Y1, Y1
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	ADDQ    $64, SI
	ADDQ    $64, DX
	ADDQ    $64, DI
	SUBQ    $16, CX
	JMP     mul16

mul8:
	CMPQ    CX, $8
	JLT     arithdone
	VMOVUPS (SI), Y0
	VMULPS  (DX), Y0, Y0
	VMOVUPS Y0, (DI)
	JMP     arithdone

arithdone:
	VZEROUPPER
	RET

// func biasRows16AVX2(c *float32, ldc, rows int, bias *float32, relu bool)
TEXT ·biasRows16AVX2(SB), NOSPLIT, $0-33
	MOVQ    c+0(FP), DI
	MOVQ    ldc+8(FP), DX
	SHLQ    $2, DX
	MOVQ    rows+16(FP), CX
	MOVQ    bias+24(FP), SI
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VXORPS  Y5, Y5, Y5
	MOVBLZX relu+32(FP), AX
	TESTQ   AX, AX
	JEQ     rowsadd

rowsrelu:
	VADDPS  (DI), Y0, Y2
	VADDPS  32(DI), Y1, Y3
	VMAXPS  Y2, Y5, Y2 // biasReluAVX2's Relu
	VMAXPS  Y3, Y5, Y3
	VMOVUPS Y2, (DI)
	VMOVUPS Y3, 32(DI)
	ADDQ    DX, DI
	DECQ    CX
	JNZ     rowsrelu
	VZEROUPPER
	RET

rowsadd:
	VADDPS  (DI), Y0, Y2
	VADDPS  32(DI), Y1, Y3
	VMOVUPS Y2, (DI)
	VMOVUPS Y3, 32(DI)
	ADDQ    DX, DI
	DECQ    CX
	JNZ     rowsadd
	VZEROUPPER
	RET

// func biasRows16AVX512(c *float32, ldc, rows int, bias *float32, relu bool)
// One 64-byte load per row, the width the AVX-512 kernel just stored the row with,
// so that the load is forwarded from the store (two 32-byte halves are not, on Zen 4).
TEXT ·biasRows16AVX512(SB), NOSPLIT, $0-33
	MOVQ    c+0(FP), DI
	MOVQ    ldc+8(FP), DX
	SHLQ    $2, DX
	MOVQ    rows+16(FP), CX
	MOVQ    bias+24(FP), SI
	VMOVUPS (SI), Z0
	VPXORD  Z2, Z2, Z2
	MOVBLZX relu+32(FP), AX
	TESTQ   AX, AX
	JEQ     zrowsadd

zrowsrelu:
	VADDPS  (DI), Z0, Z1
	VMAXPS  Z1, Z2, Z1 // biasReluAVX2's Relu
	VMOVUPS Z1, (DI)
	ADDQ    DX, DI
	DECQ    CX
	JNZ     zrowsrelu
	VZEROUPPER
	RET

zrowsadd:
	VADDPS  (DI), Z0, Z1
	VMOVUPS Z1, (DI)
	ADDQ    DX, DI
	DECQ    CX
	JNZ     zrowsadd
	VZEROUPPER
	RET

// func maxPool2x2RowsAVX2(out, src *float32, w, rows, ow int)
// MaxPool2x2Rows with ow >= 4: per output row, 8-wide steps and one overlapping
// step for the tail (4-wide steps when ow < 8).
TEXT ·maxPool2x2RowsAVX2(SB), NOSPLIT, $0-40
	MOVQ out+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ w+16(FP), DX
	SHLQ $2, DX // input row stride in bytes
	MOVQ rows+24(FP), R8
	MOVQ ow+32(FP), R9
	MOVQ R9, R10
	SHLQ $2, R10 // output row stride in bytes
	CMPQ R9, $8
	JLT  rows4

rows8:
	TESTQ R8, R8
	JEQ   rowsdone
	LEAQ  (SI)(DX*1), R11
	XORQ  BX, BX

cols8:
	LEAQ 8(BX), AX
	CMPQ AX, R9
	JGT  tail8
	POOL8
	MOVQ AX, BX
	JMP  cols8

tail8:
	CMPQ BX, R9
	JEQ  next8
	MOVQ R9, BX
	SUBQ $8, BX
	POOL8

next8:
	ADDQ R10, DI
	LEAQ (SI)(DX*2), SI
	DECQ R8
	JMP  rows8

rows4:
	TESTQ R8, R8
	JEQ   rowsdone
	LEAQ  (SI)(DX*1), R11
	XORQ  BX, BX
	POOL4
	MOVQ  R9, BX
	SUBQ  $4, BX
	POOL4
	ADDQ  R10, DI
	LEAQ  (SI)(DX*2), SI
	DECQ  R8
	JMP   rows4

rowsdone:
	VZEROUPPER
	RET

// Y6 = PoolMax(PoolMax(c0, c1), c2) of the columns c0 = 2i, c1 = 2i+1, c2 = 2i+2
// (i < 8) of the row at p, lanes in the order 0 1 4 5 2 3 6 7. Reads 18 columns.
#define TRIPLE(p) \
	VMOVUPS (p), Y0 \
	VMOVUPS 32(p), Y1 \
	VMOVUPS 8(p), Y2 \
	VMOVUPS 40(p), Y3 \
	VSHUFPS $0x88, Y1, Y0, Y4 \
	VSHUFPS $0xDD, Y1, Y0, Y5 \
	VSHUFPS $0x88, Y3, Y2, Y2 \
	PMAX(Y4, Y5, Y8, Y9) \
	PMAX(Y9, Y2, Y8, Y6)

// func maxPool3s2AVX2(out, src *float32, w, rows, n int)
// out[i] = PoolMax over r < rows of src[r*w+2i : r*w+2i+3]; n is a multiple of 8, rows
// at least 1; each row is read up to column 2n+1.
TEXT ·maxPool3s2AVX2(SB), NOSPLIT, $0-40
	MOVQ out+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ w+16(FP), DX
	SHLQ $2, DX
	MOVQ rows+24(FP), R8
	MOVQ n+32(FP), CX
	XORQ BX, BX

blk3:
	CMPQ BX, CX
	JGE  done3
	LEAQ (SI)(BX*8), R11
	MOVQ R8, R9
	TRIPLE(R11)
	VMOVAPS Y6, Y7
	DECQ R9

row3:
	TESTQ R9, R9
	JEQ   store3
	ADDQ  DX, R11
	TRIPLE(R11)
	PMAX(Y7, Y6, Y8, Y6)
	VMOVAPS Y6, Y7
	DECQ  R9
	JMP   row3

store3:
	VPERMPD $0xD8, Y7, Y7
	VMOVUPS Y7, (DI)(BX*4)
	ADDQ    $8, BX
	JMP     blk3

done3:
	VZEROUPPER
	RET
