package qgemm

import (
	"unsafe"

	"github.com/refit-ml/refit/internal/parallel"
)

// offsKernelFunc is kernelFunc for int8 A and a uint8 B read in place: the four k
// steps of group g for column j are the bytes b[offs[g] + 4*j .. +3], so B is never
// packed. A direct convolution passes the image laid out as blocks of four channels
// ([channel/4][position][channel%4]) and one offset per (tap, channel block): the 32
// columns of a tile are then 32 consecutive positions, 128 contiguous bytes.
type offsKernelFunc func(kg int, a, b *byte, offs *int, c *int32, ldc int, init *int32)

func kernelGoOffs(kg int, pa, pb *byte, po *int, pc *int32, ldc int, init *int32) {
	a := unsafe.Slice((*int8)(unsafe.Pointer(pa)), kg*mr*4)
	offs := unsafe.Slice(po, kg)
	var acc [mr][nr]int32
	for i := range acc {
		acc[i] = *(*[nr]int32)(unsafe.Pointer(init))
	}
	for g := 0; g < kg; g++ {
		ag := a[g*mr*4 : (g+1)*mr*4]
		bg := unsafe.Slice((*uint8)(unsafe.Add(unsafe.Pointer(pb), offs[g])), nr*4)
		for i := 0; i < mr; i++ {
			a0, a1, a2, a3 := int32(ag[4*i]), int32(ag[4*i+1]), int32(ag[4*i+2]), int32(ag[4*i+3])
			row := &acc[i]
			for j := 0; j < nr; j++ {
				bj := bg[4*j : 4*j+4 : 4*j+4]
				row[j] += a0*int32(bj[0]) + a1*int32(bj[1]) + a2*int32(bj[2]) + a3*int32(bj[3])
			}
		}
	}
	c := unsafe.Slice(pc, (mr-1)*ldc+nr)
	for i := 0; i < mr; i++ {
		copy(c[i*ldc:i*ldc+nr], acc[i][:])
	}
}

// OffsetsOK reports whether GemmOffsets takes a with row zero points za: A must be
// packed as int8 (int8 weights against uint8 B, or uint8 ones flipped) with every
// zero point 0 once moved by the flip, so no column sums of B are needed.
func (p *PackedA) OffsetsOK(za []int32) bool {
	return p.packedSigned() && allZero(shiftZero(za, p.m, p.signed, p.flipped))
}

// GemmOffsets sets c[i*ldc + j] = sum over p < K of A[i, p] * (B[p, j] - zb) for
// i < M, j < n, where A is packed (OffsetsOK) and B is uint8, read in place:
// B[p, j] = src[offs[p/4] + 4*j + p%4]. src must hold whole tiles of 32 columns
// (offs[g] + 4*32*ceil(n/32) bytes for every g); columns past n are computed and
// dropped, so their bytes may be anything. Rows past K in the last group must meet
// zero bytes of A (PackA pads them so). threads bounds the goroutines, which split
// the column tiles.
func GemmOffsets(threads int, a *PackedA, src []byte, offs []int, zb int32, n int, c []int32, ldc int) {
	if a.m <= 0 || n <= 0 {
		return
	}
	if !a.packedSigned() || len(offs) != a.kg {
		panic("qgemm: GemmOffsets operands do not match")
	}
	tiles := (n + nr - 1) / nr
	for _, o := range offs {
		if o < 0 || o+tiles*nr*4 > len(src) {
			panic("qgemm: GemmOffsets reads past its source")
		}
	}
	if len(c) < (a.m-1)*ldc+n {
		panic("qgemm: GemmOffsets output too small")
	}
	fn := kernel.offs
	parallel.For(threads, tiles, 1, func(t0, t1 int) {
		var tile [mr * nr]int32
		for ti := t0; ti < t1; ti++ {
			j0 := ti * nr
			cols := min(nr, n-j0)
			bp := &src[j0*4]
			for s := 0; s < a.m; s += mr {
				sr := min(mr, a.m-s)
				ap := &a.strips[s*a.kg*4]
				if sr == mr && cols == nr {
					dst := c[s*ldc+j0:]
					fn(a.kg, ap, bp, &offs[0], &dst[0], ldc, &zeroInit[0])
					for i := 0; i < mr; i++ {
						fixOffsets(dst[i*ldc:i*ldc+nr], a.rowSums[s+i]*zb)
					}
					continue
				}
				fn(a.kg, ap, bp, &offs[0], &tile[0], nr, &zeroInit[0])
				for i := 0; i < sr; i++ {
					dst := c[(s+i)*ldc+j0 : (s+i)*ldc+j0+cols]
					copy(dst, tile[i*nr:i*nr+cols])
					fixOffsets(dst, a.rowSums[s+i]*zb)
				}
			}
		}
	})
}

// fixOffsets subtracts a row's zero-point term rowSum*zb from its sums.
func fixOffsets(c []int32, d int32) {
	if d == 0 {
		return
	}
	for j := range c {
		c[j] -= d
	}
}
