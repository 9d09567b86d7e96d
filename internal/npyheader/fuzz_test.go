package npyheader

import "testing"

// FuzzParse: any header text parses or fails without panicking, and HasObject on what
// it returns always answers (true with an error for anything it cannot classify).
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`,
		`{'descr': [('a', '<f4'), ('b', [('c', 'O')])], 'fortran_order': False, 'shape': (1,)}`,
		`{'descr': 'ob' "ject", 'fortran_order': False, 'shape': ()}`,
		`{'descr': '\x4f', 'fortran_order': False, 'shape': (1,)}`,
		`{'descr': u'\u004f', 'fortran_order': True, 'shape': (1L,)}`,
		`{'descr': 'f4,(2,3)O', 'fortran_order': False, 'shape': (1,)}`,
		`{'descr': b'O', 'fortran_order': False, 'shape': (1,)}`,
		`{'descr': r'\O', 'fortran_order': False, 'shape': (1,)}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := Parse(s)
		if err != nil {
			return
		}
		if d, ok := v.(*Dict); ok {
			if descr, ok := d.Vals["descr"]; ok {
				if obj, err := HasObject(descr); err != nil && !obj {
					t.Fatalf("HasObject(%v) = false, %v: an unknown dtype must count as an object", descr, err)
				}
			}
		}
	})
}
