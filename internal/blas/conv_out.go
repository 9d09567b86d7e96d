package blas

// ConvOutTiles reports whether SgemmShiftedOut can run on this CPU (its kernel has
// tiles that store a convolution's output positions): where it cannot, SgemmShifted
// computes the layout's wide product, which the caller compacts, or pools in place.
func ConvOutTiles() bool {
	_, _, ok := convEpilogueTiles(kernel)
	return ok
}
