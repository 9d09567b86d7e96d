//go:build !purego

#include "textflag.h"

DATA iq2One<>+0(SB)/4, $0x3f800000
GLOBL iq2One<>(SB), RODATA|NOPTR, $4
DATA iq2Half<>+0(SB)/4, $0x3f000000
GLOBL iq2Half<>(SB), RODATA|NOPTR, $4
DATA iq2Magic<>+0(SB)/4, $0x4b400000 // 12582912, nearest_int's offset
GLOBL iq2Magic<>(SB), RODATA|NOPTR, $4
DATA iq2Mant<>+0(SB)/4, $0x007fffff
GLOBL iq2Mant<>(SB), RODATA|NOPTR, $4
DATA iq2Bias<>+0(SB)/4, $0x00400000
GLOBL iq2Bias<>(SB), RODATA|NOPTR, $4
DATA iq2Two<>+0(SB)/4, $2
GLOBL iq2Two<>(SB), RODATA|NOPTR, $4
DATA iq2IntOne<>+0(SB)/4, $1
GLOBL iq2IntOne<>(SB), RODATA|NOPTR, $4
DATA iq2Eight<>+0(SB)/4, $8
GLOBL iq2Eight<>(SB), RODATA|NOPTR, $4
DATA iq2Max<>+0(SB)/4, $0x7f7fffff // math.MaxFloat32
GLOBL iq2Max<>(SB), RODATA|NOPTR, $4
DATA iq2IntMax<>+0(SB)/4, $0x7fffffff
GLOBL iq2IntMax<>(SB), RODATA|NOPTR, $4
DATA iq2Six8<>+0(SB)/8, $0x0000000600000006
DATA iq2Six8<>+8(SB)/8, $0x0000000600000006
DATA iq2Six8<>+16(SB)/8, $0x0000000600000006
DATA iq2Six8<>+24(SB)/8, $0x0000000600000006
GLOBL iq2Six8<>(SB), RODATA|NOPTR, $32
DATA iq2One8<>+0(SB)/8, $0x0000000100000001
DATA iq2One8<>+8(SB)/8, $0x0000000100000001
DATA iq2One8<>+16(SB)/8, $0x0000000100000001
DATA iq2One8<>+24(SB)/8, $0x0000000100000001
GLOBL iq2One8<>(SB), RODATA|NOPTR, $32
DATA iq2Lanes<>+0(SB)/8, $0x0000000100000000
DATA iq2Lanes<>+8(SB)/8, $0x0000000300000002
DATA iq2Lanes<>+16(SB)/8, $0x0000000500000004
DATA iq2Lanes<>+24(SB)/8, $0x0000000700000006
GLOBL iq2Lanes<>(SB), RODATA|NOPTR, $32

// LEVEL computes dimension i of the group at BX (byte offset 32*g) for the eight
// candidates: nearest_int(0.5*(id*x - 1)) clamped to [0, 2], in the scalar order. It
// stores the levels to row 8g+i of lt (R8), ORs them into the packed points in Y8, and
// leaves x and waux broadcast on the stack for the neighbour searches.
#define LEVEL(xoff, xsp, wsp, row, sh) \
	VBROADCASTSS xoff(SI)(BX*1), Y0; \
	VMOVUPS Y0, xsp(SP); \
	VBROADCASTSS xoff(DI)(BX*1), Y1; \
	VMOVUPS Y1, wsp(SP); \
	VMULPS Y15, Y0, Y1; \
	VSUBPS Y14, Y1, Y1; \
	VMULPS Y13, Y1, Y1; \
	VADDPS Y12, Y1, Y1; \
	VPAND Y11, Y1, Y1; \
	VPSUBD Y10, Y1, Y1; \
	VPXOR Y2, Y2, Y2; \
	VPMAXSD Y2, Y1, Y1; \
	VPMINSD Y9, Y1, Y1; \
	VMOVDQU Y1, row(R8); \
	VPSLLD $sh, Y1, Y1; \
	VPOR Y1, Y8, Y8

// NTERM adds weight*diff*diff, diff = scale*coord - x, for one dimension of the eight
// neighbours to D, as iq2_find_best_neighbour orders it; Y2 holds the neighbours'
// packed codes shifted so that the dimension's level times 2 is in bits 1-2 (coord =
// 2*level+1).
#define NTERM(D, xsp, wsp) \
	VPAND iq2Six8<>(SB), Y2, Y2; \
	VPOR iq2One8<>(SB), Y2, Y2; \
	VCVTDQ2PS Y2, Y2; \
	VMULPS Y2, Y0, Y2; \
	VSUBPS xsp(SP), Y2, Y2; \
	VMULPS wsp(SP), Y2, Y3; \
	VMULPS Y2, Y3, Y3; \
	VADDPS Y3, D, D

