//go:build !amd64 || purego

package compare

const haveCastStats = false

type simdAcc struct {
	maxAbs, dot, na, nb [4]float64
	maxRel              float64
}

func castStatsAVX2(a *float32, h *byte, n int, bf16 bool, acc *simdAcc) int { return 0 }
