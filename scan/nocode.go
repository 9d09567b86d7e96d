package scan

import (
	"errors"
	"io"
)

// noCode lists the formats whose files hold no pickles and no other code, by the name
// refit's format registry gives them, with what they hold instead.
var noCode = map[string]string{
	"safetensors":  "tensors and a JSON header",
	"gguf":         "tensors and typed metadata",
	"onnx":         "a graph of ONNX operators (a protobuf)",
	"tflite":       "a graph of TFLite operators (a flatbuffer)",
	"tfcheckpoint": "tensors in a TensorFlow bundle",
}

// NoCode reports whether files of the named format hold no pickles, and what they hold.
func NoCode(format string) (what string, ok bool) {
	what, ok = noCode[format]
	return what, ok
}

// ScanNoCode scans a file of a format that holds no pickles (see NoCode). The format
// itself needs no scan, but torch.load and numpy.load unpickle any file that is not a zip
// or npy from byte 0, so a file that is also a pickle there (a polyglot) is walked as
// one; what it finds is reported as Scan reports it. Report.Note says what the format
// holds.
func ScanNoCode(r io.ReaderAt, size int64, name, format string) (*Report, error) {
	what, ok := noCode[format]
	if !ok {
		return nil, errors.New("scan: format " + format + " may hold pickles; use Scan")
	}
	if r == nil || size < 0 {
		return nil, errors.New("scan: nil reader or negative size")
	}
	s := &scanner{rep: &Report{Findings: []Finding{}, Errors: []string{}}, workLimit: 1<<28 + 16*size, label: name}
	s.scanPickles(name, io.NewSectionReader(r, 0, size), layoutPlain, guess)
	s.rep.Note = "no pickles: " + format + " holds " + what + ", no code"
	return s.rep, nil
}
