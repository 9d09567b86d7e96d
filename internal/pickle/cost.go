package pickle

import "math/big"

// Estimated bytes of Go memory per value, for Options.Budget. They are rounded up from the
// sizes of the Go structures plus slice growth (append doubles, so a slot costs up to
// twice its size) and map overhead, so the charge errs towards more than the heap holds.
const (
	slotCost      = 16  // an interface value in a slice (stack, list, tuple)
	elemCost      = 32  // an element appended to a list or set, with growth
	dictEntryCost = 128 // a key and a value in two slices plus the index map entry
	memoEntryCost = 64  // a memo map entry
	dictCost      = 96  // an empty *Dict
	listCost      = 48  // an empty *List or *Set
	objectCost    = 160 // an empty inert *Object
	otherCost     = 64  // values made by allowlisted callables (tensors, storages, dtypes)
)

// cost estimates the memory a freshly created value holds beyond its slot.
func cost(v any) int64 {
	switch x := v.(type) {
	case nil, bool:
		return 0
	case int64, float64:
		return 8
	case string:
		return 16 + int64(len(x))
	case []byte:
		return 24 + int64(len(x))
	case *big.Int:
		return 32 + int64(x.BitLen()/8)
	case Tuple:
		return 24 + slotCost*int64(len(x))
	case *List:
		return listCost + slotCost*int64(len(x.Items))
	case *Set:
		return listCost + slotCost*int64(len(x.Items))
	case *Dict:
		return dictCost + dictEntryCost*int64(x.Len())
	case *Object:
		return objectCost
	case *Class:
		return 48 + int64(len(x.Module)+len(x.Name))
	}
	return otherCost
}
