//go:build !purego

#include "textflag.h"

DATA iq3One<>+0(SB)/4, $0x3f800000
GLOBL iq3One<>(SB), RODATA|NOPTR, $4
DATA iq3Half<>+0(SB)/4, $0x3f000000
GLOBL iq3Half<>(SB), RODATA|NOPTR, $4
DATA iq3Magic<>+0(SB)/4, $0x4b400000 // 12582912, nearest_int's offset
GLOBL iq3Magic<>(SB), RODATA|NOPTR, $4
DATA iq3Mant<>+0(SB)/4, $0x007fffff
GLOBL iq3Mant<>(SB), RODATA|NOPTR, $4
DATA iq3Bias<>+0(SB)/4, $0x00400000
GLOBL iq3Bias<>(SB), RODATA|NOPTR, $4
DATA iq3Seven<>+0(SB)/4, $7
GLOBL iq3Seven<>(SB), RODATA|NOPTR, $4
DATA iq3IntOne<>+0(SB)/4, $1
GLOBL iq3IntOne<>(SB), RODATA|NOPTR, $4
DATA iq3Eight<>+0(SB)/4, $8
GLOBL iq3Eight<>(SB), RODATA|NOPTR, $4
DATA iq3Max<>+0(SB)/4, $0x7f7fffff // math.MaxFloat32
GLOBL iq3Max<>(SB), RODATA|NOPTR, $4
DATA iq3IntMax<>+0(SB)/4, $0x7fffffff
GLOBL iq3IntMax<>(SB), RODATA|NOPTR, $4
DATA iq3Lanes<>+0(SB)/8, $0x0000000100000000
DATA iq3Lanes<>+8(SB)/8, $0x0000000300000002
DATA iq3Lanes<>+16(SB)/8, $0x0000000500000004
DATA iq3Lanes<>+24(SB)/8, $0x0000000700000006
GLOBL iq3Lanes<>(SB), RODATA|NOPTR, $32

// LEVEL computes one dimension of the group at BX (byte offset 16*g) for the eight
// candidates: nearest_int(0.5*(id*x - 1)) clamped to [0, 7], in the scalar order. It
// stores the levels to row 4g+i of lt (R8), ORs them into the packed points in Y8, and
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
// neighbours of the step at R8 to D, as iq3_find_best_neighbour orders it.
#define NTERM(D, coff, xsp, wsp) \
	VMULPS coff(R8), Y0, Y2; \
	VSUBPS xsp(SP), Y2, Y2; \
	VMULPS wsp(SP), Y2, Y3; \
	VMULPS Y2, Y3, Y3; \
	VADDPS Y3, D, D

#define STEP(D) \
	VXORPS D, D, D; \
	NTERM(D, 0, 0, 128); \
	NTERM(D, 32, 32, 160); \
	NTERM(D, 64, 64, 192); \
	NTERM(D, 96, 96, 224)

// func iq3BatchAVX2(tab *iq3Tables, xval, waux, weight *[32]float32, id, scale *[8]float32, lt *[32][8]int32, sums *[16]float32) (onGrid uint64)
// Eight candidate scales of the IQ3 scale search at once, one per lane; see iq3Search.
// Frame: x broadcasts at 0(SP), waux broadcasts at 128(SP), packed points at 256(SP).
TEXT ·iq3BatchAVX2(SB), $320-72
	MOVQ tab+0(FP), AX
	MOVQ 0(AX), R9  // kmap
	MOVQ 8(AX), R10 // info
	MOVQ 16(AX), R11 // coords
	MOVQ 24(AX), R12 // levels
	MOVQ id+32(FP), AX
	VMOVUPS (AX), Y15
	VBROADCASTSS iq3One<>(SB), Y14
	VBROADCASTSS iq3Half<>(SB), Y13
	VBROADCASTSS iq3Magic<>(SB), Y12
	VPBROADCASTD iq3Mant<>(SB), Y11
	VPBROADCASTD iq3Bias<>(SB), Y10
	VPBROADCASTD iq3Seven<>(SB), Y9
	MOVQ scale+40(FP), R13
	MOVQ lt+48(FP), R14
	XORQ R15, R15
	XORQ BX, BX

group:
	MOVQ xval+8(FP), SI
	MOVQ waux+16(FP), DI
	LEAQ (R14)(BX*8), R8
	VPXOR Y8, Y8, Y8
	LEVEL(0, 0, 128, 0, 0)
	LEVEL(4, 32, 160, 32, 3)
	LEVEL(8, 64, 192, 64, 6)
	LEVEL(12, 96, 224, 96, 9)
	VMOVDQU Y8, 256(SP)
	XORQ CX, CX

lane:
	MOVL 256(SP)(CX*4), DX
	MOVL (R9)(DX*4), AX
	TESTL AX, AX
	JS offgrid
	MOVQ BX, AX
	SHRQ $1, AX
	ADDQ CX, AX
	BTSQ AX, R15
	JMP next

offgrid:
	MOVL (R10)(DX*4), AX
	MOVL AX, DX
	ANDL $0xff, DX // steps
	SHRL $8, AX    // first step
	MOVQ AX, DI
	SHLQ $7, AX
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
	VBROADCASTSS iq3Max<>(SB), Y5
	VCMPPS $1, Y5, Y1, Y5
	VANDPS Y5, Y6, Y6
	VMOVMSKPS Y6, AX
	TESTL AX, AX
	JZ first
	BSFL AX, AX
	JMP found

multi:
	// Each lane keeps its least distance and its first position (Y4).
	VMOVDQU iq3Lanes<>(SB), Y4
	VMOVDQA Y4, Y7
	VPBROADCASTD iq3Eight<>(SB), Y8

more:
	ADDQ $128, R8
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
	VBROADCASTSS iq3Max<>(SB), Y5
	VCMPPS $1, Y5, Y1, Y5
	VANDPS Y5, Y6, Y6
	VMOVMSKPS Y6, AX
	TESTL AX, AX
	JZ first
	VPBROADCASTD iq3IntMax<>(SB), Y7
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
	// Copy the chosen entry's 4 levels to column c of rows 4g..4g+3.
	SHLQ $3, DI
	ADDQ AX, DI
	SHLQ $4, DI
	ADDQ R12, DI
	LEAQ (R14)(BX*8), R8
	LEAQ (R8)(CX*4), R8
	MOVL 0(DI), AX
	MOVL AX, 0(R8)
	MOVL 4(DI), AX
	MOVL AX, 32(R8)
	MOVL 8(DI), AX
	MOVL AX, 64(R8)
	MOVL 12(DI), AX
	MOVL AX, 96(R8)
	MOVQ waux+16(FP), DI

next:
	INCQ CX
	CMPQ CX, $8
	JLT lane
	ADDQ $16, BX
	CMPQ BX, $128
	JLT group

	// Σ w·x·q and Σ w·q², q = 2L+1, over the 32 values in order, per lane.
	MOVQ xval+8(FP), SI
	MOVQ weight+24(FP), DI
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VPBROADCASTD iq3IntOne<>(SB), Y6
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
	CMPQ AX, $32
	JLT sums

	MOVQ sums+56(FP), AX
	VMOVUPS Y0, (AX)
	VMOVUPS Y1, 32(AX)
	MOVQ R15, onGrid+64(FP)
	VZEROUPPER
	RET
