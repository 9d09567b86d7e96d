package blas

import (
	"fmt"
	"math"
	goruntime "runtime"

	"github.com/refit-ml/refit/internal/parallel"
)

// Winograd convolution F(m x m, 3 x 3) (Lavin and Gray, "Fast Algorithms for
// Convolutional Neural Networks", 2015) for 3 x 3, stride-1, dilation-1, ungrouped
// convolutions: each m x m output tile comes from an a x a input tile (a = m+2)
// through V = Bt d B, an element-wise product with the transformed kernel
// U = G g Gt summed over input channels, and Y = At M A. The sum over channels is
// a batch of a*a independent GEMMs, M[xi] (K x tiles) = U[xi] (K x C) * V[xi]
// (C x tiles), which run on the SGEMM micro-kernel: U is packed like PackA once,
// the input transform writes V straight into the micro-kernel's B panels, and the
// output transform reads M from a row-major scratch. F(4x4) does 36 multiplies per
// tile and channel pair where direct convolution does 144 (4x fewer); F(2x2) 16 for
// 36 (2.25x), for maps with few tiles. The price is a little precision (the
// transforms' constants amplify rounding: relative errors near 1e-6 for F(4x4)).

// WinogradWeights are the 3 x 3 kernels of a convolution transformed and packed
// once for SgemmWinograd. They are immutable, safe for concurrent use and tied to
// the process's micro-kernel, like PackedA.
type WinogradWeights struct {
	tile   int // m: output tile edge, 2 or 4
	k, c   int // output and input channels
	mr, nr int // the micro-kernel the packing is for
	kp     int // k rounded up to mr
	data   []float32
}

// Tile reports the output tile edge m of F(m x m, 3 x 3).
func (p *WinogradWeights) Tile() int { return p.tile }

// Bytes is the memory p holds.
func (p *WinogradWeights) Bytes() int64 { return 4 * int64(len(p.data)) }

// WinogradBytes is the memory PackWinograd(tile, k, c, ...) will hold, to check
// against a budget before packing.
func WinogradBytes(tile, k, c int) int64 {
	a := int64(tile + 2)
	mr := int64(kernel.mr)
	return 4 * a * a * (int64(k) + mr - 1) / mr * mr * int64(c)
}

// winogradG holds the kernel transforms G (a x 3) for m = 2 and m = 4.
var winogradG = map[int][][3]float64{
	2: {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}},
	4: {
		{1.0 / 4, 0, 0},
		{-1.0 / 6, -1.0 / 6, -1.0 / 6},
		{-1.0 / 6, 1.0 / 6, -1.0 / 6},
		{1.0 / 24, 1.0 / 12, 1.0 / 6},
		{1.0 / 24, -1.0 / 12, 1.0 / 6},
		{0, 0, 1},
	},
}

// PackWinograd transforms the weights w ([k, c, 3, 3], row-major) for
// F(tile x tile, 3 x 3), tile 2 or 4. It copies; w may change afterwards. It
// panics on another tile or a short w.
func PackWinograd(tile, k, c int, w []float32) *WinogradWeights {
	g, ok := winogradG[tile]
	if !ok {
		panic(fmt.Sprintf("blas: Winograd tile %d, want 2 or 4", tile))
	}
	if k < 0 || c < 0 || len(w) < 9*k*c {
		panic(fmt.Sprintf("blas: Winograd weights have %d elements, want %d x %d x 9", len(w), k, c))
	}
	a := tile + 2
	mr := kernel.mr
	kp := (k + mr - 1) / mr * mr
	p := &WinogradWeights{tile: tile, k: k, c: c, mr: mr, nr: kernel.nr, kp: kp, data: make([]float32, a*a*kp*c)}
	// Output channels are transformed a block at a time (a multiple of every mr)
	// and packed at once, so the unpacked transform takes memory for one block only.
	const block = 48
	u := make([][]float32, a*a) // u[xi]: block x c, transformed element xi
	for i := range u {
		u[i] = make([]float32, block*c)
	}
	var gg [6][3]float64
	for k0 := 0; k0 < k; k0 += block {
		rows := min(block, k-k0)
		for ko := 0; ko < rows; ko++ {
			for ci := 0; ci < c; ci++ {
				f := w[((k0+ko)*c+ci)*9:][:9]
				for i := 0; i < a; i++ { // gg = G f
					for j := 0; j < 3; j++ {
						gg[i][j] = g[i][0]*float64(f[j]) + g[i][1]*float64(f[3+j]) + g[i][2]*float64(f[6+j])
					}
				}
				for i := 0; i < a; i++ { // U = gg Gt
					for j := 0; j < a; j++ {
						u[i*a+j][ko*c+ci] = float32(gg[i][0]*g[j][0] + gg[i][1]*g[j][1] + gg[i][2]*g[j][2])
					}
				}
			}
		}
		for xi := range u {
			dst := p.data[xi*kp*c:]
			for pc := 0; pc < c; pc += gemmKC {
				kc := min(gemmKC, c-pc)
				packA(dst[pc*kp+k0*kc:], u[xi], c, false, 0, rows, pc, kc, mr)
			}
		}
	}
	return p
}

