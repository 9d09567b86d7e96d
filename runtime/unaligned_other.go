//go:build !amd64 && !arm64

package runtime

// unalignedLoads is false where a misaligned load may fault or trap into a slow
// emulation: raw_data that is not aligned is copied.
const unalignedLoads = false
