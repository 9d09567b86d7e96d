//go:build amd64 && !purego

package blas

import "golang.org/x/sys/cpu"

//go:generate python3 conv_inplace_gen.py conv_inplace_amd64.s

// convTile16x16AVX512 is sgemmKernel16x16AVX512 (alpha 1) with row k of B read at
// b + offs[k] floats: see convTileFunc.
//
//go:noescape
func convTile16x16AVX512(kc int, a, b *float32, offs *int, c *float32, ldc int, acc int)

// convTile16x8AVX512 is the left 16x8 of convTile16x16AVX512 (256-bit FMAs on Y16 and
// up, so it needs AVX-512VL).
//
//go:noescape
func convTile16x8AVX512(kc int, a, b *float32, offs *int, c *float32, ldc int, acc int)

// convTile6x16AVX2 is sgemmKernel6x16AVX2 (alpha 1) with row k of B read at
// b + offs[k] floats.
//
//go:noescape
func convTile6x16AVX2(kc int, a, b *float32, offs *int, c *float32, ldc int, acc int)

// convTile6x8AVX2 is the left 6x8 of convTile6x16AVX2.
//
//go:noescape
func convTile6x8AVX2(kc int, a, b *float32, offs *int, c *float32, ldc int, acc int)

// convTile16x16EpiAVX512 is convTile16x16AVX512 for the last block of k: the tile
// plus C (acc != 0), plus bias[i] per row, Relu'd when relu != 0, is stored to y with
// the columns whose bits are set in mask packed together (storeMask has the low
// popcount(mask) bits set), row i at y + i*ldy. It needs AVX-512VL only for the half
// variant.
//
//go:noescape
func convTile16x16EpiAVX512(kc int, a, b *float32, offs *int, c *float32, ldc int, acc int, bias *float32, relu int, y *float32, ldy int, mask, storeMask int)

// convTile16x8EpiAVX512 is the left 16x8 of convTile16x16EpiAVX512 (AVX-512VL).
//
//go:noescape
func convTile16x8EpiAVX512(kc int, a, b *float32, offs *int, c *float32, ldc int, acc int, bias *float32, relu int, y *float32, ldy int, mask, storeMask int)

// convEpilogueTiles returns the in-place tiles that also store the convolution's
// output (convTileEpiFunc) for micro-kernel k, or false when k has none.
func convEpilogueTiles(k microKernel) (full, half convTileEpiFunc, ok bool) {
	if k.name != avx512Kernel.name || !cpu.X86.HasAVX512VL {
		return nil, nil, false
	}
	return convTile16x16EpiAVX512, convTile16x8EpiAVX512, true
}

// convTiles returns the in-place tiles matching micro-kernel k, or false when there
// are none (the caller then packs B).
func convTiles(k microKernel) (full, half convTileFunc, ok bool) {
	switch k.name {
	case avx512Kernel.name:
		if cpu.X86.HasAVX512VL {
			half = convTile16x8AVX512
		}
		return convTile16x16AVX512, half, true
	case avx2Kernel.name:
		return convTile6x16AVX2, convTile6x8AVX2, true
	case genericKernel.name:
		return convTile4x4, nil, true
	}
	return nil, nil, false
}
