//go:build !purego

package ggml

import "golang.org/x/sys/cpu"

// haveSIMD reports whether the AVX2 candidate-search kernels can run.
var haveSIMD = cpu.X86.HasAVX2

// qkxSumsAVX2 is qkxSums for sixteen candidates (iscale num[k]/rng): it stores each
// element's float levels in lv[i] and the lanes' sumL, sumL2, sumXL in sums.
//
//go:noescape
func qkxSumsAVX2(x, w *float32, n int, num *[16]float32, rng, min float32, nmax int32, lv *[32][16]float32, sums *[48]float32)

// qkxFitAVX2 is qkxFit for sixteen candidates; bit k of the result is lane k's ok.
//
//go:noescape
func qkxFitAVX2(sums *[48]float32, sumW, sumX float32, scale, min *[16]float32) uint32

// qkxErrAVX2 is qkxErrors for sixteen candidates.
//
//go:noescape
func qkxErrAVX2(x, w *float32, n int, lv *[32][16]float32, scale, min *[16]float32, mad bool, err *[16]float32)

// qxSumsAVX2 is make_qx_quants' sumlx (sums[0:24]) and suml2 (sums[24:48]) for 24
// candidate inverse scales num[k]/max, levels clamped to [-nmax, nmax).
//
//go:noescape
func qxSumsAVX2(x, w *float32, n int, num *[24]float32, max float32, nmax int32, sums *[48]float32)

// absMax16AVX2 is absMax32AVX2 for 16 values.
//
//go:noescape
func absMax16AVX2(x *float32) (amax float32, first int, nan bool)

// iq4SumsAVX2 is the IQ4 scale search's sumqx (sums[0:8]) and sumq2 (sums[8:16]) for
// eight inverse scales; tab is the codebook and bcast its values each repeated 8 times.
//
//go:noescape
func iq4SumsAVX2(x, w *float32, n int, id *[8]float32, tab *[16]float32, bcast *[16][8]float32, sums *[16]float32)

// q8RoundAVX2 stores the low bytes of cvtt(roundf(x[j]*id)) for the 32 values of x to y.
//
//go:noescape
func q8RoundAVX2(x *float32, id float32, y *byte)

// q40AVX2 stores Q4_0's 16 nibble-pair bytes for the 32 values of x to y.
//
//go:noescape
func q40AVX2(x *float32, id float32, y *byte)

// absMax32AVX2 is, over 32 values, the largest magnitude among the non-NaN ones, the
// first index holding it (a NaN counting as 0), and whether any value is NaN.
//
//go:noescape
func absMax32AVX2(x *float32) (amax float32, first int, nan bool)

var haveF16C = haveSIMD && cpu.X86.HasF16C

// f32ToF16F16C rounds src to binary16 in dst 8 values at a time, stopping before a
// group holding a NaN; n is a multiple of 8, and it returns the count converted.
//
//go:noescape
func f32ToF16F16C(dst *byte, src *float32, n int) int

// f32ToBF16AVX2 is GGML_FP32_TO_BF16 for n values, n a multiple of 16.
//
//go:noescape
func f32ToBF16AVX2(dst *byte, src *float32, n int)

// mxfp4IdxAVX2 stores MXFP4's 16 nibble-pair bytes for the 32 values of x, given the
// block's 16 candidate values.
//
//go:noescape
func mxfp4IdxAVX2(x *float32, level *[16]float32, y *byte)

// qLevelsAVX2 stores the 32 levels low8(MIN(cap, (int8)cvtt((x[j]-min)*id + bias))).
//
//go:noescape
func qLevelsAVX2(x *float32, min, id, bias float32, cap int32, y *byte)

// minMax32AVX2 is the least and greatest of 32 values, NaNs skipped; a zero result may
// be either zero (see the assembly).
//
//go:noescape
func minMax32AVX2(x *float32) (min, max float32)

// useRows selects the row kernels (rows_amd64.s), which store binary16 scales with
// F16C; tests turn it off to compare them with the per-block kernels.
var useRows = haveSIMD && haveF16C

// q80RowAVX2 quantizes nb Q8_0 blocks of x to y, stopping before the first block
// holding a NaN; it returns the number of blocks done.
//
//go:noescape
func q80RowAVX2(x *float32, y *byte, nb int) int

// q40RowAVX2 quantizes nb Q4_0 blocks of x to y.
//
//go:noescape
func q40RowAVX2(x *float32, y *byte, nb int)

// kLevelsAVX2 stores the k-quants' final levels of nsub sub-blocks of sub values:
// L[i] = off + MAX(lo, MIN(hi, nearestInt((x[i]+dm[j])/d[j]))), skipping sub-blocks
// whose d[j] is 0.
//
//go:noescape
func kLevelsAVX2(x, d, dm *float32, L *byte, nsub, sub int, lo, hi, off int32)

// neighbourD2AVX2 measures n (a multiple of 8) neighbours of grid at once, eight to a
// step: lane k of best and pos holds the least weighted distance it saw and its
// position (pos0 + index in nb), updated only where a distance is strictly smaller.
//
//go:noescape
func neighbourD2AVX2(grid *[8]float32, nb *uint16, n int, xval, weight *float32, scale float32, pos0 int32, best *[8]float32, pos *[8]int32)

// iq3BatchAVX2 evaluates eight candidate inverse scales id (scale = 1/id) of the IQ3
// scale search at once, one per lane: each group of 4 is rounded to levels and, off the
// grid, replaced by its best neighbour at the lane's scale (tab's lists); lt[i][k] gets
// lane k's level of value i, sums lane k's Σ w·x·q (sums[k]) and Σ w·q² (sums[8+k]) with
// q = 2L+1, and bit 8g+k of the result tells whether lane k's group g rounded onto the
// grid. Every lane computes exactly what project and oddLevelSums compute in Go.
//
//go:noescape
func iq3BatchAVX2(tab *iq3Tables, xval, waux, weight *[32]float32, id, scale *[8]float32, lt *[32][8]int32, sums *[16]float32) (onGrid uint64)

// iq2BatchAVX2 is iq3BatchAVX2 for the IQ2 grids (8 levels of 0-2 per group): ngroups
// groups of 8 values (2 or 4), lt rows 0..8*ngroups-1 and bit 8g+k as there.
//
//go:noescape
func iq2BatchAVX2(tab *iq2Tables, xval, waux, weight *float32, ngroups int, id, scale *[8]float32, lt *[32][8]int32, sums *[16]float32) (onGrid uint64)
