# Writes conv_inplace_amd64.s (go generate in internal/blas; needs python3).
# The tiles are the micro-kernels of kernel_*_amd64.s with B rows read through offsets.
out = []
w = out.append
w("//go:build amd64 && !purego\n")
w('#include "textflag.h"\n')
w("// In-place convolution tiles: the micro-kernels of kernel_*_amd64.s with row k of the")
w("// B panel read from b + offs[k] floats (a row of an image in a ShiftLayout) instead")
w("// of a packed panel. acc != 0 adds the tile to C; otherwise C is overwritten.\n")

def avx512(name, vreg, width, epi=False):
    rows = 16
    if epi:
        w(f"// func {name}(kc int, a, b *float32, offs *int, c *float32, ldc int, acc int, bias *float32, relu int, y *float32, ldy int, mask, storeMask int)")
        w(f"TEXT ·{name}(SB), NOSPLIT, $0-104")
    else:
        w(f"// func {name}(kc int, a, b *float32, offs *int, c *float32, ldc int, acc int)")
        w(f"TEXT ·{name}(SB), NOSPLIT, $0-56")
    w("\tMOVQ kc+0(FP), CX\n\tMOVQ a+8(FP), AX\n\tMOVQ b+16(FP), BX\n\tMOVQ offs+24(FP), SI\n\tMOVQ c+32(FP), DI\n\tMOVQ ldc+40(FP), DX\n\tSHLQ $2, DX")
    for i in range(rows):
        w(f"\tVPXORD {vreg}{i}, {vreg}{i}, {vreg}{i}")
    def step(aoff, ooff, oreg, breg):
        w(f"\tMOVQ {ooff}(SI), {oreg}")
        w(f"\tVMOVUPS (BX)({oreg}*4), {breg}")
        for i in range(rows):
            w(f"\tVFMADD231PS.BCST {aoff+4*i}(AX), {breg}, {vreg}{i}")
    w(f"\n{name}_loop4:\n\tCMPQ CX, $4\n\tJLT {name}_tail")
    w("\tPREFETCHT0 1024(AX)")
    step(0, 0, "R8", f"{vreg}16")
    w("\tPREFETCHT0 1088(AX)")
    step(64, 8, "R9", f"{vreg}17")
    w("\tPREFETCHT0 1152(AX)")
    step(128, 16, "R10", f"{vreg}16")
    w("\tPREFETCHT0 1216(AX)")
    step(192, 24, "R11", f"{vreg}17")
    w(f"\tADDQ $256, AX\n\tADDQ $32, SI\n\tSUBQ $4, CX\n\tJMP {name}_loop4")
    w(f"\n{name}_tail:\n\tTESTQ CX, CX\n\tJEQ {name}_done")
    step(0, 0, "R8", f"{vreg}16")
    w(f"\tADDQ $64, AX\n\tADDQ $8, SI\n\tDECQ CX\n\tJMP {name}_tail")
    if epi:
        epilogue(name, vreg, rows)
        return
    w(f"\n{name}_done:\n\tMOVQ acc+48(FP), R8\n\tTESTQ R8, R8\n\tJNE {name}_add")
    for i in range(rows):
        w(f"\tVMOVUPS {vreg}{i}, (DI)\n\tADDQ DX, DI")
    w("\tVZEROUPPER\n\tRET")
    w(f"\n{name}_add:")
    for i in range(rows):
        w(f"\tVADDPS (DI), {vreg}{i}, {vreg}{i}\n\tVMOVUPS {vreg}{i}, (DI)\n\tADDQ DX, DI")
    w("\tVZEROUPPER\n\tRET\n")

