//go:build amd64 && !purego

package qgemm

import "golang.org/x/sys/cpu"

// kernelVNNI is the kernelFunc contract with AVX-512 VNNI: sixteen ZMM accumulators
// (8 rows x 32 columns), per group of four k steps two loads of the B panel, eight
// broadcasts of A and sixteen VPDPBUSD.
//
//go:noescape
func kernelVNNI(kg int, a, b *byte, c *int32, ldc int, init *int32)

// kernelVNNISU is kernelVNNI for int8 A and uint8 B.
//
//go:noescape
func kernelVNNISU(kg int, a, b *byte, c *int32, ldc int, init *int32)

// kernelAVX2 is the kernelFunc contract with AVX2, in 4x8 sub-tiles: the bytes are
// widened to int16 (A zero-extended, B sign-extended) and multiplied in pairs by
// VPMADDWD, whose int32 pair sums cannot overflow (unlike VPMADDUBSW's saturating
// int16 ones).
//
//go:noescape
func kernelAVX2(kg int, a, b *byte, c *int32, ldc int, init *int32)

// kernelAVX2SU is kernelAVX2 for int8 A and uint8 B.
//
//go:noescape
func kernelAVX2SU(kg int, a, b *byte, c *int32, ldc int, init *int32)

// kernelVNNIOffs is kernelVNNISU with B read in place at per-group offsets
// (offsKernelFunc).
//
//go:noescape
func kernelVNNIOffs(kg int, a, b *byte, offs *int, c *int32, ldc int, init *int32)

// kernelAVX2Offs is kernelAVX2SU with B read in place at per-group offsets.
//
//go:noescape
func kernelAVX2Offs(kg int, a, b *byte, offs *int, c *int32, ldc int, init *int32)

var (
	vnniKernel = microKernel{name: "avx512vnni-8x32", us: kernelVNNI, su: kernelVNNISU, offs: kernelVNNIOffs}
	avx2Kernel = microKernel{name: "avx2-8x32", us: kernelAVX2, su: kernelAVX2SU, offs: kernelAVX2Offs}
)

// cpuKernels lists the assembly kernels this CPU runs, best first.
func cpuKernels() []microKernel {
	var ks []microKernel
	if cpu.X86.HasAVX512F && cpu.X86.HasAVX512VNNI {
		ks = append(ks, vnniKernel)
	}
	if cpu.X86.HasAVX2 {
		ks = append(ks, avx2Kernel)
	}
	return ks
}

func init() {
	if ks := cpuKernels(); len(ks) > 0 {
		kernel = ks[0]
	}
}
