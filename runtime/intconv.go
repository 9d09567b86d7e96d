package runtime

import (
	"encoding/binary"
	"sync"
	"unsafe"

	"github.com/refit-ml/refit/internal/parallel"
	"github.com/refit-ml/refit/internal/qgemm"
)

// The exact 8-bit convolution (ConvInteger, QLinearConv, fused QDQ Conv) as one
// integer GEMM per image and group: the weights [Mg, Cg*kn] are the constant A
// (packed once per session), the image's im2col columns the B panels (filled per
// call), so the sums come out as [output channel, position], the layout of the
// output. K runs over (kernel tap, input channel) pairs: the input is first copied
// channels-last, so each tap of a position contributes Cg consecutive bytes, four at a
// time.

// convEmit receives the int32 sums of output channel m of image n for output
// positions o0 .. o0+rows*rowLen-1: rows of rowLen sums, row r at acc[r*stride:]
// (acc may run on past the last row). Calls run concurrently, for disjoint outputs.
type convEmit func(n, m, o0 int, acc []int32, rows, rowLen, stride int)

// intConvWeights is a convolution's 8-bit weights packed per group as qgemm's A, K
// in (tap, channel) order, for an input of type xSigned.
type intConvWeights struct {
	groups  []*qgemm.PackedA
	xSigned bool

	// direct is the packing for the direct convolution (directConv): channels
	// padded to a multiple of 4 with zero weights, against uint8 B. Built on first
	// use.
	directOnce sync.Once
	direct     []*qgemm.PackedA
}

// directWeights returns w packed for directConv: per group A [Mg, kn*cb*4], K in
// (tap, channel) order with channels padded to cb*4.
func (p *intConvWeights) directWeights(w []byte, wSigned bool, G, Mg, Cg, kn int, d *directConv) []*qgemm.PackedA {
	p.directOnce.Do(func() {
		cg4 := (Cg + 3) &^ 3
		rows, rows4 := Cg*kn, cg4*kn
		if d.taps4 {
			// One channel: K runs over (ky, kx) with each kernel row padded to
			// kw4 taps.
			rows4 = d.g.kh * d.kw4
		}
		perm := make([]byte, Mg*rows4)
		for g := 0; g < G; g++ {
			clear(perm)
			for j := 0; j < Mg; j++ {
				src := w[(g*Mg+j)*rows : (g*Mg+j+1)*rows]
				dst := perm[j*rows4 : (j+1)*rows4]
				if d.taps4 {
					for t, v := range src {
						dst[(t/d.g.kw)*d.kw4+t%d.g.kw] = v
					}
					continue
				}
				for ch := 0; ch < Cg; ch++ {
					for t := 0; t < kn; t++ {
						dst[t*cg4+ch] = src[ch*kn+t]
					}
				}
			}
			p.direct = append(p.direct, qgemm.PackA(Mg, rows4, perm, rows4, wSigned, false))
		}
	})
	return p.direct
}

// packConvInt8 packs w [M, Cg, kernel...] per group as A [Mg, Cg*kn].
func packConvInt8(w []byte, wSigned, xSigned bool, G, Mg, Cg, kn int) *intConvWeights {
	rows := Cg * kn
	p := &intConvWeights{xSigned: xSigned}
	perm := make([]byte, Mg*rows) // [filter][tap*Cg + ch]
	for g := 0; g < G; g++ {
		for j := 0; j < Mg; j++ {
			src := w[(g*Mg+j)*rows : (g*Mg+j+1)*rows]
			dst := perm[j*rows : (j+1)*rows]
			for ch := 0; ch < Cg; ch++ {
				for t := 0; t < kn; t++ {
					dst[t*Cg+ch] = src[ch*kn+t]
				}
			}
		}
		p.groups = append(p.groups, qgemm.PackA(Mg, rows, perm, rows, wSigned, xSigned))
	}
	return p
}