// STEP measures the eight neighbours whose codes are at R8 into D.
#define STEP(D) \
	VPMOVZXWD (R8), Y6; \
	VXORPS D, D, D; \
	VPSLLD $1, Y6, Y2; \
	NTERM(D, 0, 256); \
	VPSRLD $1, Y6, Y2; \
	NTERM(D, 32, 288); \
	VPSRLD $3, Y6, Y2; \
	NTERM(D, 64, 320); \
	VPSRLD $5, Y6, Y2; \
	NTERM(D, 96, 352); \
	VPSRLD $7, Y6, Y2; \
	NTERM(D, 128, 384); \
	VPSRLD $9, Y6, Y2; \
	NTERM(D, 160, 416); \
	VPSRLD $11, Y6, Y2; \
	NTERM(D, 192, 448); \
	VPSRLD $13, Y6, Y2; \
	NTERM(D, 224, 480)

// func iq2BatchAVX2(tab *iq2Tables, xval, waux, weight *float32, ngroups int, id, scale *[8]float32, lt *[32][8]int32, sums *[16]float32) (onGrid uint64)
// Eight candidate scales of the IQ2 scale searches at once, one per lane, over ngroups
// groups of 8; see iq2BatchAVX2 in search_amd64.go. Frame: x broadcasts at 0(SP), waux
// broadcasts at 256(SP), packed points at 512(SP).
TEXT ·iq2BatchAVX2(SB), $544-80
	MOVQ tab+0(FP), AX
	MOVQ 0(AX), R9   // kmap
	MOVQ 8(AX), R10  // info
	MOVQ 16(AX), R11 // codes
	MOVQ id+40(FP), AX
	VMOVUPS (AX), Y15
	VBROADCASTSS iq2One<>(SB), Y14
	VBROADCASTSS iq2Half<>(SB), Y13
	VBROADCASTSS iq2Magic<>(SB), Y12
	VPBROADCASTD iq2Mant<>(SB), Y11
	VPBROADCASTD iq2Bias<>(SB), Y10
	VPBROADCASTD iq2Two<>(SB), Y9
	MOVQ ngroups+32(FP), R12
	SHLQ $5, R12 // end of BX
	MOVQ scale+48(FP), R13
	MOVQ lt+56(FP), R14
	XORQ R15, R15
	XORQ BX, BX

group:
	MOVQ xval+8(FP), SI
	MOVQ waux+16(FP), DI
	LEAQ (R14)(BX*8), R8
	VPXOR Y8, Y8, Y8
	LEVEL(0, 0, 256, 0, 0)
	LEVEL(4, 32, 288, 32, 2)
	LEVEL(8, 64, 320, 64, 4)
	LEVEL(12, 96, 352, 96, 6)
	LEVEL(16, 128, 384, 128, 8)
	LEVEL(20, 160, 416, 160, 10)
	LEVEL(24, 192, 448, 192, 12)
	LEVEL(28, 224, 480, 224, 14)
	VMOVDQU Y8, 512(SP)
	XORQ CX, CX

lane:
	MOVL 512(SP)(CX*4), DX
	MOVL (R9)(DX*4), AX
	TESTL AX, AX
	JS offgrid
	MOVQ BX, AX
	SHRQ $2, AX
	ADDQ CX, AX
	BTSQ AX, R15
	JMP next

offgrid:
	MOVL (R10)(DX*4), AX
	MOVL AX, DX
	ANDL $0xff, DX // steps
	SHRL $8, AX    // first step
	MOVQ AX, DI
	SHLQ $4, AX
	LEAQ (R11)(AX*1), R8
	VBROADCASTSS (R13)(CX*4), Y0
	STEP(Y1)
	DECL DX
	JNZ multi

	// One step: the first lane holding the least distance, if below MaxFloat32.
	VPERM2F128 $0x01, Y1, Y1, Y7
	VMINPS Y7, Y1, Y7
	VPERMILPS $0x4E, Y7, Y5
	VMINPS Y5, Y7, Y7
	VPERMILPS $0xB1, Y7, Y5
	VMINPS Y5, Y7, Y7
	VCMPPS $0, Y7, Y1, Y6
	VBROADCASTSS iq2Max<>(SB), Y5
	VCMPPS $1, Y5, Y1, Y5
	VANDPS Y5, Y6, Y6
	VMOVMSKPS Y6, AX
	TESTL AX, AX
	JZ first
	BSFL AX, AX
	JMP found