// WinogradConv is the geometry of a 3 x 3, stride-1 convolution of a batch of
// NCHW images: Pad is the top and left padding (the bottom and right padding
// follow from the output size).
type WinogradConv struct {
	Batch, Height, Width int
	PadTop, PadLeft      int
	OutH, OutW           int
}

func (g *WinogradConv) tiles(m int) (th, tw int) {
	return (g.OutH + m - 1) / m, (g.OutW + m - 1) / m
}

// WinogradTiles is the number of m x m output tiles of g.
func WinogradTiles(g WinogradConv, m int) int {
	th, tw := g.tiles(m)
	return g.Batch * th * tw
}

// winogradScratch is one goroutine's padded input rows, transformed input and
// GEMM output, for one chunk of tiles at a time.
type winogradScratch struct{ pad, v, m []float32 }

var winogradFree = freeList[winogradScratch]{limit: 4 + 2*goruntime.NumCPU()}

func grow(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}

// winogradCall is one validated SgemmWinograd call over a chunk of tiles.
type winogradCall struct {
	p        *WinogradWeights
	g        WinogradConv
	x, y     []float32
	bias     []float32
	relu     bool
	th, tw   int // tiles per column and row of an image
	t0, nt   int // the tiles of the chunk
	ntp      int // nt rounded up to nr
	v, m     []float32
	pad      []float32 // the chunk's band of zero-padded rows of its images
	padW     int       // columns of a padded row
	img0     int       // the chunk's first image
	ty0      int       // its first tile row in img0 (the band of img0 starts there; of later images at 0)
	bandRows int       // rows of one channel's band
	asm      bool      // the transforms run in assembly
	vStride  int       // distance between the matrices of v and of m
	mStride  int
	inPlane  int
	outPlane int
}

// WinogradFastTransforms reports whether the transforms (with their gathers and
// scatters) run in AVX-512 on this CPU (else in Go or AVX2, slower per tile).
func WinogradFastTransforms() bool { return winogradAVX512() }

