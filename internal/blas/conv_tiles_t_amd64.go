//go:build amd64 && !purego

package blas

import "golang.org/x/sys/cpu"

//go:generate python3 conv_tiles_t_gen.py conv_tiles_t_amd64.s

//go:noescape
func convTileT1x64AVX512(k int, img *float32, offs *int, b *float32, c *float32, ldc int)

//go:noescape
func convTileT2x64AVX512(k int, img *float32, offs *int, b *float32, c *float32, ldc int)

//go:noescape
func convTileT3x64AVX512(k int, img *float32, offs *int, b *float32, c *float32, ldc int)

//go:noescape
func convTileT4x64AVX512(k int, img *float32, offs *int, b *float32, c *float32, ldc int)

//go:noescape
func convTileT5x64AVX512(k int, img *float32, offs *int, b *float32, c *float32, ldc int)

//go:noescape
func convTileT6x64AVX512(k int, img *float32, offs *int, b *float32, c *float32, ldc int)

//go:noescape
func convTileT7x64AVX512(k int, img *float32, offs *int, b *float32, c *float32, ldc int)

//go:noescape
func convTileT1x16AVX2(k int, img *float32, offs *int, b *float32, c *float32, ldc int)

//go:noescape
func convTileT2x16AVX2(k int, img *float32, offs *int, b *float32, c *float32, ldc int)

//go:noescape
func convTileT3x16AVX2(k int, img *float32, offs *int, b *float32, c *float32, ldc int)

//go:noescape
func convTileT4x16AVX2(k int, img *float32, offs *int, b *float32, c *float32, ldc int)

//go:noescape
func convTileT5x16AVX2(k int, img *float32, offs *int, b *float32, c *float32, ldc int)

//go:noescape
func convTileT6x16AVX2(k int, img *float32, offs *int, b *float32, c *float32, ldc int)

// convTileSetsT lists the transposed tile sets this CPU runs, best first, the
// portable one last.
func convTileSetsT() []convTileSetT {
	var sets []convTileSetT
	if cpu.X86.HasAVX512F {
		sets = append(sets, convTileSetT{"avx512-7x64", []convTileTFunc{convTileT1x64AVX512, convTileT2x64AVX512, convTileT3x64AVX512, convTileT4x64AVX512, convTileT5x64AVX512, convTileT6x64AVX512, convTileT7x64AVX512}, 64})
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		sets = append(sets, convTileSetT{"avx2-6x16", []convTileTFunc{convTileT1x16AVX2, convTileT2x16AVX2, convTileT3x16AVX2, convTileT4x16AVX2, convTileT5x16AVX2, convTileT6x16AVX2}, 16})
	}
	return append(sets, goTileSetT)
}
