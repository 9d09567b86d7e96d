package runtime

import (
	"fmt"
	"os"

	"github.com/refit-ml/refit/internal/blas"
)

// winogradDisabledByEnv reports REFIT_CONV_WINOGRAD=0 (or "off", "false").
func winogradDisabledByEnv() bool {
	switch os.Getenv("REFIT_CONV_WINOGRAD") {
	case "0", "off", "false":
		return true
	}
	return false
}

// Cost model of winogradTile, in multiply-adds of the direct convolution's
// micro-kernels (which run at about the same rate as the Winograd GEMMs): a tile's
// transform per channel (input) or output channel (output) costs about 900 (F(4x4))
// and 400 (F(2x2)) with the AVX-512 transforms, 2800 and 1900 with the AVX2 or Go
// ones; a product with fewer tiles than a panel pays for the whole panel; each
// transformed weight read costs 6 (it is read once per product, from memory when
// the weights are large and the tiles few: ResNet-18's 512-channel 7 x 7 maps at
// batch 1 ran 3% faster in all through F(2x2), for 25 MB more, so they stay
// direct). Figures from BenchmarkSgemmWinograd
// against BenchmarkSgemmShiftedOut on the Zen 4 dev VM, the AVX2 ones with
// AVX-512 turned off through GODEBUG. The transforms must win by a fifth: their
// weights take 4x (F(2x2): 1.8x) the memory of the direct path's.
var winogradTransformCost = map[bool][5]float64{ // by fast transforms; indexed by tile
	true:  {2: 400, 4: 900},
	false: {2: 1900, 4: 2800},
}

const (
	winogradWeightReadCost = 6
	winogradMinGain        = 0.8
)

// winogradForceTile, when not 0, overrides the cost model (tests).
var winogradForceTile int

// winogradTile picks F(m x m, 3 x 3) for a convolution of n images of c channels
// into k channels, outH x outW outputs: m = 4 or 2, or 0 when the direct
// convolution is estimated faster.
func winogradTile(n, c, k, outH, outW int) int {
	direct := 9 * float64(c) * float64(k) * float64(n*outH*outW)
	best, tile := winogradMinGain*direct, 0
	transform := winogradTransformCost[blas.WinogradFastTransforms()]
	for _, m := range []int{4, 2} {
		tc := transform[m]
		g := blas.WinogradConv{Batch: n, OutH: outH, OutW: outW}
		t := blas.WinogradTiles(g, m)
		a := float64((m + 2) * (m + 2))
		cost := a*float64(c)*float64(k)*float64((t+15)/16*16) + tc*float64(c+k)*float64(t) +
			winogradWeightReadCost*a*float64(c)*float64(k)
		if cost < best {
			best, tile = cost, m
		}
	}
	return tile
}

// convWinograd computes a 2-D, ungrouped, 3 x 3, stride-1, undilated convolution
// with the Winograd transforms (blas.SgemmWinograd) when the cost model prefers
// them and the session allows it, and reports whether it did. The transformed
// weights are prepared once per node and charged to the session's memory budget;
// when they cannot be (the input is not a constant initializer, the budget is
// short, or the node's weights were prepared for the direct path), it reports
// false and the direct path runs.
func convWinograd(c *Call, y, xs, bs []float32, w *window, N, C, M int) bool {
	if c.sess == nil || c.sess.noWinograd || len(w.in) != 2 ||
		w.kernel[0] != 3 || w.kernel[1] != 3 || !allEqual(w.strides, 1) || !allEqual(w.dilations, 1) {
		return false
	}
	g := blas.WinogradConv{Batch: N, Height: int(w.in[0]), Width: int(w.in[1]),
		PadTop: int(w.padBegin[0]), PadLeft: int(w.padBegin[1]), OutH: int(w.out[0]), OutW: int(w.out[1])}
	tile := winogradTile(N, C, M, g.OutH, g.OutW)
	if winogradForceTile != 0 {
		tile = winogradForceTile
	}
	if tile == 0 {
		return false
	}
	p, ok := preparePacked(c, 1, func(v *Value) *blas.WinogradWeights {
		n := blas.WinogradBytes(tile, M, C)
		// prepare charges the built weights; this only declines to build them
		// when the budget has no room.
		if c.sess.budget.charge(n, func() string { return fmt.Sprintf("Winograd weights of %d bytes", n) }) != nil {
			return nil
		}
		c.sess.budget.release(n)
		return blas.PackWinograd(tile, M, C, v.Data.([]float32))
	})
	if !ok || p == nil {
		return false
	}
	n := blas.WinogradPadLen(p, g)
	if c.checkElements(int64(n)) != nil {
		return false
	}
	pad := getScratch(n)
	blas.SgemmWinograd(c.Threads(), p, xs, g, bs, c.Node.relu, pad, y)
	putScratch(pad)
	return true
}

// winogradPreferred reports whether convWinograd would try the Winograd transforms
// for this convolution (fused ConvMaxPool then leaves the batch to convKernel).
func winogradPreferred(c *Call, w *window, N, C, M int) bool {
	if c.sess == nil || c.sess.noWinograd || len(w.in) != 2 ||
		w.kernel[0] != 3 || w.kernel[1] != 3 || !allEqual(w.strides, 1) || !allEqual(w.dilations, 1) {
		return false
	}
	return winogradForceTile != 0 || winogradTile(N, C, M, int(w.out[0]), int(w.out[1])) != 0
}