// SgemmWinograd computes the convolution y = w * x + bias (then Relu, v < 0 ? 0 : v,
// when relu) of g's NCHW images x ([Batch, c,
// Height, Width]) with the weights packed in p, into y ([Batch, k, OutH, OutW]).
// bias may be nil. threads is as in Sgemm; the result does not depend on it. Its
// scratch (about 1 MB per goroutine) does not grow with the batch: the tiles run a
// chunk at a time, each with only the rows of the padded images its tiles read. It
// panics when a slice is too short or p was packed for another micro-kernel.
func SgemmWinograd(threads int, p *WinogradWeights, x []float32, g WinogradConv, bias []float32, relu bool, y []float32) {
	if p.mr != kernel.mr || p.nr != kernel.nr {
		panic("blas: WinogradWeights packed for another kernel")
	}
	if g.Batch < 0 || g.Height < 0 || g.Width < 0 || g.OutH < 0 || g.OutW < 0 {
		panic("blas: negative Winograd geometry")
	}
	inPlane, outPlane := g.Height*g.Width, g.OutH*g.OutW
	if len(x) < g.Batch*p.c*inPlane || len(y) < g.Batch*p.k*outPlane || bias != nil && len(bias) < p.k {
		panic("blas: SgemmWinograd slice too short")
	}
	if g.Batch == 0 || outPlane == 0 || p.k == 0 {
		return
	}
	m := p.tile
	th, tw := g.tiles(m)
	tiles := g.Batch * th * tw
	nr := p.nr
	a2 := (m + 2) * (m + 2)
	base := winogradCall{p: p, g: g, x: x, y: y, bias: bias, relu: relu, th: th, tw: tw,
		inPlane: inPlane, outPlane: outPlane, padW: tw*m + 2}
	// The assembly addresses outputs with 32-bit offsets (and tiles in the band,
	// checked per chunk).
	base.asm = winogradAVX512() && g.Batch*p.k*outPlane < math.MaxInt32
	t := parallel.Threads(threads)
	// A chunk of tiles whose transformed input and output fit in about 1 MB (L2).
	chunk := max(nr, (1<<18)/(a2*(p.c+p.kp))/nr*nr)
	jobs := a2 * (p.kp / p.mr)
	if t == 1 || tiles >= 2*t*nr {
		// Enough tiles for every thread: each chunk runs on one goroutine, claimed
		// dynamically, at least two per thread.
		if t > 1 {
			chunk = min(chunk, max(nr, tiles/(2*t)/nr*nr))
		}
		parallel.ForChunks(threads, tiles, chunk, func(lo, hi int) {
			s := winogradFree.get(newWinogradScratch)
			for t0 := lo; t0 < hi; t0 += chunk { // one call for every chunk on one thread
				c := base
				c.setChunk(s, t0, min(chunk, hi-t0))
				c.padBand(0, c.bandPlanes())
				c.input(0, p.c)
				c.gemm(0, jobs)
				c.output(0, p.k)
			}
			winogradFree.put(s)
		})
		return
	}
	// Few tiles: a chunk at a time, each step split evenly over the threads.
	steps := (tiles + 4*chunk - 1) / (4 * chunk)
	per := (tiles + steps - 1) / steps
	s := winogradFree.get(newWinogradScratch)
	for lo := 0; lo < tiles; lo += per {
		c := base
		c.setChunk(s, lo, min(per, tiles-lo))
		parallel.For(threads, c.bandPlanes(), max(1, 65536/(c.bandRows*c.padW)), c.padBand)
		parallel.For(threads, p.c, max(1, 256/c.nt), c.input)
		parallel.ForChunks(threads, jobs, 1, c.gemm)
		parallel.For(threads, p.k, max(1, 256/c.nt), c.output)
	}
	winogradFree.put(s)
}

// setChunk points c at tiles [t0, t0+nt) and sizes s for them: the band of padded
// rows those tiles read (from their first tile row in the first image, from the
// top in the others; as many rows for every image), their transformed input and
// output.
func (c *winogradCall) setChunk(s *winogradScratch, t0, nt int) {
	p := c.p
	a, nr := p.tile+2, p.nr
	c.t0, c.nt = t0, nt
	c.ntp = (nt + nr - 1) / nr * nr
	img0, ty0, _ := c.tile(t0)
	img1, ty1, _ := c.tile(t0 + nt - 1)
	rows := ty1 - ty0 + 1 // tile rows of the band
	if img1 > img0 {
		rows = max(c.th-ty0, ty1+1)
		if img1 > img0+1 {
			rows = c.th
		}
	}
	c.img0, c.ty0, c.bandRows = img0, ty0, rows*p.tile+2
	c.vStride, c.mStride = matrixStride(p.c*c.ntp), matrixStride(p.kp*c.ntp)
	s.v, s.m = grow(s.v, a*a*c.vStride), grow(s.m, a*a*c.mStride)
	s.pad = grow(s.pad, (img1-img0+1)*p.c*c.bandRows*c.padW)
	c.v, c.m, c.pad = s.v, s.m, s.pad
	c.asm = c.asm && len(c.pad) < math.MaxInt32
}

// bandPlanes is the number of channel planes of c's band: channels times images.
func (c *winogradCall) bandPlanes() int { return len(c.pad) / (c.bandRows * c.padW) }

func newWinogradScratch() *winogradScratch { return new(winogradScratch) }

// gemm runs the products of jobs [lo, hi): job j is transformed element j/strips
// times strip j%strips of mr output channels, over every panel of tiles.
func (c *winogradCall) gemm(lo, hi int) {
	p := c.p
	strips := p.kp / p.mr
	ntp, nr, mr, C := c.ntp, p.nr, p.mr, p.c
	fn := kernel.fn
	for j := lo; j < hi; j++ {
		xi, s := j/strips, j%strips
		u := p.data[xi*p.kp*C:]
		v := c.v[xi*c.vStride:]
		out := c.m[xi*c.mStride+s*mr*ntp:]
		for pc := 0; pc < C; pc += gemmKC {
			kc := min(gemmKC, C-pc)
			beta := float32(1)
			if pc == 0 {
				beta = 0
			}
			a := u[pc*p.kp+s*mr*kc:][:mr*kc]
			b := v[pc*ntp:]
			for jp := 0; jp < ntp; jp += nr {
				fn(kc, &a[0], &b[jp*kc], &out[jp], ntp, 1, beta)
			}
		}
	}
}

