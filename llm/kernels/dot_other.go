//go:build !amd64 || purego

package kernels

const haveAVX2 = false

func dotQ8_0AVX2(row *byte, q *int8, d *float32, nb int) float32 { panic("unreachable") }

func dotQ4KLanesAVX2(row *byte, q *int8, scales *int16, dd *float32, nb int, sums *[8]float32) {
	panic("unreachable")
}

func dotQ6KLanesAVX2(row *byte, q *int8, dd *float32, nb int, sums *[8]float32) { panic("unreachable") }

func dotQ4_0AVX2(row *byte, q *int8, d *float32, nb int) float32 { panic("unreachable") }

func dotQ5KLanesAVX2(row *byte, q *int8, scales *int16, dd *float32, nb int, sums *[8]float32) {
	panic("unreachable")
}

func dotIQ4XSAVX2(qs *byte, q *int8, fac *float32, nsub int, table *[16]int8, sum *float32) {
	panic("unreachable")
}

func dequantQ8_0AVX2(dst *float32, row *byte, nb int) { panic("unreachable") }

func dequantQ4KAVX2(dst *float32, qs *byte, fac *float32, mins *float32) { panic("unreachable") }

func dequantQ6KAVX2(dst *float32, blk *byte, fac *float32) { panic("unreachable") }