// intConvGEMM computes the exact int32 convolution of x - zx with w - zw (zw per
// output channel) through qgemm and hands the sums to emit. wi is w's input index
// (its packing is kept for the session when w is constant).
func intConvGEMM(c *Call, wi int, x, w *Value, zx, zw []int32, win *window, N, C, M, G int, emit convEmit) {
	xb, xSigned := rawBytes(x)
	wb, wSigned := rawBytes(w)
	Cg, Mg := C/G, M/G
	kn, on, inSize := win.size(win.kernel), win.size(win.out), win.size(win.in)
	rows := Cg * kn
	build := func(*Value) *intConvWeights { return packConvInt8(wb, wSigned, xSigned, G, Mg, Cg, kn) }
	packed, ok := prepare(c, wi, build)
	if !ok || packed.xSigned != xSigned || len(packed.groups) != G {
		packed = build(w)
	}
	pad := byte(zx[0])
	threads := parallel.Threads(c.Threads())
	if dc := newDirectConv(win, Cg); dc != nil {
		direct := packed.directWeights(wb, wSigned, G, Mg, Cg, kn, dc)
		ok := true
		for g := 0; g < G && ok; g++ {
			zwg := zw
			if len(zw) > 1 {
				zwg = zw[g*Mg : (g+1)*Mg]
			}
			ok = direct[g].OffsetsOK(zwg)
		}
		if ok {
			dc.run(threads, xb, xSigned, pad, direct, N, C, Mg, G, emit)
			return
		}
	}
	// 2-D convolutions read a padded channels-last copy of the image: every tap of
	// every output is then in range, at a fixed offset from the output's corner.
	var offs []int32
	var g2 *pad2D
	xhSize := inSize * Cg
	if len(win.in) == 2 {
		g2 = newPad2D(win)
		xhSize = g2.hp * g2.wp * Cg
	} else {
		offs = tapOffsets(win, kn, on)
	}
	// one (image, group) product; gemmThreads splits its panels.
	work := func(n, g int, xh []byte, pb *qgemm.Packed, acc []int32, gemmThreads int) {
		img := xb[(n*C+g*Cg)*inSize:][:Cg*inSize]
		if g2 != nil {
			g2.fill(xh, img, Cg, pad)
			g2.panels(pb, xh, Cg)
		} else {
			// Channels last: xh[pos*Cg + ch].
			for ch := 0; ch < Cg; ch++ {
				for pos, v := range img[ch*inSize : (ch+1)*inSize] {
					xh[pos*Cg+ch] = v
				}
			}
			fillConvPanels(pb, xh, offs, Cg, kn, on, pad)
		}
		zwg := zw
		if len(zw) > 1 {
			zwg = zw[g*Mg : (g+1)*Mg]
		}
		qgemm.GemmPacked(gemmThreads, packed.groups[g], zwg, pb, zx, acc, on)
		for j := 0; j < Mg; j++ {
			emit(n, g*Mg+j, 0, acc[j*on:], 1, on, on)
		}
	}
	buffers := func() ([]byte, *qgemm.Packed, []int32) {
		return make([]byte, xhSize), qgemm.NewPanels(rows, on, xSigned), make([]int32, Mg*on)
	}
	if N*G >= threads {
		parallel.For(threads, N*G, 1, func(lo, hi int) {
			xh, pb, acc := buffers()
			for r := lo; r < hi; r++ {
				work(r/G, r%G, xh, pb, acc, 1)
			}
		})
		return
	}
	xh, pb, acc := buffers()
	for r := 0; r < N*G; r++ {
		work(r/G, r%G, xh, pb, acc, threads)
	}
}

// pad2D is the geometry of a 2-D convolution over a padded channels-last image of
// hp x wp positions: output (oy, ox) with tap (ky, kx) reads position
// (oy*sh + ky*dh)*wp + ox*sw + kx*dw.
type pad2D struct {
	h, w, pt, pl, hp, wp int
	kh, kw, oh, ow       int
	sh, sw, dh, dw       int
}

func newPad2D(win *window) *pad2D {
	g := &pad2D{h: int(win.in[0]), w: int(win.in[1]), pt: int(win.padBegin[0]), pl: int(win.padBegin[1]),
		kh: int(win.kernel[0]), kw: int(win.kernel[1]), oh: int(win.out[0]), ow: int(win.out[1]),
		sh: int(win.strides[0]), sw: int(win.strides[1]), dh: int(win.dilations[0]), dw: int(win.dilations[1])}
	// Large enough for the image at its top-left padding and for the last tap of
	// the last output.
	g.hp = max(g.pt+g.h, (g.oh-1)*g.sh+(g.kh-1)*g.dh+1)
	g.wp = max(g.pl+g.w, (g.ow-1)*g.sw+(g.kw-1)*g.dw+1)
	return g
}

