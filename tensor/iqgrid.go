package tensor

// IQGridCodes returns the packed level codes of the codebook of i-quant type d (a copy),
// or nil for types without one. They are the kgrid_* tables ggml's quantizers start from
// (ggml-quants.c): two bits per element for IQ2_XXS, IQ2_XS, IQ2_S and IQ1_S/IQ1_M (8
// elements), three bits for IQ3_XXS and IQ3_S (4 elements), level l meaning 2l+1 there.
func IQGridCodes(d DType) []uint16 {
	var c []uint16
	switch d {
	case IQ2_XXS:
		c = iq2xxsCodes[:]
	case IQ2_XS:
		c = iq2xsCodes[:]
	case IQ2_S:
		c = iq2sCodes[:]
	case IQ3_XXS:
		c = iq3xxsCodes[:]
	case IQ3_S:
		c = iq3sCodes[:]
	case IQ1_S, IQ1_M:
		c = iq1sCodes[:]
	default:
		return nil
	}
	return append([]uint16(nil), c...)
}
