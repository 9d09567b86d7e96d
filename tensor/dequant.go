package tensor

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/refit-ml/refit/internal/parallel"
)

// ErrUnsupported reports a valid type this package cannot (yet) decode.
var ErrUnsupported = errors.New("unsupported")

// Dequantize decodes len(dst) elements of block type d from src into dst. The output
// is bit-identical to ggml's reference dequantization (dequantize_row_*), whose float
// operation order the kernels keep. Large inputs are split by blocks across up to
// threads goroutines (threads <= 0 means GOMAXPROCS); the output does not depend on
// threads.
func Dequantize(dst []float32, src []byte, d DType, threads int) error {
	if !d.Quantized() {
		return fmt.Errorf("tensor: %v is not a block type", d)
	}
	bs, ts := d.BlockSize(), d.TypeSize()
	if len(dst)%bs != 0 || len(src)/ts != len(dst)/bs || len(src)%ts != 0 {
		return fmt.Errorf("tensor: cannot dequantize %d bytes of %v into %d values", len(src), d, len(dst))
	}
	kernel := dequantizers[d]
	if kernel == nil {
		return fmt.Errorf("tensor: dequantizing %v: %w", d, ErrUnsupported)
	}
	n := len(dst) / bs
	if n < 2*parallelMinBlocks || parallel.Threads(threads) == 1 {
		kernel(dst, src) // without the closure, which would allocate
		return nil
	}
	parallel.For(threads, n, parallelMinBlocks, func(lo, hi int) { kernel(dst[lo*bs:hi*bs], src[lo*ts:hi*ts]) })
	return nil
}

// parallelMinBlocks is the least work (in blocks) worth a goroutine of its own.
const parallelMinBlocks = 2048

// A dequantizer decodes whole blocks: len(dst)/BlockSize blocks from src.
type dequantizer func(dst []float32, src []byte)

var dequantizers = [numDTypes]dequantizer{
	Q4_0:    dequantQ4_0,
	Q4_1:    dequantQ4_1,
	Q5_0:    dequantQ5_0,
	Q5_1:    dequantQ5_1,
	Q8_0:    dequantQ8_0,
	Q8_1:    dequantQ8_1,
	Q2_K:    dequantQ2K,
	Q3_K:    dequantQ3K,
	Q4_K:    dequantQ4K,
	Q5_K:    dequantQ5K,
	Q6_K:    dequantQ6K,
	Q8_K:    dequantQ8K,
	IQ4_NL:  dequantIQ4NL,
	IQ4_XS:  dequantIQ4XS,
	TQ1_0:   dequantTQ1_0,
	TQ2_0:   dequantTQ2_0,
	MXFP4:   dequantMXFP4,
	IQ2_XXS: dequantIQ2XXS,
	IQ2_XS:  dequantIQ2XS,
	IQ2_S:   dequantIQ2S,
	IQ3_XXS: dequantIQ3XXS,
	IQ3_S:   dequantIQ3S,
	IQ1_S:   dequantIQ1S,
	IQ1_M:   dequantIQ1M,
}

// Go may fuse x*y+z into one FMA; ggml's reference rounds the product first. An explicit
// float32() conversion forces that rounding, so products that feed an add are wrapped.

func f16At(b []byte, off int) float32 { return F16ToF32(binary.LittleEndian.Uint16(b[off:])) }

func dequantQ4_0(dst []float32, src []byte) {
	for len(dst) >= 32 && len(src) >= 18 {
		d := f16At(src, 0)
		qs := src[2:18]
		for j, q := range qs {
			dst[j] = float32(int(q&0xf)-8) * d
			dst[j+16] = float32(int(q>>4)-8) * d
		}
		dst, src = dst[32:], src[18:]
	}
}

func dequantQ4_1(dst []float32, src []byte) {
	for len(dst) >= 32 && len(src) >= 20 {
		d, m := f16At(src, 0), f16At(src, 2)
		qs := src[4:20]
		for j, q := range qs {
			dst[j] = float32(float32(q&0xf)*d) + m
			dst[j+16] = float32(float32(q>>4)*d) + m
		}
		dst, src = dst[32:], src[20:]
	}
}

