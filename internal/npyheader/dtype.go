package npyheader

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// ErrUnknownDType reports a descr this package cannot classify. Callers that guard
// against pickles treat it as an object dtype.
var ErrUnknownDType = errors.New("npy: dtype not understood")

// maxDescrDepth caps the nesting of structured dtypes walked by HasObject.
const maxDescrDepth = 32

// HasObject reports whether numpy's descr_to_dtype(descr) is or contains an object
// dtype, in which case numpy.load unpickles the array data. descr is a value from
// Parse: a dtype string ('<f4', 'O', 'object', 'f4,O', '(2,)O'), a (descr, shape)
// tuple, or a sequence of fields (name, descr[, shape]), nested. It returns
// true with ErrUnknownDType for anything it cannot classify.
func HasObject(descr any) (bool, error) {
	obj, err := hasObject(descr, 0)
	return obj || err != nil, err
}

func hasObject(descr any, depth int) (bool, error) {
	if depth > maxDescrDepth {
		return false, fmt.Errorf("%w: nested deeper than %d", ErrUnknownDType, maxDescrDepth)
	}
	switch d := descr.(type) {
	case string:
		return stringHasObject(d)
	case Tuple:
		// descr_to_dtype reads a tuple as (subtype, shape).
		if len(d) < 1 {
			return false, fmt.Errorf("%w: empty tuple", ErrUnknownDType)
		}
		return hasObject(d[0], depth+1)
	}
	// Anything else is iterated as a list of fields.
	fields, ok := sequence(descr)
	if !ok {
		return false, fmt.Errorf("%w: %T", ErrUnknownDType, descr)
	}
	for _, f := range fields {
		items, ok := sequence(f)
		if !ok || len(items) < 2 || len(items) > 3 {
			return false, fmt.Errorf("%w: field %v", ErrUnknownDType, f)
		}
		obj, err := hasObject(items[1], depth+1)
		if obj || err != nil {
			return obj, err
		}
	}
	return false, nil
}

// sequence returns the items Python would iterate over in v: a list's or tuple's items,
// a string's characters, a dict's keys.
func sequence(v any) ([]any, bool) {
	switch v := v.(type) {
	case List:
		return v, true
	case Tuple:
		return v, true
	case string:
		var out []any
		for _, r := range v {
			out = append(out, string(r))
		}
		return out, true
	case *Dict:
		out := make([]any, len(v.Keys))
		for i, k := range v.Keys {
			out[i] = k
		}
		return out, true
	}
	return nil, false
}

// plainNames are the dtype names of the numpy type dictionary that are not objects
// (numpy 1.24's sctypeDict, minus 'O', 'object', 'object0', 'object_').
var plainNames = map[string]bool{}

func init() {
	for _, n := range strings.Fields(`? B D F G H I L M M8 P Q S U V a b b1 bool bool8 bool_ byte
		bytes bytes0 bytes_ c16 c32 c8 cdouble cfloat clongdouble clongfloat complex complex128
		complex256 complex64 complex_ csingle d datetime64 double e f f16 f2 f4 f8 float float128
		float16 float32 float64 float_ g h half i i1 i2 i4 i8 int int0 int16 int32 int64 int8 int_
		intc intp l long longcomplex longdouble longfloat longlong m m8 p q short single
		singlecomplex str str0 str_ string_ timedelta64 u1 u2 u4 u8 ubyte uint uint0 uint16 uint32
		uint64 uint8 uintc uintp ulong ulonglong unicode unicode_ ushort void void0`) {
		plainNames[n] = true
	}
}

// plainCode matches a type code with a size and an optional datetime unit, after the
// byte-order character: every kind but 'O'.
var plainCode = regexp.MustCompile(`^[?bBhHiIlLqQpPefdgFDGSUVaumMc][0-9]*(\[[A-Za-z0-9]+\])?$`)

// commaPart is one field of a comma string as numpy's _commastring splits it: an order
// character, a repeat count such as "(2,3)" or "3", another order character, a type.
var commaPart = regexp.MustCompile(`^\s*[<>|=]?\s*(\(\s*[0-9 ,]*\)|[0-9]+)?\s*[<>|=]?(.*?)\s*$`)

// stringHasObject classifies one dtype string: known plain types are not objects; the
// object spellings, and anything not understood, count as objects.
func stringHasObject(s string) (bool, error) {
	if plainString(s) {
		return false, nil
	}
	if strings.ContainsAny(s, ",(") || (len(s) > 0 && s[0] >= '0' && s[0] <= '9') {
		// A comma string ("f4,O"), a subarray ("(2,)O") or a repeat ("3O").
		parts := strings.Split(s, ",")
		// Commas inside a repeat "(2,3)" split it; join those parts back.
		var fields []string
		for i := 0; i < len(parts); i++ {
			f := parts[i]
			for strings.Count(f, "(") > strings.Count(f, ")") && i+1 < len(parts) {
				i++
				f += "," + parts[i]
			}
			fields = append(fields, f)
		}
		allPlain := true
		for _, f := range fields {
			m := commaPart.FindStringSubmatch(f)
			if m == nil {
				return true, fmt.Errorf("%w: %q", ErrUnknownDType, s)
			}
			t := m[2]
			if t == "" {
				continue // a trailing comma
			}
			if isObjectName(t) {
				return true, nil
			}
			if !plainString(t) {
				allPlain = false
			}
		}
		if allPlain {
			return false, nil
		}
		return true, fmt.Errorf("%w: %q", ErrUnknownDType, s)
	}
	if isObjectName(s) {
		return true, nil
	}
	return true, fmt.Errorf("%w: %q", ErrUnknownDType, s)
}

func plainString(s string) bool {
	if plainNames[s] {
		return true
	}
	if s != "" && strings.IndexByte("<>=|", s[0]) >= 0 {
		s = s[1:]
	}
	return plainNames[s] || plainCode.MatchString(s)
}

// isObjectName reports the spellings numpy reads as the object type.
func isObjectName(s string) bool {
	if s != "" && strings.IndexByte("<>=|", s[0]) >= 0 {
		s = s[1:]
	}
	switch s {
	case "O", "O4", "O8", "object", "object0", "object_":
		return true
	}
	return false
}

// Known reports whether s is a dtype string numpy understands as a single type (plain or
// object), as opposed to text numpy would refuse.
func Known(s string) bool { return plainString(s) || isObjectName(s) }