multi:
	// Each lane keeps its least distance and its first position (Y4).
	VMOVDQU iq2Lanes<>(SB), Y4
	VMOVDQA Y4, Y7
	VPBROADCASTD iq2Eight<>(SB), Y8

more:
	ADDQ $16, R8
	VPADDD Y8, Y7, Y7
	STEP(Y5)
	VCMPPS $1, Y1, Y5, Y6
	VBLENDVPS Y6, Y5, Y1, Y1
	VBLENDVPS Y6, Y7, Y4, Y4
	DECL DX
	JNZ more

	// The least distance over the lanes, at its lowest position.
	VPERM2F128 $0x01, Y1, Y1, Y7
	VMINPS Y7, Y1, Y7
	VPERMILPS $0x4E, Y7, Y5
	VMINPS Y5, Y7, Y7
	VPERMILPS $0xB1, Y7, Y5
	VMINPS Y5, Y7, Y7
	VCMPPS $0, Y7, Y1, Y6
	VBROADCASTSS iq2Max<>(SB), Y5
	VCMPPS $1, Y5, Y1, Y5
	VANDPS Y5, Y6, Y6
	VMOVMSKPS Y6, AX
	TESTL AX, AX
	JZ first
	VPBROADCASTD iq2IntMax<>(SB), Y7
	VBLENDVPS Y6, Y4, Y7, Y4
	VPERM2I128 $0x01, Y4, Y4, Y7
	VPMINSD Y7, Y4, Y4
	VPSHUFD $0x4E, Y4, Y7
	VPMINSD Y7, Y4, Y4
	VPSHUFD $0xB1, Y4, Y7
	VPMINSD Y7, Y4, Y4
	VMOVD X4, AX
	JMP found

first:
	XORL AX, AX

found:
	// The chosen entry's 8 levels to column c of rows 8g..8g+7.
	SHLQ $3, DI
	ADDQ AX, DI
	MOVWLZX (R11)(DI*2), AX
	LEAQ (R14)(BX*8), R8
	LEAQ (R8)(CX*4), R8
	MOVL AX, DX
	ANDL $3, DX
	MOVL DX, 0(R8)
	MOVL AX, DX
	SHRL $2, DX
	ANDL $3, DX
	MOVL DX, 32(R8)
	MOVL AX, DX
	SHRL $4, DX
	ANDL $3, DX
	MOVL DX, 64(R8)
	MOVL AX, DX
	SHRL $6, DX
	ANDL $3, DX
	MOVL DX, 96(R8)
	MOVL AX, DX
	SHRL $8, DX
	ANDL $3, DX
	MOVL DX, 128(R8)
	MOVL AX, DX
	SHRL $10, DX
	ANDL $3, DX
	MOVL DX, 160(R8)
	MOVL AX, DX
	SHRL $12, DX
	ANDL $3, DX
	MOVL DX, 192(R8)
	SHRL $14, AX
	ANDL $3, AX
	MOVL AX, 224(R8)

next:
	INCQ CX
	CMPQ CX, $8
	JLT lane
	ADDQ $32, BX
	CMPQ BX, R12
	JLT group

	// Σ w·x·q and Σ w·q², q = 2L+1, over the values in order, per lane.
	MOVQ xval+8(FP), SI
	MOVQ weight+24(FP), DI
	SHRQ $2, R12 // values
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VPBROADCASTD iq2IntOne<>(SB), Y6
	XORQ AX, AX

sums:
	VMOVDQU (R14), Y2
	VPSLLD $1, Y2, Y2
	VPADDD Y6, Y2, Y2
	VCVTDQ2PS Y2, Y2
	VBROADCASTSS (DI)(AX*4), Y3
	VBROADCASTSS (SI)(AX*4), Y4
	VMULPS Y4, Y3, Y4
	VMULPS Y2, Y4, Y4
	VADDPS Y4, Y0, Y0
	VMULPS Y2, Y3, Y3
	VMULPS Y2, Y3, Y3
	VADDPS Y3, Y1, Y1
	ADDQ $32, R14
	INCQ AX
	CMPQ AX, R12
	JLT sums

	MOVQ sums+64(FP), AX
	VMOVUPS Y0, (AX)
	VMOVUPS Y1, 32(AX)
	MOVQ R15, onGrid+72(FP)
	VZEROUPPER
	RET