func dequantQ5_0(dst []float32, src []byte) {
	for len(dst) >= 32 && len(src) >= 22 {
		d := f16At(src, 0)
		qh := binary.LittleEndian.Uint32(src[2:])
		qs := src[6:22]
		for j, q := range qs {
			h0 := byte(qh>>j<<4) & 0x10
			h1 := byte(qh>>(j+12)) & 0x10
			dst[j] = float32(int(q&0xf|h0)-16) * d
			dst[j+16] = float32(int(q>>4|h1)-16) * d
		}
		dst, src = dst[32:], src[22:]
	}
}

func dequantQ5_1(dst []float32, src []byte) {
	for len(dst) >= 32 && len(src) >= 24 {
		d, m := f16At(src, 0), f16At(src, 2)
		qh := binary.LittleEndian.Uint32(src[4:])
		qs := src[8:24]
		for j, q := range qs {
			h0 := byte(qh>>j<<4) & 0x10
			h1 := byte(qh>>(j+12)) & 0x10
			dst[j] = float32(float32(q&0xf|h0)*d) + m
			dst[j+16] = float32(float32(q>>4|h1)*d) + m
		}
		dst, src = dst[32:], src[24:]
	}
}

func dequantQ8_0(dst []float32, src []byte) {
	for len(dst) >= 32 && len(src) >= 34 {
		d := f16At(src, 0)
		for j, q := range src[2:34] {
			dst[j] = float32(int8(q)) * d
		}
		dst, src = dst[32:], src[34:]
	}
}

// dequantQ8_1 decodes d*q; the second half (the block sum s) is not needed. ggml has no
// to_float for Q8_1 (it is an intermediate type); this matches Q8_0 over the same d and q.
func dequantQ8_1(dst []float32, src []byte) {
	for len(dst) >= 32 && len(src) >= 36 {
		d := f16At(src, 0)
		for j, q := range src[4:36] {
			dst[j] = float32(int8(q)) * d
		}
		dst, src = dst[32:], src[36:]
	}
}

func dequantMXFP4(dst []float32, src []byte) {
	for len(dst) >= 32 && len(src) >= 17 {
		d := e8m0Half(src[0])
		for j, q := range src[1:17] {
			dst[j] = float32(kvaluesFP4[q&0xf]) * d
			dst[j+16] = float32(kvaluesFP4[q>>4]) * d
		}
		dst, src = dst[32:], src[17:]
	}
}

// e8m0Half is half the E8M0 scale, 2^(e-128), as ggml folds the E2M1 halving into it.
func e8m0Half(e byte) float32 {
	if e < 2 {
		return math.Float32frombits(0x00200000 << e)
	}
	return math.Float32frombits(uint32(e-1) << 23)
}

// kvaluesFP4 are the E2M1 values doubled, indexed by the 4-bit code.
var kvaluesFP4 = [16]int8{0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12}

// kvaluesIQ4NL is IQ4_NL's non-linear 4-bit codebook.
var kvaluesIQ4NL = [16]int8{-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113}

func dequantIQ4NL(dst []float32, src []byte) {
	for len(dst) >= 32 && len(src) >= 18 {
		d := f16At(src, 0)
		for j, q := range src[2:18] {
			dst[j] = d * float32(kvaluesIQ4NL[q&0xf])
			dst[j+16] = d * float32(kvaluesIQ4NL[q>>4])
		}
		dst, src = dst[32:], src[18:]
	}
}

func dequantIQ4XS(dst []float32, src []byte) {
	for len(dst) >= 256 && len(src) >= 136 {
		d := f16At(src, 0)
		sh := binary.LittleEndian.Uint16(src[2:])
		sl := src[4:8]
		qs := src[8:136]
		y := dst[:256]
		for ib := range 8 {
			ls := int(sl[ib/2]>>(4*(ib%2))&0xf) | int(sh>>(2*ib)&3)<<4
			dl := d * float32(ls-32)
			for j, q := range qs[16*ib : 16*ib+16] {
				y[32*ib+j] = dl * float32(kvaluesIQ4NL[q&0xf])
				y[32*ib+j+16] = dl * float32(kvaluesIQ4NL[q>>4])
			}
		}
		dst, src = dst[256:], src[136:]
	}
}

// scaleMinK4 unpacks the j-th 6-bit scale and min of Q4_K/Q5_K's 12 scale bytes.
func scaleMinK4(j int, q []byte) (sc, m uint8) {
	if j < 4 {
		return q[j] & 63, q[j+4] & 63
	}
	return q[j+4]&0xf | (q[j-4]>>6)<<4, q[j+4]>>4 | (q[j]>>6)<<4
}

