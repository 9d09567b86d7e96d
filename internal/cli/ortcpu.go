package cli

import (
	goruntime "runtime"

	"golang.org/x/sys/cpu"
)

// ortInt8ExactHere reports whether ONNX Runtime's uint8 x int8 kernels are exact on
// this CPU: everywhere but x86, and on x86 with AVX-512 VNNI or AVX-VNNI. Elsewhere
// (AVX2 alone, AVX-512 without VNNI) they sum pairs of products in saturating int16.
// A variable so tests can play either machine.
var ortInt8ExactHere = (goruntime.GOARCH != "amd64" && goruntime.GOARCH != "386") ||
	cpu.X86.HasAVX512VNNI || cpu.X86.HasAVXVNNI
