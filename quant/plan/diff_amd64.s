//go:build amd64 && !purego

#include "textflag.h"

DATA absmask64<>+0(SB)/8, $0x7fffffffffffffff
GLOBL absmask64<>(SB), RODATA|NOPTR, $8

// ACC8 adds eight pairs, a in Y8 (lanes 0-3) and Y9 (4-7), b in Y10 and Y11, to the
// lane sums.
#define ACC8 \
	VSUBPD Y10, Y8, Y12 \
	VSUBPD Y11, Y9, Y13 \
	VANDPD Y15, Y12, Y12 \
	VANDPD Y15, Y13, Y13 \
	VMAXPD Y0, Y12, Y0 \
	VMAXPD Y1, Y13, Y1 \
	VMULPD Y10, Y8, Y12 \
	VMULPD Y11, Y9, Y13 \
	VADDPD Y12, Y2, Y2 \
	VADDPD Y13, Y3, Y3 \
	VMULPD Y8, Y8, Y12 \
	VMULPD Y9, Y9, Y13 \
	VADDPD Y12, Y4, Y4 \
	VADDPD Y13, Y5, Y5 \
	VMULPD Y10, Y10, Y12 \
	VMULPD Y11, Y11, Y13 \
	VADDPD Y12, Y6, Y6 \
	VADDPD Y13, Y7, Y7

// ZERO8 clears the lane sums.
#define ZERO8 \
	VXORPD Y0, Y0, Y0 \
	VXORPD Y1, Y1, Y1 \
	VXORPD Y2, Y2, Y2 \
	VXORPD Y3, Y3, Y3 \
	VXORPD Y4, Y4, Y4 \
	VXORPD Y5, Y5, Y5 \
	VXORPD Y6, Y6, Y6 \
	VXORPD Y7, Y7, Y7

// FOLD leaves (l0+l4 + l2+l6) + (l1+l5 + l3+l7) of lanes lo, hi in lane 0 of lo.
#define FOLD(lo, hi, xlo, xhi) \
	VADDPD hi, lo, lo \
	VEXTRACTF128 $1, lo, xhi \
	VADDPD xhi, xlo, xlo \
	VPERMILPD $1, xlo, xhi \
	VADDSD xhi, xlo, xlo

// STORE4 folds the lane sums into out (DX): max, a·b, a·a, b·b.
#define STORE4 \
	VMAXPD Y1, Y0, Y0 \
	VEXTRACTF128 $1, Y0, X1 \
	VMAXPD X1, X0, X0 \
	VPERMILPD $1, X0, X1 \
	VMAXSD X1, X0, X0 \
	VMOVSD X0, 0(DX) \
	FOLD(Y2, Y3, X2, X3) \
	VMOVSD X2, 8(DX) \
	FOLD(Y4, Y5, X4, X5) \
	VMOVSD X4, 16(DX) \
	FOLD(Y6, Y7, X6, X7) \
	VMOVSD X6, 24(DX)

// func diffAVX2(a, b *float32, n int, out *[4]float64)
// The sums of diffLanes in the same eight lanes (value i in lane i%8: Y0-Y1 max|a-b|,
// Y2-Y3 a*b, Y4-Y5 a*a, Y6-Y7 b*b), folded in the same order: lane j with lane j+4,
// then the low pair with the high pair, then the two halves. n is a multiple of 8.
// Products of float32 values are exact in float64, so only the additions round.
TEXT ·diffAVX2(SB), NOSPLIT, $0-32
	MOVQ a+0(FP), SI
	MOVQ b+8(FP), DI
	MOVQ n+16(FP), CX
	MOVQ out+24(FP), DX
	VBROADCASTSD absmask64<>(SB), Y15
	ZERO8
	XORQ AX, AX

loop:
	CMPQ AX, CX
	JGE fold
	VCVTPS2PD (SI)(AX*4), Y8
	VCVTPS2PD 16(SI)(AX*4), Y9
	VCVTPS2PD (DI)(AX*4), Y10
	VCVTPS2PD 16(DI)(AX*4), Y11
	ACC8
	ADDQ $8, AX
	JMP loop

fold:
	STORE4
	VZEROUPPER
	RET

