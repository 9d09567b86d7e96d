//go:build amd64 && !purego

package blas

import "golang.org/x/sys/cpu"

// winogradIn4AVX512 transforms sixteen 6 x 6 tiles for F(4x4, 3x3): lane l's
// tile starts at src[offs[l]] with rows wp floats apart; matrix xi of the result
// is stored at dst[xi*stride:][:16]. tmp is scratch.
//
//go:noescape
func winogradIn4AVX512(src *float32, offs *[lanes]int32, wp int, dst *float32, stride int, tmp *[36][lanes]float32)

// winogradOut4AVX512 transforms sixteen tiles back: matrix xi of lane l is
// src[xi*stride+l]; row i of lane l's 4 x 4 output, plus bias and, with relu, v < 0 ? 0 : v
// (NaNs and -0 kept), is stored at the byte offset addrs[l]+4*i*ow from dst,
// column j only when bit j of masks[i][l] is set. tmp is scratch.
//
//go:noescape
func winogradOut4AVX512(src *float32, stride int, dst *float32, addrs *[lanes]int, ow int, masks *[4][lanes]uint16, bias float32, relu bool, tmp *[24][lanes]float32)

// winogradAVX512 reports whether the F(4x4) transforms run in AVX-512 (gathers,
// scatters and mask registers): on the AVX-512 micro-kernel, whose panels are 16
// tiles wide.
func winogradAVX512() bool {
	return cpu.X86.HasAVX512F && kernel.nr == lanes
}

// inputTransform4AVX2 is inputTransform4 in AVX2 and FMA.
//
//go:noescape
func inputTransform4AVX2(d *[36][lanes]float32)

// outputTransform4AVX2 is outputTransform4 in AVX2 and FMA.
//
//go:noescape
func outputTransform4AVX2(o *[16][lanes]float32, s *[36][lanes]float32)

var winogradAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

func inputTransform4Fast(d *[36][lanes]float32) {
	if winogradAVX2 {
		inputTransform4AVX2(d)
		return
	}
	inputTransform4(d)
}

func outputTransform4Fast(o *[16][lanes]float32, s *[36][lanes]float32) {
	if winogradAVX2 {
		outputTransform4AVX2(o, s)
		return
	}
	outputTransform4(o, s)
}

// winogradIn2AVX512 is winogradIn4AVX512 for F(2x2, 3x3): 4 x 4 tiles, 16 matrices.
//
//go:noescape
func winogradIn2AVX512(src *float32, offs *[lanes]int32, wp int, dst *float32, stride int, tmp *[36][lanes]float32)

// winogradOut2AVX512 is winogradOut4AVX512 for F(2x2, 3x3): 2 x 2 outputs, masks[i*2+j].
//
//go:noescape
func winogradOut2AVX512(src *float32, stride int, dst *float32, offs *[lanes]int32, ow int, masks *[lanes]uint16, bias float32, relu bool, tmp *[24][lanes]float32)
