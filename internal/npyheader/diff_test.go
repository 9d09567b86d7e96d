package npyheader

import (
	"errors"
	"testing"
	"unicode/utf8"

	"github.com/refit-ml/refit/internal/testtool"
)

// FuzzHasObjectDiff compares HasObject with numpy's descr_to_dtype(...).hasobject on the
// same descr literal: whenever numpy reads an object dtype, HasObject must say so; when
// numpy reads a plain one, HasObject may only disagree by not understanding it.
func FuzzHasObjectDiff(f *testing.F) {
	for _, s := range []string{`'<f4'`, `'O'`, `'object'`, `'\x4f'`, `'\u004f'`, `'f4,O'`, `'(2,)O'`,
		`[('a', '<f4'), ('b', 'O')]`, `[('a', [('b', 'O')])]`, `[('a', 'O', (2,))]`, `('O', (2,))`,
		`['aO']`, `'ob' 'ject'`, `'|V8'`, `'<M8[ns]'`, `'i4, (2,3)f8'`, `'O8'`, `'object_'`, `'b1'`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, lit string) {
		if !utf8.ValidString(lit) {
			return
		}
		if !testtool.HasPythonModule("numpy") {
			testtool.RequirePython(t, "numpy")
		}
		o := testtool.RequireOracle(t)
		var py struct {
			Obj *bool  `json:"obj"`
			Err string `json:"err"`
		}
		if err := o.Query('n', []byte(lit), &py); errors.Is(err, testtool.ErrOracleHung) {
			return
		} else if err != nil {
			t.Fatal(err)
		}
		v, perr := Parse(lit)
		if py.Obj == nil {
			return // numpy refuses the header or the dtype: nothing is unpickled
		}
		if perr != nil {
			// A literal Python reads and this parser does not: the scanner treats the
			// header as holding objects, which is safe; only \N{} escapes are expected.
			t.Logf("Parse(%q) = %v; numpy reads it (object: %v)", lit, perr, *py.Obj)
			return
		}
		got, err := HasObject(v)
		if *py.Obj && !got {
			t.Fatalf("HasObject(%s) = false, %v; numpy reads an object dtype", lit, err)
		}
		if !*py.Obj && got && err == nil {
			t.Fatalf("HasObject(%s) = true; numpy reads a plain dtype", lit)
		}
	})
}