func dequantQ2K(dst []float32, src []byte) {
	for len(dst) >= 256 && len(src) >= 84 {
		scales := src[0:16]
		q := src[16:80]
		d, dmin := f16At(src, 80), f16At(src, 82)
		y := dst[:256]
		is := 0
		for n := 0; n < 256; n += 128 {
			qq := q[n/4 : n/4+32]
			for shift := 0; shift < 8; shift += 2 {
				for half := range 2 {
					sc := scales[is]
					is++
					dl, ml := d*float32(sc&0xf), dmin*float32(sc>>4)
					for l, b := range qq[16*half : 16*half+16] {
						y[l] = float32(dl*float32(b>>shift&3)) - ml
					}
					y = y[16:]
				}
			}
		}
		dst, src = dst[256:], src[84:]
	}
}

func dequantQ3K(dst []float32, src []byte) {
	for len(dst) >= 256 && len(src) >= 110 {
		hm := src[0:32]
		q := src[32:96]
		var scales [16]int8
		unpackQ3KScales(&scales, src[96:108])
		dAll := f16At(src, 108)
		y := dst[:256]
		is := 0
		m := byte(1)
		for n := 0; n < 256; n += 128 {
			qq := q[n/4 : n/4+32]
			for shift := 0; shift < 8; shift += 2 {
				for half := range 2 {
					dl := dAll * float32(int(scales[is])-32)
					is++
					for l := range 16 {
						v := int(qq[16*half+l] >> shift & 3)
						if hm[16*half+l]&m == 0 {
							v -= 4
						}
						y[l] = dl * float32(v)
					}
					y = y[16:]
				}
				m <<= 1
			}
		}
		dst, src = dst[256:], src[110:]
	}
}

// unpackQ3KScales spreads Q3_K's sixteen 6-bit scales (12 bytes: low nibbles in bytes
// 0-7, high 2-bit pairs in bytes 8-11) into bytes.
func unpackQ3KScales(out *[16]int8, b []byte) {
	const kmask1, kmask2 = 0x03030303, 0x0f0f0f0f
	le := binary.LittleEndian
	a0, a1, tmp := le.Uint32(b[0:]), le.Uint32(b[4:]), le.Uint32(b[8:])
	aux := [4]uint32{
		a0&kmask2 | (tmp>>0&kmask1)<<4,
		a1&kmask2 | (tmp>>2&kmask1)<<4,
		a0>>4&kmask2 | (tmp>>4&kmask1)<<4,
		a1>>4&kmask2 | (tmp>>6&kmask1)<<4,
	}
	for i, w := range aux {
		out[4*i], out[4*i+1], out[4*i+2], out[4*i+3] = int8(w), int8(w>>8), int8(w>>16), int8(w>>24)
	}
}

func dequantQ4K(dst []float32, src []byte) {
	for len(dst) >= 256 && len(src) >= 144 {
		d, dmin := f16At(src, 0), f16At(src, 2)
		scales := src[4:16]
		q := src[16:144]
		y := dst[:256]
		for is := 0; is < 8; is += 2 {
			sc, m := scaleMinK4(is, scales)
			d1, m1 := d*float32(sc), dmin*float32(m)
			sc, m = scaleMinK4(is+1, scales)
			d2, m2 := d*float32(sc), dmin*float32(m)
			qq := q[16*is : 16*is+32]
			for l, b := range qq {
				y[l] = float32(d1*float32(b&0xf)) - m1
				y[l+32] = float32(d2*float32(b>>4)) - m2
			}
			y = y[64:]
		}
		dst, src = dst[256:], src[144:]
	}
}

func dequantQ5K(dst []float32, src []byte) {
	for len(dst) >= 256 && len(src) >= 176 {
		d, dmin := f16At(src, 0), f16At(src, 2)
		scales := src[4:16]
		qh := src[16:48]
		ql := src[48:176]
		y := dst[:256]
		u1, u2 := byte(1), byte(2)
		for is := 0; is < 8; is += 2 {
			sc, m := scaleMinK4(is, scales)
			d1, m1 := d*float32(sc), dmin*float32(m)
			sc, m = scaleMinK4(is+1, scales)
			d2, m2 := d*float32(sc), dmin*float32(m)
			qq := ql[16*is : 16*is+32]
			for l, b := range qq {
				lo, hi := b&0xf, b>>4
				if qh[l]&u1 != 0 {
					lo += 16
				}
				if qh[l]&u2 != 0 {
					hi += 16
				}
				y[l] = float32(d1*float32(lo)) - m1
				y[l+32] = float32(d2*float32(hi)) - m2
			}
			y = y[64:]
			u1 <<= 2
			u2 <<= 2
		}
		dst, src = dst[256:], src[176:]
	}
}

