//go:build !amd64 || purego

package blas

func winogradIn4AVX512(src *float32, offs *[lanes]int32, wp int, dst *float32, stride int, tmp *[36][lanes]float32) {
	panic("unreachable")
}

func winogradOut4AVX512(src *float32, stride int, dst *float32, addrs *[lanes]int, ow int, masks *[4][lanes]uint16, bias float32, relu bool, tmp *[24][lanes]float32) {
	panic("unreachable")
}

func winogradAVX512() bool { return false }

func inputTransform4Fast(d *[36][lanes]float32) { inputTransform4(d) }

func outputTransform4Fast(o *[16][lanes]float32, s *[36][lanes]float32) { outputTransform4(o, s) }

func winogradIn2AVX512(src *float32, offs *[lanes]int32, wp int, dst *float32, stride int, tmp *[36][lanes]float32) {
	panic("unreachable")
}

func winogradOut2AVX512(src *float32, stride int, dst *float32, offs *[lanes]int32, ow int, masks *[lanes]uint16, bias float32, relu bool, tmp *[24][lanes]float32) {
	panic("unreachable")
}
