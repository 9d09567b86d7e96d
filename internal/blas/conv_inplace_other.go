//go:build !amd64 || purego

package blas

// convTiles returns the in-place tiles matching micro-kernel k, or false when there
// are none (the caller then packs B).
func convTiles(k microKernel) (full, half convTileFunc, ok bool) {
	if k.name == genericKernel.name {
		return convTile4x4, nil, true
	}
	return nil, nil, false
}

// convEpilogueTiles reports that this build has no tiles storing a convolution's
// output: callers store through the plain tiles.
func convEpilogueTiles(k microKernel) (full, half convTileEpiFunc, ok bool) { return nil, nil, false }
