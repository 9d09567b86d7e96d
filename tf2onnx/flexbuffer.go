package tf2onnx

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/refit-ml/refit"
)

// flexMap reads the FlexBuffers map that TFLite custom operators (MediaPipe's
// landmark operators among them) keep their attributes in. Only what attributes
// need is read: scalars (int, uint, float, bool, and their indirect forms) and
// vectors of them (typed, fixed-length typed, untyped), all as float64. Every offset
// is checked against the buffer, so malformed options are an error, never a panic.
//
// Layout (from the FlexBuffers format): the buffer ends with the root value, its
// packed type byte (type<<2 | log2 width of what it points to) and its byte width.
// Offsets point backwards. A vector's length sits one element width before its
// first element; an untyped vector's element type bytes follow its elements; a map
// is an untyped vector of values preceded by (keys offset, keys width, length).
func flexMap(b []byte) (map[string][]float64, error) {
	bad := func(what string) error {
		return fmt.Errorf("%w: custom options (FlexBuffers): %s", refit.ErrFormat, what)
	}
	n := len(b)
	if n < 3 {
		return nil, bad("too short")
	}
	rootWidth := int(b[n-1])
	rootType := b[n-2]
	if !validWidth(rootWidth) || n-2 < rootWidth {
		return nil, bad("root width")
	}
	rootPos := n - 2 - rootWidth
	if rootType>>2 != flexMapType {
		return nil, bad(fmt.Sprintf("root of type %d, want a map", rootType>>2))
	}
	pos, err := flexOffset(b, rootPos, rootWidth)
	if err != nil {
		return nil, err
	}
	width := 1 << (rootType & 3)
	if pos < 3*width {
		return nil, bad("map header")
	}
	count, _ := flexUint(b, pos-width, width)
	keysPos, err := flexOffset(b, pos-3*width, width)
	if err != nil {
		return nil, err
	}
	keysWidth, _ := flexUint(b, pos-2*width, width)
	if !validWidth(int(keysWidth)) || keysPos < int(keysWidth) {
		return nil, bad("keys vector")
	}
	kw := int(keysWidth)
	keysCount, _ := flexUint(b, keysPos-kw, kw)
	if keysCount != count || count > uint64(n) || pos+int(count)*width+int(count) > n || keysPos+int(count)*kw > n {
		return nil, bad("map of more entries than bytes")
	}
	out := map[string][]float64{}
	for i := range int(count) {
		kp, err := flexOffset(b, keysPos+i*kw, kw)
		if err != nil {
			return nil, err
		}
		end := kp
		for end < n && b[end] != 0 {
			end++
		}
		if end >= n {
			return nil, bad("unterminated key")
		}
		t := b[pos+int(count)*width+i]
		v, err := flexValue(b, pos+i*width, width, t)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", b[kp:end], err)
		}
		out[string(b[kp:end])] = v
	}
	return out, nil
}

// FlexBuffers value types used here.
const (
	flexInt, flexUintT, flexFloat                        = 1, 2, 3
	flexIndirectInt, flexIndirectUint, flexIndirectFloat = 6, 7, 8
	flexMapType, flexVector                              = 9, 10
	flexVectorInt, flexVectorUint, flexVectorFloat       = 11, 12, 13
	flexVectorInt2, flexVectorFloat4                     = 16, 24
	flexBool, flexVectorBool                             = 26, 36
)

func validWidth(w int) bool { return w == 1 || w == 2 || w == 4 || w == 8 }

func flexUint(b []byte, pos, width int) (uint64, error) {
	if pos < 0 || pos+width > len(b) || !validWidth(width) {
		return 0, fmt.Errorf("%w: custom options (FlexBuffers): value at %d past the end", refit.ErrFormat, pos)
	}
	switch width {
	case 1:
		return uint64(b[pos]), nil
	case 2:
		return uint64(binary.LittleEndian.Uint16(b[pos:])), nil
	case 4:
		return uint64(binary.LittleEndian.Uint32(b[pos:])), nil
	}
	return binary.LittleEndian.Uint64(b[pos:]), nil
}

// flexOffset follows the backward offset stored at pos.
func flexOffset(b []byte, pos, width int) (int, error) {
	off, err := flexUint(b, pos, width)
	if err != nil {
		return 0, err
	}
	if off > uint64(pos) {
		return 0, fmt.Errorf("%w: custom options (FlexBuffers): offset %d before the start", refit.ErrFormat, off)
	}
	return pos - int(off), nil
}

// flexScalar reads a width-byte scalar of type t (int, uint, float, bool) at pos.
func flexScalar(b []byte, pos, width int, t byte) (float64, error) {
	u, err := flexUint(b, pos, width)
	if err != nil {
		return 0, err
	}
	switch t {
	case flexInt:
		shift := 64 - 8*width
		return float64(int64(u<<shift) >> shift), nil
	case flexUintT, flexBool:
		return float64(u), nil
	case flexFloat:
		switch width {
		case 4:
			return float64(math.Float32frombits(uint32(u))), nil
		case 8:
			return math.Float64frombits(u), nil
		}
	}
	return 0, fmt.Errorf("%w: custom options (FlexBuffers): scalar of type %d, width %d", refit.ErrFormat, t, width)
}

// flexValue reads the value stored in a parent slot of width bytes at pos, of packed type pt.
func flexValue(b []byte, pos, width int, pt byte) ([]float64, error) {
	t, childWidth := pt>>2, 1<<(pt&3)
	switch t {
	case flexInt, flexUintT, flexFloat, flexBool:
		v, err := flexScalar(b, pos, width, t)
		return []float64{v}, err
	case flexIndirectInt, flexIndirectUint, flexIndirectFloat:
		p, err := flexOffset(b, pos, width)
		if err != nil {
			return nil, err
		}
		v, err := flexScalar(b, p, childWidth, t-flexIndirectInt+flexInt)
		return []float64{v}, err
	}
	p, err := flexOffset(b, pos, width)
	if err != nil {
		return nil, err
	}
	var elemType byte
	var count int
	switch {
	case t == flexVector || t >= flexVectorInt && t <= flexVectorFloat || t == flexVectorBool:
		if p < childWidth {
			return nil, fmt.Errorf("%w: custom options (FlexBuffers): vector header", refit.ErrFormat)
		}
		c, err := flexUint(b, p-childWidth, childWidth)
		if err != nil {
			return nil, err
		}
		if c > uint64(len(b)) {
			return nil, fmt.Errorf("%w: custom options (FlexBuffers): vector of %d elements", refit.ErrFormat, c)
		}
		count = int(c)
		switch t {
		case flexVectorBool:
			elemType = flexBool
		case flexVector:
		default:
			elemType = t - flexVectorInt + flexInt
		}
	case t >= flexVectorInt2 && t <= flexVectorFloat4: // fixed length 2, 3 or 4
		count = 2 + int(t-flexVectorInt2)/3
		elemType = (t-flexVectorInt2)%3 + flexInt
	default:
		return nil, unsupported("FlexBuffers value of type %d", t)
	}
	if p+count*childWidth > len(b) || t == flexVector && p+count*childWidth+count > len(b) {
		return nil, fmt.Errorf("%w: custom options (FlexBuffers): vector past the end", refit.ErrFormat)
	}
	out := make([]float64, count)
	for i := range out {
		et := elemType
		if t == flexVector {
			et = b[p+count*childWidth+i] >> 2
		}
		if out[i], err = flexScalar(b, p+i*childWidth, childWidth, et); err != nil {
			return nil, err
		}
	}
	return out, nil
}
