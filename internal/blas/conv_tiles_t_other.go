//go:build !amd64 || purego

package blas

// convTileSetsT lists the transposed tile sets of this build: the portable one.
func convTileSetsT() []convTileSetT { return []convTileSetT{goTileSetT} }
