package runtime

import (
	"fmt"
	"os"
	"strconv"
	"sync"

	"github.com/refit-ml/refit/internal/blas"
)

// DefaultWinogradMemory is the default Options.WinogradMemory. With 16 MiB,
// ResNet-18 peaks at 92 MiB resident at batch 1 (bound: 45 MiB of weights, 9 of
// live activations, plus 64: 118) with the same speed as unlimited, and at
// 138-146 MiB at batch 16 with one or two threads (bound 158 MiB; unlimited:
// 238-267 MiB; 24 MiB: 145-152) for about 15% more CPU time than unlimited and
// a third less than the direct path.
const DefaultWinogradMemory = 16 << 20

// winogradAllowance is the extra weight memory a session lets the Winograd
// transforms take (the transformed weights' bytes minus the direct path's packed
// bytes), given out to the convolutions in the order they first run, and each
// node's choice, fixed at its first run.
type winogradAllowance struct {
	mu    sync.Mutex
	left  int64 // bytes not given out yet; negative: unlimited
	tiles map[*Node]int
	// packed is the bytes of the Winograd weights this session prepared (tests).
	packed int64
}

// newWinogradAllowance is the allowance of Options.WinogradMemory (0: the
// environment's REFIT_CONV_WINOGRAD_MIB, else DefaultWinogradMemory; negative:
// unlimited).
func newWinogradAllowance(bytes int64) *winogradAllowance {
	if bytes == 0 {
		bytes = DefaultWinogradMemory
		if mib, err := strconv.ParseInt(os.Getenv("REFIT_CONV_WINOGRAD_MIB"), 10, 64); err == nil {
			bytes = max(mib, -1) << 20
		}
	}
	return &winogradAllowance{left: max(bytes, -1), tiles: map[*Node]int{}}
}

// tile returns the tile n runs with: its choice from an earlier run, else the
// first of tiles (the cost model's picks, best first) whose extra weight memory
// fits what is left of the allowance, taken from it (0 when none fits). F(4x4)
// with F(2x2) as the alternative may take only a quarter of what is left: F(2x2)
// costs a quarter of F(4x4)'s extra memory (7 floats per kernel for 27) for more
// than half of its savings, so the large layers run in F(2x2) and leave room for
// the next ones (ResNet-18 at batch 16 with 24 MiB: its 64- and 128-channel
// convolutions in F(4x4), the 256-channel ones and one 512-channel one in F(2x2)
// ran 6% faster than with F(4x4) while the allowance lasted; with 16 MiB, the
// same but the 512-channel ones direct).
func (a *winogradAllowance) tile(n *Node, tiles []int, C, M int) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	if m, ok := a.tiles[n]; ok {
		return m
	}
	m := 0
	for _, t := range tiles {
		extra := blas.WinogradBytes(t, M, C) - 4*9*int64(M)*int64(C)
		if t == 4 && len(tiles) > 1 && a.left >= 0 && extra > a.left/4 {
			continue
		}
		if a.left < 0 || extra <= a.left {
			if a.left >= 0 {
				a.left -= extra
			}
			m = t
			break
		}
	}
	a.tiles[n] = m
	return m
}

// decided returns the tile chosen for n at its first run, if it ran.
func (a *winogradAllowance) decided(n *Node) (tile int, ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	tile, ok = a.tiles[n]
	return tile, ok
}

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

// winogradForceTile, when not 0, overrides the cost model (tests): 4 prefers
// F(4x4) to F(2x2) to the direct path, 2 F(2x2) to the direct path.
var winogradForceTile int

// winogradTile picks F(m x m, 3 x 3) for a convolution of n images of c channels
// into k channels, outH x outW outputs: m = 4 or 2, or 0 when the direct
// convolution is estimated faster.
func winogradTile(n, c, k, outH, outW int) int {
	if tiles := winogradTiles(n, c, k, outH, outW); len(tiles) > 0 {
		return tiles[0]
	}
	return 0
}