func dequantQ6K(dst []float32, src []byte) {
	for len(dst) >= 256 && len(src) >= 210 {
		d := f16At(src, 208)
		for n := range 2 {
			ql := src[64*n : 64*n+64]
			qh := src[128+32*n : 128+32*n+32]
			sc := src[192+8*n : 192+8*n+8]
			y := dst[128*n : 128*n+128]
			for l := range 32 {
				is := l / 16
				q1 := int(ql[l]&0xf|(qh[l]>>0&3)<<4) - 32
				q2 := int(ql[l+32]&0xf|(qh[l]>>2&3)<<4) - 32
				q3 := int(ql[l]>>4|(qh[l]>>4&3)<<4) - 32
				q4 := int(ql[l+32]>>4|(qh[l]>>6&3)<<4) - 32
				y[l] = d * float32(int8(sc[is])) * float32(q1)
				y[l+32] = d * float32(int8(sc[is+2])) * float32(q2)
				y[l+64] = d * float32(int8(sc[is+4])) * float32(q3)
				y[l+96] = d * float32(int8(sc[is+6])) * float32(q4)
			}
		}
		dst, src = dst[256:], src[210:]
	}
}

func dequantQ8K(dst []float32, src []byte) {
	for len(dst) >= 256 && len(src) >= 292 {
		d := math.Float32frombits(binary.LittleEndian.Uint32(src))
		for j, q := range src[4:260] {
			dst[j] = d * float32(int8(q))
		}
		dst, src = dst[256:], src[292:]
	}
}

// tritAt extracts the n-th base-3 digit (most significant first) packed by TQ1_0:
// a byte holds round(v * 256 / 243) for v in [0, 243).
func tritAt(b byte, pow3 byte) float32 {
	q := b * pow3 // wraps mod 256, keeping the remaining digits as a fraction
	return float32(int(uint16(q)*3>>8) - 1)
}

var pow3 = [5]byte{1, 3, 9, 27, 81}

func dequantTQ1_0(dst []float32, src []byte) {
	for len(dst) >= 256 && len(src) >= 54 {
		qs := src[0:48]
		qh := src[48:52]
		d := f16At(src, 52)
		y := dst[:256]
		for _, chunk := range [...][2]int{{0, 32}, {32, 48}} {
			part := qs[chunk[0]:chunk[1]]
			for _, p := range pow3 {
				for m, b := range part {
					y[m] = tritAt(b, p) * d
				}
				y = y[len(part):]
			}
		}
		for _, p := range pow3[:4] {
			for j, b := range qh {
				y[j] = tritAt(b, p) * d
			}
			y = y[4:]
		}
		dst, src = dst[256:], src[54:]
	}
}

func dequantTQ2_0(dst []float32, src []byte) {
	for len(dst) >= 256 && len(src) >= 66 {
		d := f16At(src, 64)
		y := dst[:256]
		for j := 0; j < 64; j += 32 {
			for shift := 0; shift < 8; shift += 2 {
				for m, b := range src[j : j+32] {
					y[m] = float32(int(b>>shift&3)-1) * d
				}
				y = y[32:]
			}
		}
		dst, src = dst[256:], src[66:]
	}
}

// signsIQ2 expands a 7-bit sign index to 8 sign bits with even parity: bit 7 is set
// when bits 0-6 hold an odd number of ones (ggml's ksigns_iq2xs).
func signsIQ2(i uint32) uint8 {
	i &= 127
	v := uint8(i)
	p := i ^ i>>4
	p ^= p >> 2
	p ^= p >> 1
	return v | uint8(p&1)<<7
}

// signed negates v when bit j of signs is set, without a branch (random signs would
// mispredict); for the finite values here this equals ggml's multiply by -1.
func signed(v float32, signs uint8, j int) float32 {
	return math.Float32frombits(math.Float32bits(v) ^ uint32(signs>>j&1)<<31)
}

