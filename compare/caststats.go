package compare

import "github.com/refit-ml/refit/tensor"

// addCast folds the source values a and their cast h (binary16 or bfloat16 bytes,
// decoded through back when the vector kernel cannot take a group) into d and s:
// the figures of add(d, a, ToFloat32(h)), up to the order of the sums. Groups of 8
// without Inf, NaN or a new maximum relative error go through castStatsAVX2; the
// others, and other types, through add.
func (s *floatStats) addCast(d *TensorDiff, a []float32, h []byte, to tensor.DType, back []float32) error {
	if !haveCastStats || (to != tensor.F16 && to != tensor.BF16) || len(h) != 2*len(a) {
		back = back[:min(len(back), len(a))] // scratch of at least len(a) values
		if err := tensor.ToFloat32(back, h, to); err != nil {
			return err
		}
		s.add(d, a, back)
		return nil
	}
	acc := simdAcc{maxRel: d.MaxRel}
	n, i := len(a), 0
	for n-i >= 8 {
		i += castStatsAVX2(&a[i], &h[2*i], (n-i)&^7, to == tensor.BF16, &acc)
		if n-i < 8 {
			break
		}
		// A group the kernel left: Inf, NaN or a new maximum relative error.
		if err := tensor.ToFloat32(back[:8], h[2*i:2*i+16], to); err != nil {
			return err
		}
		s.add(d, a[i:i+8], back[:8])
		acc.maxRel = d.MaxRel
		i += 8
	}
	if i < n {
		if err := tensor.ToFloat32(back[:n-i], h[2*i:], to); err != nil {
			return err
		}
		s.add(d, a[i:], back[:n-i])
	}
	for l := range 4 {
		if acc.maxAbs[l] > d.MaxAbs {
			d.MaxAbs = acc.maxAbs[l]
		}
		if acc.maxAbs[l] > 0 {
			s.inexact = true // |x-y| > 0: the values differ
		}
		s.dot += acc.dot[l]
		s.na += acc.na[l]
		s.nb += acc.nb[l]
	}
	return nil
}
