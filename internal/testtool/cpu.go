package testtool

import (
	"os"
	"runtime"
	"strings"
)

// ExactInt8ORT reports whether ONNX Runtime's uint8 x int8 kernels are known to be
// exact on this machine: arm64, or x86 with AVX-512 VNNI or AVX-VNNI. Elsewhere (x86
// with AVX2 alone, or AVX-512 without VNNI) they sum pairs of products in a saturating
// int16, and tests accept Refit's emulation of that (runtime.SaturatingPairsArith).
func ExactInt8ORT() bool {
	if runtime.GOARCH == "arm64" {
		return true
	}
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return false
	}
	for line := range strings.Lines(string(b)) {
		key, flags, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(key) != "flags" {
			continue
		}
		for _, f := range strings.Fields(flags) {
			if f == "avx512_vnni" || f == "avx_vnni" {
				return true
			}
		}
		return false
	}
	return false
}