// lanes is the most tiles the transforms handle at once: the widest panel.
const lanes = 16

// matrixStride is the distance between the a*a matrices of a scratch buffer of n
// floats each: padded to an odd number of 64-byte lines, so that the a*a values of
// one tile fall in distinct sets of the L1 cache (a multiple of 4 KiB would put
// them all in one set).
func matrixStride(n int) int {
	n = (n + 15) / 16 * 16
	if n/16%2 == 0 {
		n += 16
	}
	return n
}

// input transforms the tiles of channels [lo, hi) into the B panels of c.v, a panel
// of nr tiles at a time, so that each transformed element is stored as one run of
// nr floats. Tiles are read from the padded image, where every tile is inside.
func (c *winogradCall) input(lo, hi int) {
	p := c.p
	m, nr, ntp, C := p.tile, p.nr, c.ntp, p.c
	a := m + 2
	wp, plane := c.padW, c.bandRows*c.padW
	vs := c.vStride
	var d [36][lanes]float32
	var offs [lanes]int
	var offs32 [lanes]int32 // for the assembly, which c.asm allows only for short images
	asm := c.asm
	for jp := 0; jp < ntp; jp += nr {
		n := min(nr, c.nt-jp) // lanes past n fill columns nobody reads
		for l := 0; l < n; l++ {
			img, ty, tx := c.tile(c.t0 + jp + l)
			if img == c.img0 {
				ty -= c.ty0
			}
			offs[l] = (img-c.img0)*C*plane + ty*m*wp + tx*m
			offs32[l] = int32(offs[l])
		}
		clear(offs[n:])
		clear(offs32[n:])
		for ci := lo; ci < hi; ci++ {
			pc := ci / gemmKC * gemmKC
			kc := min(gemmKC, C-pc)
			src := c.pad[ci*plane:]
			off := pc*ntp + jp*kc + (ci-pc)*nr
			if asm {
				if m == 4 {
					winogradIn4AVX512(&src[0], &offs32, wp, &c.v[off], vs, &d)
				} else {
					winogradIn2AVX512(&src[0], &offs32, wp, &c.v[off], vs, &d)
				}
				continue
			}
			for l := 0; l < nr; l++ {
				for i := 0; i < a; i++ {
					row := src[offs[l]+i*wp:][:a]
					for j, v := range row {
						d[i*a+j][l] = v
					}
				}
			}
			if m == 4 {
				inputTransform4Fast(&d)
			} else {
				inputTransform2(&d)
			}
			for xi := 0; xi < a*a; xi++ {
				copy(c.v[xi*vs+off:][:nr], d[xi][:nr])
			}
		}
	}
}

// tile returns the image and the tile row and column of tile t.
func (c *winogradCall) tile(t int) (img, ty, tx int) {
	perImage := c.th * c.tw
	img, r := t/perImage, t%perImage
	return img, r / c.tw, r % c.tw
}

