package npyheader

import (
	"errors"
	"testing"
)

// The object cases are spellings numpy 1.24 reads as (or as holding) an object dtype;
// testdata/gen/hostile_containers.py checks each against numpy.
func TestHasObject(t *testing.T) {
	for _, tc := range []struct {
		literal string
		want    bool
	}{
		{`'O'`, true}, {`'|O'`, true}, {`'O8'`, true}, {`'=O4'`, true}, {`'object'`, true},
		{`'object_'`, true}, {`'\x4f'`, true}, {`'\u004f'`, true}, {`'\117'`, true},
		{`'\U0000004f'`, true}, {`'ob' 'ject'`, true}, {`u'O'`, true}, {`"""O"""`, true},
		{`'f4,O'`, true}, {`'(2,)O'`, true}, {`'(2, 3)f4, 3O'`, true}, {`'0O'`, true},
		{`[('a', '<f4'), ('b', '|O')]`, true}, {`[('a', [('b', 'O')])]`, true},
		{`[('a', 'O', (2,))]`, true}, {`[(('t', 'a'), 'object')]`, true}, {`('O', (2,))`, true},
		{`['aO']`, true}, {`[['a', 'O']]`, true},
		{`'<f4'`, false}, {`'|u1'`, false}, {`'<M8[ns]'`, false}, {`'float32'`, false},
		{`'f4,i8'`, false}, {`'(2,)<f4'`, false}, {`[('a', '<f4'), ('b', [('c', '<i8')])]`, false},
		{`('<f4', (2,))`, false}, {`'<U10'`, false}, {`'|S3'`, false}, {`'|V8'`, false},
	} {
		v, err := Parse(tc.literal)
		if err != nil {
			t.Errorf("Parse(%s) = %v", tc.literal, err)
			continue
		}
		got, err := HasObject(v)
		if got != tc.want || err != nil {
			t.Errorf("HasObject(%s) = %v, %v; want %v, nil", tc.literal, got, err, tc.want)
		}
	}
}

func TestHasObjectUnknown(t *testing.T) {
	for _, lit := range []string{`'zz'`, `'O '`, `3`, `[('a',)]`, `'f4,zz'`} {
		v, err := Parse(lit)
		if err != nil {
			t.Fatalf("Parse(%s) = %v", lit, err)
		}
		if got, err := HasObject(v); !got || !errors.Is(err, ErrUnknownDType) {
			t.Errorf("HasObject(%s) = %v, %v; want true, ErrUnknownDType", lit, got, err)
		}
	}
}