// fill writes the padded channels-last copy of img [Cg, h, w] into xh.
func (g *pad2D) fill(xh, img []byte, Cg int, pad byte) {
	xh = xh[:g.hp*g.wp*Cg]
	for i := range xh {
		xh[i] = pad
	}
	for ch := 0; ch < Cg; ch++ {
		for y := 0; y < g.h; y++ {
			src := img[(ch*g.h+y)*g.w : (ch*g.h+y+1)*g.w]
			row := ((y+g.pt)*g.wp + g.pl) * Cg
			if Cg == 1 {
				copy(xh[row:], src)
				continue
			}
			dst := xh[row+ch : row+ch+(g.w-1)*Cg+1]
			for x, v := range src {
				dst[x*Cg] = v
			}
		}
	}
}

// panels writes the im2col columns of the padded image xh into B's panels: column
// o = oy*ow + ox, row (ky*kw + kx)*Cg + ch.
func (g *pad2D) panels(pb *qgemm.Packed, xh []byte, Cg int) {
	pb.Clear()
	panels, ps := pb.Panels(), pb.PanelSize()
	on := g.oh * g.ow
	if len(xh) < g.hp*g.wp*Cg || len(panels) < ((on+31)/32)*ps {
		panic("runtime: int8 conv buffers too small")
	}
	xp, pp := unsafe.Pointer(unsafe.SliceData(xh)), unsafe.Pointer(unsafe.SliceData(panels))
	if Cg == 1 {
		// One channel: K is the taps; each group of four taps of an output is
		// assembled into one word (little-endian: tap 4j+i in byte i) and stored once.
		kn := g.kh * g.kw
		tOff := make([]int, (kn+3)&^3)
		for t := range tOff {
			tOff[t] = -1
			if t < kn {
				tOff[t] = (t/g.kw)*g.dh*g.wp + (t%g.kw)*g.dw
			}
		}
		tapByte := func(pos, t int) uint32 {
			if tOff[t] < 0 {
				return 0 // K padding stays 0
			}
			return uint32(*(*byte)(unsafe.Add(xp, pos+tOff[t])))
		}
		o := 0
		for oy := 0; oy < g.oh; oy++ {
			pos := oy * g.sh * g.wp
			for ox := 0; ox < g.ow; ox, o, pos = ox+1, o+1, pos+g.sw {
				dst := (o>>5)*ps + (o&31)*4
				for t := 0; t < len(tOff); t += 4 {
					w := tapByte(pos, t) | tapByte(pos, t+1)<<8 | tapByte(pos, t+2)<<16 | tapByte(pos, t+3)<<24
					binary.LittleEndian.PutUint32(panels[dst+(t/4)*128:], w)
				}
			}
		}
		return
	}
	for ky := 0; ky < g.kh; ky++ {
		for kx := 0; kx < g.kw; kx++ {
			t := ky*g.kw + kx
			tOff := ky*g.dh*g.wp + kx*g.dw
			if Cg%4 == 0 {
				// Four channels as one aligned word (see fillConvPanels).
				for c4 := 0; c4 < Cg; c4 += 4 {
					base := ((t*Cg + c4) / 4) * 128
					o := 0
					for oy := 0; oy < g.oh; oy++ {
						pos := oy*g.sh*g.wp + tOff
						for ox := 0; ox < g.ow; ox, o, pos = ox+1, o+1, pos+g.sw {
							w := *(*uint32)(unsafe.Add(xp, pos*Cg+c4))
							*(*uint32)(unsafe.Add(pp, (o>>5)*ps+base+(o&31)*4)) = w
						}
					}
				}
				continue
			}
			for ch := 0; ch < Cg; ch++ {
				q := t*Cg + ch
				base := (q/4)*128 + q%4
				o := 0
				for oy := 0; oy < g.oh; oy++ {
					pos := oy*g.sh*g.wp + tOff
					for ox := 0; ox < g.ow; ox, o, pos = ox+1, o+1, pos+g.sw {
						*(*byte)(unsafe.Add(pp, (o>>5)*ps+base+(o&31)*4)) = *(*byte)(unsafe.Add(xp, pos*Cg+ch))
					}
				}
			}
		}
	}
}