// output transforms the GEMM results of output channels [lo, hi), a panel of nr
// tiles at a time, and stores the valid pixels of each tile with the bias and Relu
// (v < 0 ? 0 : v, as BiasRelu).
func (c *winogradCall) output(lo, hi int) {
	p := c.p
	m, nr, ntp := p.tile, p.nr, c.ntp
	a := m + 2
	ms := c.mStride
	var s [36][lanes]float32
	var o [24][lanes]float32
	var offs [lanes]int
	var offs32 [lanes]int32       // for the assembly, which c.asm allows only for short outputs
	var masks [lanes]uint16       // bit l of masks[i*m+j]: output (i, j) of lane l is stored
	var rowMasks [4][lanes]uint16 // bit j of rowMasks[i][l]: the same, for F(4x4)'s assembly
	var addrs [lanes]int          // byte offsets of offs, for F(4x4)'s assembly
	asm := c.asm
	OH, OW := c.g.OutH, c.g.OutW
	for jp := 0; jp < c.nt; jp += nr {
		n := min(nr, c.nt-jp)
		clear(masks[:])
		clear(rowMasks[:])
		for l := 0; l < n; l++ {
			img, ty, tx := c.tile(c.t0 + jp + l)
			oy, ox := ty*m, tx*m
			offs[l] = img*p.k*c.outPlane + oy*OW + ox
			offs32[l] = int32(offs[l])
			addrs[l] = 4 * offs[l]
			rows, cols := min(m, OH-oy), min(m, OW-ox)
			for i := 0; i < rows; i++ {
				rowMasks[i][l] = 1<<cols - 1
				for j := 0; j < cols; j++ {
					masks[i*m+j] |= 1 << l
				}
			}
		}
		clear(offs32[n:])
		for k := lo; k < hi; k++ {
			var b float32
			if c.bias != nil {
				b = c.bias[k]
			}
			plane := c.y[k*c.outPlane:]
			if asm {
				if m == 4 {
					winogradOut4AVX512(&c.m[k*ntp+jp], ms, &plane[0], &addrs, OW, &rowMasks, b, c.relu, &o)
				} else {
					winogradOut2AVX512(&c.m[k*ntp+jp], ms, &plane[0], &offs32, OW, &masks, b, c.relu, &o)
				}
				continue
			}
			for xi := 0; xi < a*a; xi++ {
				copy(s[xi][:nr], c.m[xi*ms+k*ntp+jp:][:nr])
			}
			if m == 4 {
				outputTransform4Fast((*[16][lanes]float32)(o[:16]), &s)
			} else {
				outputTransform2((*[16][lanes]float32)(o[:16]), &s)
			}
			for l := 0; l < n; l++ {
				base := offs[l]
				for i := 0; i < m; i++ {
					for j := 0; j < m; j++ {
						if masks[i*m+j]&(1<<l) == 0 {
							continue
						}
						v := o[i*m+j][l] + b
						if c.relu && v < 0 {
							v = 0 // NaNs and -0 kept, as BiasRelu
						}
						plane[base+i*OW+j] = v
					}
				}
			}
		}
	}
}

// padBand fills the band planes [lo, hi) (image (img0 + pl/c) and channel pl%c
// of plane pl) with the rows of x the chunk's tiles read and the zero borders that
// put every tile inside.
func (c *winogradCall) padBand(lo, hi int) {
	C, m := c.p.c, c.p.tile
	H, W := c.g.Height, c.g.Width
	wp, plane := c.padW, c.bandRows*c.padW
	top, left := c.g.PadTop, c.g.PadLeft
	lastImg, lastTy, _ := c.tile(c.t0 + c.nt - 1)
	for pl := lo; pl < hi; pl++ {
		img := c.img0 + pl/C
		first, last := 0, c.th-1 // the image's tile rows in the chunk
		if img == c.img0 {
			first = c.ty0
		}
		if img == lastImg {
			last = lastTy
		}
		dst := c.pad[pl*plane:][:plane]
		src := c.x[(img*C+pl%C)*c.inPlane:][:c.inPlane]
		for r := range (last-first+1)*m + 2 {
			row := dst[r*wp:][:wp]
			iy := first*m + r - top
			if iy < 0 || iy >= H {
				clear(row)
				continue
			}
			clear(row[:left])
			copy(row[left:left+W], src[iy*W:][:W])
			clear(row[left+W:])
		}
	}
}

// inputTransform4 computes Bt d B in place for F(4x4, 3x3) on the 6 x 6 tiles of
// every lane.
func inputTransform4(d *[36][lanes]float32) {
	var t [36][lanes]float32
	for j := 0; j < 6; j++ { // columns: t = Bt d
		r0, r1, r2, r3, r4, r5 := &d[j], &d[6+j], &d[12+j], &d[18+j], &d[24+j], &d[30+j]
		t0, t1, t2, t3, t4, t5 := &t[j], &t[6+j], &t[12+j], &t[18+j], &t[24+j], &t[30+j]
		for l := range lanes {
			d0, d1, d2, d3, d4, d5 := r0[l], r1[l], r2[l], r3[l], r4[l], r5[l]
			t0[l] = 4*d0 - 5*d2 + d4
			t1[l] = (d3 + d4) - 4*(d1+d2)
			t2[l] = (d4 - d3) + 4*(d1-d2)
			t3[l] = (d4 - d2) + 2*(d3-d1)
			t4[l] = (d4 - d2) - 2*(d3-d1)
			t5[l] = 4*d1 - 5*d3 + d5
		}
	}
	for i := 0; i < 6; i++ { // rows: d = t B
		r0, r1, r2, r3, r4, r5 := &t[i*6], &t[i*6+1], &t[i*6+2], &t[i*6+3], &t[i*6+4], &t[i*6+5]
		o0, o1, o2, o3, o4, o5 := &d[i*6], &d[i*6+1], &d[i*6+2], &d[i*6+3], &d[i*6+4], &d[i*6+5]
		for l := range lanes {
			d0, d1, d2, d3, d4, d5 := r0[l], r1[l], r2[l], r3[l], r4[l], r5[l]
			o0[l] = 4*d0 - 5*d2 + d4
			o1[l] = (d3 + d4) - 4*(d1+d2)
			o2[l] = (d4 - d3) + 4*(d1-d2)
			o3[l] = (d4 - d2) + 2*(d3-d1)
			o4[l] = (d4 - d2) - 2*(d3-d1)
			o5[l] = 4*d1 - 5*d3 + d5
		}
	}
}

