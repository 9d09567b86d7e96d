//go:build !unix

package refit

// openNonblock is zero where opening a file cannot block on a FIFO the Unix way.
const openNonblock = 0
