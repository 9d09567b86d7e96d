//go:build !purego

package compare

import "golang.org/x/sys/cpu"

var haveCastStats = cpu.X86.HasAVX2 && cpu.X86.HasF16C && cpu.X86.HasFMA

// simdAcc is castStatsAVX2's state: four lanes of each running figure, and the
// largest relative error so far (read only: a new one stops the kernel).
type simdAcc struct {
	maxAbs, dot, na, nb [4]float64
	maxRel              float64
}

//go:noescape
func castStatsAVX2(a *float32, h *byte, n int, bf16 bool, acc *simdAcc) int
