// Package npyheader parses the header of a .npy array as numpy does: the header text
// is a Python literal dict (read with ast.literal_eval in numpy), and its descr is a
// dtype string, a (descr, shape) tuple or a list of fields, possibly nested.
//
// HasObject tells whether a descr is or contains an object dtype, for which numpy.load
// unpickles the array data. It classifies by parsing, not by searching the text, so
// 'object', '\x4f', '\u004f', 'f4,O', '(2,)O' and object fields of structured dtypes are
// all found; a descr it cannot classify is reported as unknown, which the scanner treats
// as an object dtype.
//
// Security: Parse interprets a literal and never evaluates it; nesting is capped.
package npyheader
