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