func dequantIQ2XXS(dst []float32, src []byte) {
	for len(dst) >= 256 && len(src) >= 66 {
		d := f16At(src, 0)
		y := dst[:256]
		for ib := range 8 {
			blk := src[2+8*ib : 2+8*ib+8]
			aux1 := binary.LittleEndian.Uint32(blk[4:])
			db := d * (0.5 + float32(aux1>>28)) * 0.25
			for l := range 4 {
				g := &iq2xxsGrid[blk[l]]
				s := signsIQ2(aux1 >> (7 * l))
				for j := range 8 {
					y[j] = signed(db*float32(g[j]), s, j)
				}
				y = y[8:]
			}
		}
		dst, src = dst[256:], src[66:]
	}
}

func dequantIQ2XS(dst []float32, src []byte) {
	for len(dst) >= 256 && len(src) >= 74 {
		d := f16At(src, 0)
		scales := src[66:74]
		y := dst[:256]
		for ib := range 8 {
			db := [2]float32{
				d * (0.5 + float32(scales[ib]&0xf)) * 0.25,
				d * (0.5 + float32(scales[ib]>>4)) * 0.25,
			}
			for l := range 4 {
				q := binary.LittleEndian.Uint16(src[2+8*ib+2*l:])
				g := &iq2xsGrid[q&511]
				s := signsIQ2(uint32(q >> 9))
				for j := range 8 {
					y[j] = signed(db[l/2]*float32(g[j]), s, j)
				}
				y = y[8:]
			}
		}
		dst, src = dst[256:], src[74:]
	}
}

func dequantIQ2S(dst []float32, src []byte) {
	for len(dst) >= 256 && len(src) >= 82 {
		d := f16At(src, 0)
		qs := src[2:34]
		signs := src[34:66]
		qh := src[66:74]
		scales := src[74:82]
		y := dst[:256]
		for ib := range 8 {
			db := [2]float32{
				d * (0.5 + float32(scales[ib]&0xf)) * 0.25,
				d * (0.5 + float32(scales[ib]>>4)) * 0.25,
			}
			for l := range 4 {
				idx := int(qs[4*ib+l]) | int(qh[ib])<<(8-2*l)&0x300
				g := &iq2sGrid[idx]
				s := signs[4*ib+l]
				for j := range 8 {
					y[j] = signed(db[l/2]*float32(g[j]), s, j)
				}
				y = y[8:]
			}
		}
		dst, src = dst[256:], src[82:]
	}
}

func dequantIQ3XXS(dst []float32, src []byte) {
	for len(dst) >= 256 && len(src) >= 98 {
		d := f16At(src, 0)
		qs := src[2:66]
		ss := src[66:98]
		y := dst[:256]
		for ib := range 8 {
			aux := binary.LittleEndian.Uint32(ss[4*ib:])
			db := d * (0.5 + float32(aux>>28)) * 0.5
			q := qs[8*ib : 8*ib+8]
			for l := range 4 {
				s := signsIQ2(aux >> (7 * l))
				g1, g2 := &iq3xxsGrid[q[2*l]], &iq3xxsGrid[q[2*l+1]]
				for j := range 4 {
					y[j] = signed(db*float32(g1[j]), s, j)
					y[j+4] = signed(db*float32(g2[j]), s, j+4)
				}
				y = y[8:]
			}
		}
		dst, src = dst[256:], src[98:]
	}
}

func dequantIQ3S(dst []float32, src []byte) {
	for len(dst) >= 256 && len(src) >= 110 {
		d := f16At(src, 0)
		qs := src[2:66]
		qh := src[66:74]
		signs := src[74:106]
		scales := src[106:110]
		y := dst[:256]
		for ib := range 8 {
			sc := scales[ib/2] >> (4 * (ib % 2)) & 0xf
			db := d * float32(1+2*int(sc))
			h := int(qh[ib])
			q := qs[8*ib : 8*ib+8]
			for l := range 4 {
				g1 := &iq3sGrid[int(q[2*l])|h<<(8-2*l)&256]
				g2 := &iq3sGrid[int(q[2*l+1])|h<<(7-2*l)&256]
				s := signs[4*ib+l]
				for j := range 4 {
					y[j] = signed(db*float32(g1[j]), s, j)
					y[j+4] = signed(db*float32(g2[j]), s, j+4)
				}
				y = y[8:]
			}
		}
		dst, src = dst[256:], src[110:]
	}
}

