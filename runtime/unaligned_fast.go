//go:build amd64 || arm64

package runtime

// unalignedLoads is true where ordinary loads of any width need no alignment, so
// that float32 and int32 data can be read in place from raw_data at any offset.
// (Go allows unaligned pointers to types without pointers; the assembly kernels
// load with unaligned instructions.)
const unalignedLoads = true
