//go:build amd64 && !purego

package kernels

import "golang.org/x/sys/cpu"

// haveAVX2 selects the assembly kernels: AVX2 for the integer products, F16C for the
// float16 block scales.
var haveAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasF16C

// dotQ8_0AVX2 is dotQ8_0Go over nb blocks of row and the activation's values q and
// scales d.
//
//go:noescape
func dotQ8_0AVX2(row *byte, q *int8, d *float32, nb int) float32

// dotQ4KLanesAVX2 adds the float lanes of nb Q4_K blocks to sums: per block the
// integer lanes of its 8 sub-blocks (scales: 8 per block) times dd[block].
//
//go:noescape
func dotQ4KLanesAVX2(row *byte, q *int8, scales *int16, dd *float32, nb int, sums *[8]float32)

// dotQ6KLanesAVX2 is dotQ4KLanesAVX2 for Q6_K, which holds its scales in the block.
//
//go:noescape
func dotQ6KLanesAVX2(row *byte, q *int8, dd *float32, nb int, sums *[8]float32)

// dotQ4_0AVX2 is dotQ4_0Go over nb blocks.
//
//go:noescape
func dotQ4_0AVX2(row *byte, q *int8, d *float32, nb int) float32

// dotQ5KLanesAVX2 is dotQ4KLanesAVX2 for Q5_K.
//
//go:noescape
func dotQ5KLanesAVX2(row *byte, q *int8, scales *int16, dd *float32, nb int, sums *[8]float32)

// dotIQ4XSAVX2 adds fac[i] times the integer sum of sub-block i, for nsub sub-blocks
// of one IQ4_XS block, to *sum.
//
//go:noescape
func dotIQ4XSAVX2(qs *byte, q *int8, fac *float32, nsub int, table *[16]int8, sum *float32)

// dequantQ8_0AVX2 decodes nb Q8_0 blocks of row into dst.
//
//go:noescape
func dequantQ8_0AVX2(dst *float32, row *byte, nb int)

// dequantQ4KAVX2 decodes one Q4_K block's nibbles at qs into 256 values of dst, sub-block
// j as float32(fac[j]*q) - mins[j].
//
//go:noescape
func dequantQ4KAVX2(dst *float32, qs *byte, fac *float32, mins *float32)

// dequantQ6KAVX2 decodes one Q6_K block into 256 values of dst, sub-block j of 16
// values times fac[j].
//
//go:noescape
func dequantQ6KAVX2(dst *float32, blk *byte, fac *float32)