def epilogue(name, vreg, rows):
    # Row i: + the partial sums of C (acc != 0), + bias[i], Relu (NaN kept: max(0, x)
    # returns its second operand, x, when either is NaN), then the columns in mask
    # packed together (the layout's gap columns dropped) and stored to y row i.
    w(f"\n{name}_done:\n\tMOVQ acc+48(FP), R8\n\tTESTQ R8, R8\n\tJEQ {name}_bias")
    for i in range(rows):
        w(f"\tVADDPS (DI), {vreg}{i}, {vreg}{i}\n\tADDQ DX, DI")
    w(f"\n{name}_bias:\n\tMOVQ bias+56(FP), R9")
    for i in range(rows):
        w(f"\tVADDPS.BCST {4*i}(R9), {vreg}{i}, {vreg}{i}")
    w(f"\tMOVQ relu+64(FP), R10\n\tTESTQ R10, R10\n\tJEQ {name}_store\n\tVPXORD {vreg}18, {vreg}18, {vreg}18")
    for i in range(rows):
        w(f"\tVMAXPS {vreg}{i}, {vreg}18, {vreg}{i}")
    full = 0xFFFF if vreg == "Z" else 0xFF
    w(f"\n{name}_store:\n\tMOVQ y+72(FP), R11\n\tMOVQ ldy+80(FP), R12\n\tSHLQ $2, R12\n\tMOVQ mask+88(FP), R13")
    # Every column an output position (most tiles of wide images): plain stores.
    w(f"\tCMPQ R13, ${full}\n\tJNE {name}_compress")
    for i in range(rows):
        w(f"\tVMOVUPS {vreg}{i}, (R11)\n\tADDQ R12, R11")
    w("\tVZEROUPPER\n\tRET")
    w(f"\n{name}_compress:\n\tKMOVW R13, K1\n\tMOVQ storeMask+96(FP), R13\n\tKMOVW R13, K2")
    for i in range(rows):
        w(f"\tVCOMPRESSPS {vreg}{i}, K1, {vreg}{i}\n\tVMOVUPS {vreg}{i}, K2, (R11)\n\tADDQ R12, R11")
    w("\tVZEROUPPER\n\tRET\n")

def avx2(name, half):
    # 6 rows x 16 (or 8 when half) columns; Y0..Y11 accumulate.
    rows = 6
    cols = 1 if half else 2
    w(f"// func {name}(kc int, a, b *float32, offs *int, c *float32, ldc int, acc int)")
    w(f"TEXT ·{name}(SB), NOSPLIT, $0-56")
    w("\tMOVQ kc+0(FP), CX\n\tMOVQ a+8(FP), AX\n\tMOVQ b+16(FP), BX\n\tMOVQ offs+24(FP), SI\n\tMOVQ c+32(FP), DI\n\tMOVQ ldc+40(FP), DX\n\tSHLQ $2, DX")
    for i in range(rows*cols):
        w(f"\tVXORPS Y{i}, Y{i}, Y{i}")
    def step(aoff, ooff, oreg):
        w(f"\tMOVQ {ooff}(SI), {oreg}")
        w(f"\tVMOVUPS (BX)({oreg}*4), Y12")
        if cols == 2:
            w(f"\tVMOVUPS 32(BX)({oreg}*4), Y13")
        for i in range(rows):
            t = "Y14" if i % 2 == 0 else "Y15"
            w(f"\tVBROADCASTSS {aoff+4*i}(AX), {t}")
            for j in range(cols):
                w(f"\tVFMADD231PS Y{12+j}, {t}, Y{i*cols+j}")
    w(f"\n{name}_loop4:\n\tCMPQ CX, $4\n\tJLT {name}_tail")
    step(0, 0, "R8")
    step(24, 8, "R9")
    step(48, 16, "R10")
    step(72, 24, "R11")
    w(f"\tADDQ $96, AX\n\tADDQ $32, SI\n\tSUBQ $4, CX\n\tJMP {name}_loop4")
    w(f"\n{name}_tail:\n\tTESTQ CX, CX\n\tJEQ {name}_done")
    step(0, 0, "R8")
    w(f"\tADDQ $24, AX\n\tADDQ $8, SI\n\tDECQ CX\n\tJMP {name}_tail")
    w(f"\n{name}_done:\n\tMOVQ acc+48(FP), R8\n\tTESTQ R8, R8\n\tJNE {name}_add")
    for i in range(rows):
        for j in range(cols):
            w(f"\tVMOVUPS Y{i*cols+j}, {32*j}(DI)")
        w("\tADDQ DX, DI")
    w("\tVZEROUPPER\n\tRET")
    w(f"\n{name}_add:")
    for i in range(rows):
        for j in range(cols):
            r = f"Y{i*cols+j}"
            w(f"\tVADDPS {32*j}(DI), {r}, {r}\n\tVMOVUPS {r}, {32*j}(DI)")
        w("\tADDQ DX, DI")
    w("\tVZEROUPPER\n\tRET\n")

avx512("convTile16x16AVX512", "Z", 16)
avx512("convTile16x8AVX512", "Y", 8)
avx512("convTile16x16EpiAVX512", "Z", 16, epi=True)
avx512("convTile16x8EpiAVX512", "Y", 8, epi=True)
avx2("convTile6x16AVX2", False)
avx2("convTile6x8AVX2", True)
import sys
open(sys.argv[1], "w").write("\n".join(out))