// tapOffsets returns offs[t*on + o]: the input position (row-major over the spatial
// dimensions) that kernel tap t of output position o reads, or -1 in the padding.
func tapOffsets(win *window, kn, on int) []int32 {
	taps := win.taps()
	nd := len(win.in)
	offs := make([]int32, kn*on)
	kidx, oidx := make([]int, nd), make([]int, nd)
	for t := 0; t < kn; t++ {
		r := t
		for d := nd - 1; d >= 0; d-- {
			kidx[d] = r % int(win.kernel[d])
			r /= int(win.kernel[d])
		}
		for o := 0; o < on; o++ {
			r, off := o, 0
			for d := nd - 1; d >= 0; d-- {
				oidx[d] = r % int(win.out[d])
				r /= int(win.out[d])
			}
			for d := 0; d < nd; d++ {
				xi := taps[d][kidx[d]*int(win.out[d])+oidx[d]]
				if xi < 0 {
					off = -1
					break
				}
				off = off*int(win.in[d]) + xi
			}
			offs[t*on+o] = int32(off)
		}
	}
	return offs
}

// inSizeOf is one more than the largest input position offs reads.
func inSizeOf(offs []int32) int {
	var m int32 = -1
	for _, o := range offs {
		m = max(m, o)
	}
	return int(m) + 1
}

// fillConvPanels writes the im2col columns of one image (channels-last xh) into B's
// panels: column o, row t*Cg + ch holds xh[offs[t*on+o]*Cg + ch], or pad. Rows are
// filled one at a time (four at a time when Cg is a multiple of 4), so the writes of
// each panel row are contiguous.
func fillConvPanels(pb *qgemm.Packed, xh []byte, offs []int32, Cg, kn, on int, pad byte) {
	pb.Clear()
	panels, ps := pb.Panels(), pb.PanelSize()
	if Cg%4 == 0 {
		// Four channels move as one aligned word (xh and the panels are at least
		// 8-aligned and every offset is a multiple of 4; a word read and written in
		// the same byte order keeps the bytes in order). Offsets are in range by
		// construction (tapOffsets, the panel geometry): checked once here instead of
		// per word.
		if len(xh) < inSizeOf(offs)*Cg || len(panels) < ((on+31)/32)*ps {
			panic("runtime: int8 conv buffers too small")
		}
		pad4 := uint32(pad) * 0x01010101
		xp, pp := unsafe.Pointer(unsafe.SliceData(xh)), unsafe.Pointer(unsafe.SliceData(panels))
		for t := 0; t < kn; t++ {
			offRow := offs[t*on : (t+1)*on]
			for c4 := 0; c4 < Cg; c4 += 4 {
				base := ((t*Cg + c4) / 4) * 128
				for o, off := range offRow {
					w := pad4
					if off >= 0 {
						w = *(*uint32)(unsafe.Add(xp, int(off)*Cg+c4))
					}
					*(*uint32)(unsafe.Add(pp, (o>>5)*ps+base+(o&31)*4)) = w
				}
			}
		}
		return
	}
	for t := 0; t < kn; t++ {
		offRow := offs[t*on : (t+1)*on]
		for ch := 0; ch < Cg; ch++ {
			q := t*Cg + ch
			base := (q/4)*128 + q%4
			for o, off := range offRow {
				v := pad
				if off >= 0 {
					v = xh[int(off)*Cg+ch]
				}
				panels[(o>>5)*ps+base+(o&31)*4] = v
			}
		}
	}
}