const iq1Delta = 0.125

func dequantIQ1S(dst []float32, src []byte) {
	for len(dst) >= 256 && len(src) >= 50 {
		d := f16At(src, 0)
		qs := src[2:34]
		y := dst[:256]
		for ib := range 8 {
			qh := int(binary.LittleEndian.Uint16(src[34+2*ib:]))
			dl := d * float32(2*(qh>>12&7)+1)
			delta := float32(iq1Delta)
			if qh&0x8000 != 0 {
				delta = -iq1Delta
			}
			for l := range 4 {
				g := &iq1sGrid[int(qs[4*ib+l])|(qh>>(3*l)&7)<<8]
				for j := range 8 {
					y[j] = dl * (float32(g[j]) + delta)
				}
				y = y[8:]
			}
		}
		dst, src = dst[256:], src[50:]
	}
}

func dequantIQ1M(dst []float32, src []byte) {
	for len(dst) >= 256 && len(src) >= 56 {
		qs := src[0:32]
		qh := src[32:48]
		var sc [4]int
		for i := range sc {
			sc[i] = int(binary.LittleEndian.Uint16(src[48+2*i:]))
		}
		scale := uint16(sc[0]>>12 | sc[1]>>8&0x00f0 | sc[2]>>4&0x0f00 | sc[3]&0xf000)
		d := F16ToF32(scale)
		y := dst[:256]
		for ib := range 8 {
			s := sc[ib/2] >> (6 * (ib % 2))
			dl := [2]float32{d * float32(2*(s&7)+1), d * float32(2*(s>>3&7)+1)}
			h0, h1 := int(qh[2*ib]), int(qh[2*ib+1])
			q := qs[4*ib : 4*ib+4]
			idx := [4]int{
				int(q[0]) | h0<<8&0x700,
				int(q[1]) | h0<<4&0x700,
				int(q[2]) | h1<<8&0x700,
				int(q[3]) | h1<<4&0x700,
			}
			hbits := [4]int{h0 & 0x08, h0 & 0x80, h1 & 0x08, h1 & 0x80}
			for l := range 4 {
				delta := float32(iq1Delta)
				if hbits[l] != 0 {
					delta = -iq1Delta
				}
				g := &iq1sGrid[idx[l]]
				for j := range 8 {
					y[j] = dl[l/2] * (float32(g[j]) + delta)
				}
				y = y[8:]
			}
		}
		dst, src = dst[256:], src[56:]
	}
}

// The i-quant codebooks, expanded at init from the compact level codes in
// dequant_grids.go (generated by testdata/gen/tensor_grids.py from ggml-common.h).
var (
	iq2xxsGrid = expandGrid8(iq2xxsCodes[:], [4]uint8{8, 25, 43})
	iq2xsGrid  = expandGrid8(iq2xsCodes[:], [4]uint8{8, 25, 43})
	iq2sGrid   = expandGrid8(iq2sCodes[:], [4]uint8{8, 25, 43})
	iq3xxsGrid = expandGrid4(iq3xxsCodes[:], [8]uint8{4, 12, 20, 28, 36, 44, 52, 62})
	iq3sGrid   = expandGrid4(iq3sCodes[:], [8]uint8{1, 3, 5, 7, 9, 11, 13, 15})
	iq1sGrid   = expandGridIQ1(iq1sCodes[:])
)

func expandGrid8(codes []uint16, levels [4]uint8) [][8]uint8 {
	out := make([][8]uint8, len(codes))
	for i, c := range codes {
		for j := range 8 {
			out[i][j] = levels[c>>(2*j)&3]
		}
	}
	return out
}

func expandGrid4(codes []uint16, levels [8]uint8) [][4]uint8 {
	out := make([][4]uint8, len(codes))
	for i, c := range codes {
		for j := range 4 {
			out[i][j] = levels[c>>(3*j)&7]
		}
	}
	return out
}

func expandGridIQ1(codes []uint16) [][8]int8 {
	out := make([][8]int8, len(codes))
	for i, c := range codes {
		for j := range 8 {
			out[i][j] = int8(c>>(2*j)&3) - 1
		}
	}
	return out
}