// func q80DiffAVX2(a *float32, y *byte, nb int, out *[4]float64)
// diffAVX2 of a against the values of nb Q8_0 blocks y, decoded as tensor.Dequantize
// does (float32(q) * d, d widened from binary16 by VCVTPH2PS, exact but for NaN
// payloads, which make the sums NaN either way), without storing them.
TEXT ·q80DiffAVX2(SB), NOSPLIT, $0-32
	MOVQ a+0(FP), SI
	MOVQ y+8(FP), DI
	MOVQ nb+16(FP), CX
	MOVQ out+24(FP), DX
	VBROADCASTSD absmask64<>(SB), Y15
	ZERO8

// Q8G widens the 8 values of group off of the block at DI into Y10, Y11 and the 8
// values at SI into Y8, Y9.
#define Q8G(off) \
	VPMOVSXBD (2+off)(DI), Y10 \
	VCVTDQ2PS Y10, Y10 \
	VMULPS Y14, Y10, Y10 \
	VEXTRACTF128 $1, Y10, X11 \
	VCVTPS2PD X11, Y11 \
	VCVTPS2PD X10, Y10 \
	VCVTPS2PD (4*off)(SI), Y8 \
	VCVTPS2PD (4*off+16)(SI), Y9

q80loop:
	TESTQ CX, CX
	JLE q80fold
	MOVWLZX (DI), AX
	VMOVD AX, X14
	VCVTPH2PS X14, X14
	VBROADCASTSS X14, Y14
	Q8G(0)
	ACC8
	Q8G(8)
	ACC8
	Q8G(16)
	ACC8
	Q8G(24)
	ACC8
	ADDQ $128, SI
	ADDQ $34, DI
	DECQ CX
	JMP q80loop

q80fold:
	STORE4
	VZEROUPPER
	RET