// directConv is a 2-D convolution with unit strides computed without im2col: the
// image is copied once into blocks of four channels, [channel/4][position][channel%4]
// over the padded image, and the GEMM reads its B in place (qgemm.GemmOffsets). GEMM
// column j is the padded position j: output (oy, ox) is column oy*wp + ox, and the
// columns with ox >= ow (kw-1 of every wp, for dilation 1) are computed and dropped.
// Tap t of channel block cb reads the 32 columns of a tile as 128 contiguous bytes
// at block offset (cb*plane + j0 + tOff[t])*4. The bytes are uint8 (int8 inputs are
// flipped by XOR 0x80, their zero point moved by 128), and the weights' zero points
// must be 0 (qgemm.PackedA.OffsetsOK), as symmetric int8 weights have.
//
// A one-channel image (the first layer of a grayscale model) would leave three of
// every four bytes of a block zero; there (taps4) the word at position p holds
// instead the image at p, p+dw, p+2dw and p+3dw, four horizontal taps, so a group is
// four taps of one kernel row and K is kh*kw4 (kw rounded up to 4) instead of 4*kn.
type directConv struct {
	g     *pad2D
	cb    int   // channel blocks of four
	plane int   // positions per block: the padded image and every tile's reads
	cols  int   // GEMM columns: oh*wp
	offs  []int // byte offset of group t*cb + c4 (tap t, channel block c4), or of (ky, kx/4) with taps4
	taps4 bool
	kw4   int // kw rounded up to 4 (taps4)
}

// newDirectConv returns the direct geometry of win, or nil when it does not apply
// (not 2-D, or strides other than 1).
func newDirectConv(win *window, Cg int) *directConv {
	if len(win.in) != 2 || win.strides[0] != 1 || win.strides[1] != 1 {
		return nil
	}
	g := newPad2D(win)
	d := &directConv{g: g, cb: (Cg + 3) / 4, cols: g.oh * g.wp}
	maxTap := (g.kh-1)*g.dh*g.wp + (g.kw-1)*g.dw
	d.plane = max(g.hp*g.wp, (d.cols+31)&^31+maxTap)
	if Cg == 1 && g.kw > 1 {
		d.taps4, d.kw4 = true, (g.kw+3)&^3
		d.plane = max(g.hp*g.wp, (d.cols+31)&^31+(g.kh-1)*g.dh*g.wp+(d.kw4-4)*g.dw)
		for ky := 0; ky < g.kh; ky++ {
			for c := 0; c < d.kw4/4; c++ {
				d.offs = append(d.offs, (ky*g.dh*g.wp+4*c*g.dw)*4)
			}
		}
		return d
	}
	for ky := 0; ky < g.kh; ky++ {
		for kx := 0; kx < g.kw; kx++ {
			tOff := ky*g.dh*g.wp + kx*g.dw
			for c4 := 0; c4 < d.cb; c4++ {
				d.offs = append(d.offs, (c4*d.plane+tOff)*4)
			}
		}
	}
	return d
}

// fill writes img [Cg, h, w] into xb as blocks of four channels over the padded
// image: every byte XOR flip, padding positions and channels pad (already flipped).
func (d *directConv) fill(xb, img []byte, Cg int, pad, flip byte) {
	g := d.g
	if d.taps4 {
		d.fillTaps(xb, img, pad, flip)
		return
	}
	xb = xb[:d.cb*d.plane*4]
	pad4 := uint32(pad) * 0x01010101
	words := unsafe.Slice((*uint32)(unsafe.Pointer(unsafe.SliceData(xb))), len(xb)/4)
	for i := range words {
		words[i] = pad4
	}
	flip4 := uint32(flip) * 0x01010101
	hw := g.h * g.w
	for c4 := 0; c4 < d.cb; c4++ {
		block := words[c4*d.plane : (c4+1)*d.plane]
		// The block's channels, missing ones reading a row of pad bytes.
		var planes [4][]byte
		n := min(4, Cg-c4*4)
		for q := 0; q < n; q++ {
			planes[q] = img[(c4*4+q)*hw : (c4*4+q+1)*hw]
		}
		for y := 0; y < g.h; y++ {
			row := block[(y+g.pt)*g.wp+g.pl : (y+g.pt)*g.wp+g.pl+g.w]
			src := y * g.w
			switch n {
			case 1:
				p0 := planes[0][src : src+g.w]
				for x := range row {
					row[x] = (uint32(p0[x])^uint32(flip))&0xff | pad4&^0xff
				}
			case 4:
				p0, p1, p2, p3 := planes[0][src:src+g.w], planes[1][src:src+g.w], planes[2][src:src+g.w], planes[3][src:src+g.w]
				for x := range row {
					row[x] = (uint32(p0[x]) | uint32(p1[x])<<8 | uint32(p2[x])<<16 | uint32(p3[x])<<24) ^ flip4
				}
			default:
				for x := range row {
					w := pad4
					for q := 0; q < n; q++ {
						w = w&^(0xff<<(8*q)) | (uint32(planes[q][src+x]^flip))<<(8*q)
					}
					row[x] = w
				}
			}
		}
	}
}