// winogradTiles lists the tiles m = 4 and 2 whose estimated cost beats the direct
// convolution's, the cheapest first.
func winogradTiles(n, c, k, outH, outW int) []int {
	direct := 9 * float64(c) * float64(k) * float64(n*outH*outW)
	transform := winogradTransformCost[blas.WinogradFastTransforms()]
	var tiles []int
	var costs []float64
	for _, m := range []int{4, 2} {
		tc := transform[m]
		g := blas.WinogradConv{Batch: n, OutH: outH, OutW: outW}
		t := blas.WinogradTiles(g, m)
		a := float64((m + 2) * (m + 2))
		cost := a*float64(c)*float64(k)*float64((t+15)/16*16) + tc*float64(c+k)*float64(t) +
			winogradWeightReadCost*a*float64(c)*float64(k)
		if cost < winogradMinGain*direct {
			tiles, costs = append(tiles, m), append(costs, cost)
		}
	}
	if len(tiles) == 2 && costs[1] < costs[0] {
		tiles[0], tiles[1] = tiles[1], tiles[0]
	}
	return tiles
}

// convWinograd computes a 2-D, ungrouped, 3 x 3, stride-1, undilated convolution
// with the Winograd transforms (blas.SgemmWinograd) when the cost model prefers
// them and the session allows it, and reports whether it did. The transformed
// weights are prepared once per node and charged to the session's memory budget
// and to its Winograd allowance (Options.WinogradMemory); when they cannot be (the
// input is not a constant initializer, the budget or allowance is short, or the
// node's weights were prepared for the direct path), it reports false and the
// direct path runs.
func convWinograd(c *Call, y, xs, bs []float32, w *window, N, C, M int) bool {
	if !winogradApplies(c, w) {
		return false
	}
	g := blas.WinogradConv{Batch: N, Height: int(w.in[0]), Width: int(w.in[1]),
		PadTop: int(w.padBegin[0]), PadLeft: int(w.padBegin[1]), OutH: int(w.out[0]), OutW: int(w.out[1])}
	tiles := winogradTiles(N, C, M, g.OutH, g.OutW)
	if winogradForceTile == 4 {
		tiles = []int{4, 2}
	} else if winogradForceTile != 0 {
		tiles = []int{winogradForceTile}
	}
	if len(tiles) == 0 {
		return false
	}
	// The choice is fixed at the node's first run, before anything is prepared, so
	// that the allowance is charged once per node and session.
	tile := c.sess.winograd.tile(c.Node, tiles, C, M)
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
		c.sess.winograd.mu.Lock()
		c.sess.winograd.packed += n
		c.sess.winograd.mu.Unlock()
		return blas.PackWinograd(tile, M, C, v.Data.([]float32))
	})
	if !ok || p == nil {
		return false
	}
	blas.SgemmWinograd(c.Threads(), p, xs, g, bs, c.Node.relu, y)
	return true
}

// winogradPreferred reports whether convWinograd would try the Winograd transforms
// for this convolution (fused ConvMaxPool then leaves the batch to convKernel).
func winogradPreferred(c *Call, w *window, N, C, M int) bool {
	if !winogradApplies(c, w) {
		return false
	}
	if m, ok := c.sess.winograd.decided(c.Node); ok {
		return m != 0
	}
	return winogradForceTile != 0 || winogradTile(N, C, M, int(w.out[0]), int(w.out[1])) != 0
}

// winogradApplies reports whether the session allows Winograd and w is a 2-D 3 x 3
// stride-1 undilated window, the only one the transforms compute.
func winogradApplies(c *Call, w *window) bool {
	return c.sess != nil && !c.sess.noWinograd && len(w.in) == 2 &&
		w.kernel[0] == 3 && w.kernel[1] == 3 && allEqual(w.strides, 1) && allEqual(w.dilations, 1)
}