DATA nib<>+0(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA nib<>+8(SB)/8, $0x0f0f0f0f0f0f0f0f
GLOBL nib<>(SB), RODATA|NOPTR, $16
DATA eight8<>+0(SB)/8, $0x0808080808080808
DATA eight8<>+8(SB)/8, $0x0808080808080808
GLOBL eight8<>(SB), RODATA|NOPTR, $16

// func q40DiffAVX2(a *float32, y *byte, nb int, out *[4]float64)
// q80DiffAVX2 for Q4_0 blocks: value j is (low nibble of qs[j]) - 8 and value j+16
// (high nibble of qs[j]) - 8, times d, for j < 16, as tensor.Dequantize decodes them.
// The 32 levels are staged as int8 in the frame, every register being taken.
TEXT ·q40DiffAVX2(SB), NOSPLIT, $32-32
	MOVQ a+0(FP), SI
	MOVQ y+8(FP), DI
	MOVQ nb+16(FP), CX
	MOVQ out+24(FP), DX
	VBROADCASTSD absmask64<>(SB), Y15
	ZERO8

// Q4G widens levels off..off+7 from the frame into Y10, Y11 and the 8 values at
// SI+4*off into Y8, Y9.
#define Q4G(off) \
	VPMOVSXBD off(SP), Y10 \
	VCVTDQ2PS Y10, Y10 \
	VMULPS Y14, Y10, Y10 \
	VEXTRACTF128 $1, Y10, X11 \
	VCVTPS2PD X11, Y11 \
	VCVTPS2PD X10, Y10 \
	VCVTPS2PD (4*off)(SI), Y8 \
	VCVTPS2PD (4*off+16)(SI), Y9

q40loop:
	TESTQ CX, CX
	JLE q40fold
	MOVWLZX (DI), AX
	VMOVD AX, X14
	VCVTPH2PS X14, X14
	VBROADCASTSS X14, Y14
	VMOVDQU 2(DI), X12
	VPSRLW $4, X12, X13
	VPAND nib<>(SB), X12, X12
	VPAND nib<>(SB), X13, X13
	VPSUBB eight8<>(SB), X12, X12
	VPSUBB eight8<>(SB), X13, X13
	VMOVDQU X12, 0(SP)
	VMOVDQU X13, 16(SP)
	Q4G(0)
	ACC8
	Q4G(8)
	ACC8
	Q4G(16)
	ACC8
	Q4G(24)
	ACC8
	ADDQ $128, SI
	ADDQ $18, DI
	DECQ CX
	JMP q40loop

q40fold:
	STORE4
	VZEROUPPER
	RET

DATA six<>+0(SB)/8, $0x0303030303030303
DATA six<>+8(SB)/8, $0x0303030303030303
DATA six<>+16(SB)/8, $0x0303030303030303
DATA six<>+24(SB)/8, $0x0303030303030303
DATA six<>+32(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA six<>+40(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA six<>+48(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA six<>+56(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA six<>+64(SB)/8, $0x2020202020202020
DATA six<>+72(SB)/8, $0x2020202020202020
DATA six<>+80(SB)/8, $0x2020202020202020
DATA six<>+88(SB)/8, $0x2020202020202020
GLOBL six<>(SB), RODATA|NOPTR, $96

// func q6kDiffAVX2(a *float32, y *byte, nb int, out *[4]float64)
// q80DiffAVX2 for Q6_K super-blocks (ql[128] qh[64] scales[16] d), decoded as
// tensor.Dequantize does: value = (d * sc) * q, q the 6-bit level less 32.
TEXT ·q6kDiffAVX2(SB), NOSPLIT, $136-32
	MOVQ a+0(FP), SI
	MOVQ y+8(FP), DI
	MOVQ nb+16(FP), CX
	MOVQ out+24(FP), DX
	VBROADCASTSD absmask64<>(SB), Y15
	ZERO8

// Q6LEV stores at off(SP) the 32 levels (lo & 0x0f | ((hi >> hs) & 3) << 4) - 32 of
// lo (low nibbles, or high ones after shifting by 4) and the 2-bit fields of hi.
#define Q6LEV(lo, hs, off) \
	VPAND six<>+32(SB), lo, Y11 \
	VPSRLW $hs, Y10, Y12 \
	VPAND six<>+0(SB), Y12, Y12 \
	VPSLLW $4, Y12, Y12 \
	VPOR Y12, Y11, Y11 \
	VPSUBB six<>+64(SB), Y11, Y11 \
	VMOVDQU Y11, off(SP)

// Q6RUN adds the 16 values of run k (scale byte k of the half at R8) to the sums:
// levels from the frame times d*sc[k] (d at 128(SP)), against the source at SI.
#define Q6RUN(k) \
	MOVBLSX (192+k)(R8), AX \
	VCVTSI2SSL AX, X14, X14 \
	VMULSS 128(SP), X14, X14 \
	VBROADCASTSS X14, Y14 \
	Q6G(16*k) \
	ACC8 \
	Q6G(16*k+8) \
	ACC8

// Q6G widens levels off..off+7 from the frame into Y10, Y11 and the 8 values at
// SI+4*off into Y8, Y9.
#define Q6G(off) \
	VPMOVSXBD (off)(SP), Y10 \
	VCVTDQ2PS Y10, Y10 \
	VMULPS Y14, Y10, Y10 \
	VEXTRACTF128 $1, Y10, X11 \
	VCVTPS2PD X11, Y11 \
	VCVTPS2PD X10, Y10 \
	VCVTPS2PD (4*(off))(SI), Y8 \
	VCVTPS2PD (4*(off)+16)(SI), Y9

q6loop:
	TESTQ CX, CX
	JLE q6fold
	MOVWLZX 208(DI), AX
	VMOVD AX, X13
	VCVTPH2PS X13, X13
	VMOVSS X13, 128(SP) // d, kept in the frame: ACC8 takes every register
	XORQ R9, R9

q6half:
	// half R9: ql at DI+64*R9, qh at DI+128+32*R9, scales at DI+192+8*R9
	MOVQ R9, AX
	SHLQ $6, AX
	LEAQ (DI)(AX*1), R10
	VMOVDQU (R10), Y8
	VMOVDQU 32(R10), Y9
	MOVQ R9, AX
	SHLQ $5, AX
	VMOVDQU 128(DI)(AX*1), Y10
	Q6LEV(Y8, 0, 0)
	Q6LEV(Y9, 2, 32)
	VPSRLW $4, Y8, Y8
	VPSRLW $4, Y9, Y9
	Q6LEV(Y8, 4, 64)
	Q6LEV(Y9, 6, 96)
	LEAQ (DI)(R9*8), R8
	Q6RUN(0)
	Q6RUN(1)
	Q6RUN(2)
	Q6RUN(3)
	Q6RUN(4)
	Q6RUN(5)
	Q6RUN(6)
	Q6RUN(7)
	ADDQ $512, SI
	INCQ R9
	CMPQ R9, $2
	JLT q6half
	ADDQ $210, DI
	DECQ CX
	JMP q6loop

q6fold:
	STORE4
	VZEROUPPER
	RET