// fillTaps writes the taps4 words of a one-channel img [h, w]: the padded image
// (flipped, padding pad) goes first into the plane+3*dw bytes behind the words, then
// each word is assembled from four of those bytes.
func (d *directConv) fillTaps(xb, img []byte, pad, flip byte) {
	g := d.g
	n := d.plane + 3*g.dw
	xp := xb[d.bufSize()-n : d.bufSize()]
	for i := range xp {
		xp[i] = pad
	}
	for y := 0; y < g.h; y++ {
		row := xp[(y+g.pt)*g.wp+g.pl : (y+g.pt)*g.wp+g.pl+g.w]
		for x, v := range img[y*g.w : (y+1)*g.w] {
			row[x] = v ^ flip
		}
	}
	words := unsafe.Slice((*uint32)(unsafe.Pointer(unsafe.SliceData(xb))), d.plane)
	dw := g.dw
	if dw == 1 {
		// Four consecutive bytes: one little-endian load per word.
		xp = xp[:len(words)+3]
		for p := range words {
			words[p] = binary.LittleEndian.Uint32(xp[p:])
		}
		return
	}
	for p := range words {
		words[p] = uint32(xp[p]) | uint32(xp[p+dw])<<8 | uint32(xp[p+2*dw])<<16 | uint32(xp[p+3*dw])<<24
	}
}

// bufSize is the size of the buffer fill writes: the blocks, and with taps4 room
// behind the words for the padded image they are assembled from.
func (d *directConv) bufSize() int {
	if d.taps4 {
		return 4*d.plane + d.plane + 3*d.g.dw
	}
	return d.cb * d.plane * 4
}

// run computes the convolution of every image and group and hands each output
// channel's sums to emit.
func (d *directConv) run(threads int, xb []byte, xSigned bool, pad byte, weights []*qgemm.PackedA, N, C, Mg, G int, emit convEmit) {
	g := d.g
	Cg := C / G
	inSize := g.h * g.w
	var flip byte
	if xSigned {
		flip = 0x80
	}
	zb := int32(pad ^ flip) // the zero point as the uint8 the kernel reads
	work := func(n, grp int, blocks []byte, acc []int32, gemmThreads int) {
		d.fill(blocks, xb[(n*C+grp*Cg)*inSize:][:Cg*inSize], Cg, pad^flip, flip)
		qgemm.GemmOffsets(gemmThreads, weights[grp], blocks, d.offs, zb, d.cols, acc, d.cols)
		// Each output row is ow sums of a padded row of wp: the emitters skip
		// the columns past ow.
		for j := 0; j < Mg; j++ {
			emit(n, grp*Mg+j, 0, acc[j*d.cols:], g.oh, g.ow, g.wp)
		}
	}
	// Buffers from the float scratch pool, reinterpreted (every byte is written
	// before it is read): no allocation per call.
	buffers := func() (blocks []byte, acc []int32, release func()) {
		fb, fa := getScratch((d.bufSize()+3)/4), getScratch(Mg*d.cols)
		blocks = unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(fb))), 4*len(fb))
		acc = unsafe.Slice((*int32)(unsafe.Pointer(unsafe.SliceData(fa))), len(fa))
		return blocks, acc, func() { putScratch(fb); putScratch(fa) }
	}
	if N*G >= threads {
		parallel.For(threads, N*G, 1, func(lo, hi int) {
			blocks, acc, release := buffers()
			defer release()
			for r := lo; r < hi; r++ {
				work(r/G, r%G, blocks, acc, 1)
			}
		})
		return
	}
	blocks, acc, release := buffers()
	defer release()
	for r := 0; r < N*G; r++ {
		work(r/G, r%G, blocks, acc, threads)
	}
}