// outputTransform4 computes At s A for F(4x4, 3x3): 4 x 4 tiles from 6 x 6.
func outputTransform4(o *[16][lanes]float32, s *[36][lanes]float32) {
	var t [24][lanes]float32 // 4 x 6
	for j := 0; j < 6; j++ {
		r0, r1, r2, r3, r4, r5 := &s[j], &s[6+j], &s[12+j], &s[18+j], &s[24+j], &s[30+j]
		t0, t1, t2, t3 := &t[j], &t[6+j], &t[12+j], &t[18+j]
		for l := range lanes {
			m0, m1, m2, m3, m4, m5 := r0[l], r1[l], r2[l], r3[l], r4[l], r5[l]
			t0[l] = m0 + (m1 + m2) + (m3 + m4)
			t1[l] = (m1 - m2) + 2*(m3-m4)
			t2[l] = (m1 + m2) + 4*(m3+m4)
			t3[l] = (m1 - m2) + 8*(m3-m4) + m5
		}
	}
	for i := 0; i < 4; i++ {
		r0, r1, r2, r3, r4, r5 := &t[i*6], &t[i*6+1], &t[i*6+2], &t[i*6+3], &t[i*6+4], &t[i*6+5]
		w0, w1, w2, w3 := &o[i*4], &o[i*4+1], &o[i*4+2], &o[i*4+3]
		for l := range lanes {
			m0, m1, m2, m3, m4, m5 := r0[l], r1[l], r2[l], r3[l], r4[l], r5[l]
			w0[l] = m0 + (m1 + m2) + (m3 + m4)
			w1[l] = (m1 - m2) + 2*(m3-m4)
			w2[l] = (m1 + m2) + 4*(m3+m4)
			w3[l] = (m1 - m2) + 8*(m3-m4) + m5
		}
	}
}

// inputTransform2 computes Bt d B in place for F(2x2, 3x3) on the 4 x 4 tiles (the
// first 16 rows of d) of every lane.
func inputTransform2(d *[36][lanes]float32) {
	var t [16][lanes]float32
	for j := 0; j < 4; j++ {
		r0, r1, r2, r3 := &d[j], &d[4+j], &d[8+j], &d[12+j]
		for l := range lanes {
			d0, d1, d2, d3 := r0[l], r1[l], r2[l], r3[l]
			t[j][l] = d0 - d2
			t[4+j][l] = d1 + d2
			t[8+j][l] = d2 - d1
			t[12+j][l] = d1 - d3
		}
	}
	for i := 0; i < 4; i++ {
		r0, r1, r2, r3 := &t[i*4], &t[i*4+1], &t[i*4+2], &t[i*4+3]
		for l := range lanes {
			d0, d1, d2, d3 := r0[l], r1[l], r2[l], r3[l]
			d[i*4][l] = d0 - d2
			d[i*4+1][l] = d1 + d2
			d[i*4+2][l] = d2 - d1
			d[i*4+3][l] = d1 - d3
		}
	}
}

// outputTransform2 computes At s A for F(2x2, 3x3): 2 x 2 tiles (the first four
// rows of o) from 4 x 4.
func outputTransform2(o *[16][lanes]float32, s *[36][lanes]float32) {
	var t [8][lanes]float32
	for j := 0; j < 4; j++ {
		for l := range lanes {
			t[j][l] = s[j][l] + s[4+j][l] + s[8+j][l]
			t[4+j][l] = s[4+j][l] - s[8+j][l] - s[12+j][l]
		}
	}
	for i := 0; i < 2; i++ {
		for l := range lanes {
			o[i*2][l] = t[i*4][l] + t[i*4+1][l] + t[i*4+2][l]
			o[i*2+1][l] = t[i*4+1][l] - t[i*4+2][l] - t[i*4+3][l]
		}
	}
}
