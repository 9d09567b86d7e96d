package numpy

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/internal/ziparchive"
	"github.com/refit-ml/refit/tensor"
)

// rawNPY builds a .npy file with any header text, version and data.
func rawNPY(major byte, header string, data []byte) []byte {
	b := []byte(Magic)
	b = append(b, major, 0)
	if major == 1 {
		b = binary.LittleEndian.AppendUint16(b, uint16(len(header)))
	} else {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(header)))
	}
	return append(append(b, header...), data...)
}

func hdr(descr, fortran, shape string) string {
	return "{'descr': " + descr + ", 'fortran_order': " + fortran + ", 'shape': " + shape + ", }\n"
}

func TestBadNPY(t *testing.T) {
	good, err := os.ReadFile("testdata/le_f4.npy")
	if err != nil {
		t.Fatal(err)
	}
	f4x2 := make([]byte, 8)
	type tc struct {
		name string
		in   []byte
		want error
	}
	cases := []tc{
		{"empty", nil, refit.ErrFormat},
		{"wrong magic", append([]byte("\x93NUMPZ"), good[6:]...), refit.ErrFormat},
		{"version 4", append(append([]byte(Magic), 4, 0), good[8:]...), refit.ErrUnsupported},
		{"version 1.1", append(append([]byte(Magic), 1, 1), good[8:]...), refit.ErrUnsupported},
		{"huge header length v1", append(append([]byte(Magic), 1, 0, 0xff, 0xff), "{}"...), refit.ErrFormat},
		{"huge header length v2", append(append([]byte(Magic), 2, 0, 0xff, 0xff, 0xff, 0xff), "{}"...), refit.ErrFormat},
		{"v2 too short for length", append([]byte(Magic), 2, 0, 1, 0), refit.ErrFormat},
		{"header not a dict", rawNPY(1, "('<f4', False, (2,))\n", f4x2), refit.ErrFormat},
		{"unterminated dict", rawNPY(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)", f4x2), refit.ErrFormat},
		{"unterminated string", rawNPY(1, "{'descr: '<f4', }", f4x2), refit.ErrFormat},
		{"missing key", rawNPY(1, "{'descr': '<f4', 'shape': (2,), }\n", f4x2), refit.ErrFormat},
		{"extra key", rawNPY(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}\n", f4x2), refit.ErrFormat},
		{"duplicate key", rawNPY(1, "{'descr': '<f4', 'descr': '<f4', 'shape': (2,)}\n", f4x2), refit.ErrFormat},
		{"non-string key", rawNPY(1, "{1: '<f4', 'fortran_order': False, 'shape': (2,)}\n", f4x2), refit.ErrFormat},
		{"call expression", rawNPY(1, hdr("__import__('os')", "False", "(2,)"), f4x2), refit.ErrFormat},
		{"shape is a list", rawNPY(1, hdr("'<f4'", "False", "[2]"), f4x2), refit.ErrFormat},
		{"shape is an int", rawNPY(1, hdr("'<f4'", "False", "(2)"), f4x2), refit.ErrFormat},
		{"shape of strings", rawNPY(1, hdr("'<f4'", "False", "('2',)"), f4x2), refit.ErrFormat},
		{"negative dimension", rawNPY(1, hdr("'<f4'", "False", "(-2,)"), f4x2), refit.ErrFormat},
		{"float dimension", rawNPY(1, hdr("'<f4'", "False", "(2.0,)"), f4x2), refit.ErrFormat},
		{"dimension overflows int64", rawNPY(1, hdr("'<f4'", "False", "(99999999999999999999,)"), f4x2), refit.ErrFormat},
		{"shape product overflows", rawNPY(1, hdr("'<f4'", "False", "(4294967296, 4294967296, 0)"), nil), refit.ErrFormat},
		{"byte size overflows", rawNPY(1, hdr("'<f8'", "False", "(9223372036854775807,)"), f4x2), refit.ErrFormat},
		{"huge shape", rawNPY(1, hdr("'<f4'", "False", "(1000000, 1000000)"), f4x2), refit.ErrFormat},
		{"rank over 64", rawNPY(1, hdr("'<f4'", "False", "("+strings.Repeat("1, ", 65)+")"), make([]byte, 4)), refit.ErrFormat},
		{"fortran_order not bool", rawNPY(1, hdr("'<f4'", "0", "(2,)"), f4x2), refit.ErrFormat},
		{"descr not a string", rawNPY(1, hdr("4", "False", "(2,)"), f4x2), refit.ErrFormat},
		{"garbage descr", rawNPY(1, hdr("'<zz'", "False", "(2,)"), f4x2), refit.ErrFormat},
		{"deep nesting", rawNPY(1, "{'descr': "+strings.Repeat("(", 100)+strings.Repeat(")", 100)+"}", f4x2), refit.ErrFormat},
		{"bad escape", rawNPY(1, hdr(`'<f\q'`, "False", "(2,)"), f4x2), refit.ErrFormat},
		{"invalid utf-8 in v3", rawNPY(3, hdr("'<f4'", "False", "(2,)")+"\xff", f4x2), refit.ErrFormat},
		{"truncated data", rawNPY(1, hdr("'<f4'", "False", "(3,)"), f4x2), refit.ErrFormat},
		{"trailing bytes", rawNPY(1, hdr("'<f4'", "False", "(1,)"), f4x2), refit.ErrFormat},
		{"object dtype", rawNPY(1, hdr("'|O'", "False", "(1,)"), make([]byte, 8)), refit.ErrUnsupported},
		{"long double", rawNPY(1, hdr("'<f16'", "False", "(1,)"), make([]byte, 16)), refit.ErrUnsupported},
		{"bfloat16 is not numpy", rawNPY(1, hdr("'<bf16'", "False", "(1,)"), make([]byte, 2)), refit.ErrUnsupported},
		{"structured", rawNPY(1, hdr("[('a', '<f4')]", "False", "(2,)"), f4x2), refit.ErrUnsupported},
	}
	for _, n := range []int{5, 8, 9, 11, 40, len(good) - 1} {
		cases = append(cases, tc{"truncated at " + strconv.Itoa(n), good[:n], refit.ErrFormat})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			x, err := ReadNPY(bytes.NewReader(c.in), int64(len(c.in)))
			if !errors.Is(err, c.want) {
				t.Fatalf("ReadNPY = %v, %v; want %v", x, err, c.want)
			}
			if _, err := Decode(bytes.NewReader(c.in), int64(len(c.in)), nil); !errors.Is(err, c.want) {
				t.Fatalf("Decode = %v, want %v", err, c.want)
			}
		})
	}
}

// TestLenientHeaders accepts headers numpy accepts though numpy.save never writes them.
func TestLenientHeaders(t *testing.T) {
	f4 := binary.LittleEndian.AppendUint32(nil, 0x3f800000)
	for name, h := range map[string]string{
		"double quotes":    `{"descr": "<f4", "fortran_order": False, "shape": (1,)}`,
		"python2 long":     "{'descr': '<f4', 'fortran_order': False, 'shape': (1L,), }",
		"key order":        "{'shape': (1,), 'descr': '<f4', 'fortran_order': False}",
		"tabs and newline": "{'descr':\t'<f4',\n'fortran_order':False,'shape':(1,)}\n\n",
		"unicode prefix":   "{u'descr': u'<f4', 'fortran_order': False, 'shape': (1,)}",
	} {
		t.Run(name, func(t *testing.T) {
			b := rawNPY(1, h, f4)
			x, err := ReadNPY(bytes.NewReader(b), int64(len(b)))
			if err != nil {
				t.Fatalf("ReadNPY(%q) = %v", h, err)
			}
			v, err := x.Float32s()
			if err != nil || len(v) != 1 || v[0] != 1 {
				t.Errorf("ReadNPY(%q) values %v, %v; want [1]", h, v, err)
			}
		})
	}
}

// zipMember is one member of a hand-built archive.
type zipMember struct {
	name     string
	data     []byte // uncompressed content
	deflate  bool
	usize    int64 // declared uncompressed size; -1 means len(data)
	crcDelta uint32
}

func buildZip(t testing.TB, members ...zipMember) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, m := range members {
		body := m.data
		method := zip.Store
		if m.deflate {
			method = zip.Deflate
			var c bytes.Buffer
			fw, _ := flate.NewWriter(&c, flate.BestCompression)
			fw.Write(m.data)
			fw.Close()
			body = c.Bytes()
		}
		usize := uint64(len(m.data))
		if m.usize >= 0 {
			usize = uint64(m.usize)
		}
		w, err := zw.CreateRaw(&zip.FileHeader{
			Name: m.name, Method: method, CRC32: crc32.ChecksumIEEE(m.data) + m.crcDelta,
			CompressedSize64: uint64(len(body)), UncompressedSize64: usize,
		})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(body)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func npyOf(t testing.TB, x *tensor.Tensor) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := EncodeNPY(&b, x); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestBadNPZ(t *testing.T) {
	zeros, _ := tensor.NewF32("z", tensor.Shape{1000}, make([]float32, 1000))
	npy := npyOf(t, zeros)
	n := int64(len(npy))
	corrupt := append([]byte(nil), npy...)
	corrupt[0] = 'X'

	// decodeErr: Decode itself must fail. readErr: Decode succeeds (headers are fine)
	// but reading the tensor must fail.
	for _, c := range []struct {
		name              string
		members           []zipMember
		decodeErr, readEr error
	}{
		{"member with bad magic", []zipMember{{name: "a.npy", data: corrupt, usize: -1}}, refit.ErrFormat, nil},
		{"deflated member with bad magic", []zipMember{{name: "a.npy", data: corrupt, deflate: true, usize: -1}}, refit.ErrFormat, nil},
		{"truncated member", []zipMember{{name: "a.npy", data: npy[:n-3], usize: -1}}, refit.ErrFormat, nil},
		{"member not .npy", []zipMember{{name: "a.npy", data: npy, usize: -1}, {name: "data.pkl", data: []byte("x"), usize: -1}}, refit.ErrUnsupported, nil},
		{"duplicate member", []zipMember{{name: "a.npy", data: npy, usize: -1}, {name: "a.npy", data: npy, usize: -1}}, refit.ErrFormat, nil},
		{"insecure path", []zipMember{{name: "../a.npy", data: npy, usize: -1}}, refit.ErrInsecurePath, nil},
		{"object member", []zipMember{{name: "a.npy", data: rawNPY(1, hdr("'|O'", "False", "(1,)"), make([]byte, 8)), usize: -1}}, refit.ErrUnsupported, nil},
		{"stored size mismatch", []zipMember{{name: "a.npy", data: npy, usize: n + 8}}, refit.ErrFormat, nil},
		// Zip bombs: the declared size disagrees with the npy header or with DEFLATE.
		{"bomb: declared size larger than header says", []zipMember{{name: "a.npy", data: npy, deflate: true, usize: n + 4000}}, refit.ErrFormat, nil},
		{"bomb: declared size smaller than header says", []zipMember{{name: "a.npy", data: npy, deflate: true, usize: n - 4000}}, refit.ErrFormat, nil},
		{"bomb: impossible ratio", []zipMember{{name: "a.npy", data: npy, deflate: true, usize: 1 << 40}}, refit.ErrFormat, nil},
		{"bad crc", []zipMember{{name: "a.npy", data: npy, deflate: true, usize: -1, crcDelta: 1}}, nil, ziparchive.ErrChecksum},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := buildZip(t, c.members...)
			m, err := Decode(bytes.NewReader(b), int64(len(b)), nil)
			if c.decodeErr != nil {
				if !errors.Is(err, c.decodeErr) {
					t.Fatalf("Decode = %v, want %v", err, c.decodeErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode = %v", err)
			}
			if _, err := m.Tensors[0].Bytes(); !errors.Is(err, c.readEr) || !errors.Is(err, refit.ErrFormat) {
				t.Fatalf("Bytes() = %v, want %v and ErrFormat", err, c.readEr)
			}
		})
	}
}

// TestInflateStopsAtDeclaredSize builds a member whose header and declared size agree
// but whose stream inflates further: reading must fail, not return or allocate more.
func TestInflateStopsAtDeclaredSize(t *testing.T) {
	small, _ := tensor.NewF32("s", tensor.Shape{10}, make([]float32, 10))
	npy := npyOf(t, small)
	content := append(append([]byte(nil), npy...), make([]byte, 1<<20)...)
	b := buildZip(t, zipMember{name: "s.npy", data: content, deflate: true, usize: int64(len(npy))})
	m, err := Decode(bytes.NewReader(b), int64(len(b)), nil)
	if err != nil {
		t.Fatalf("Decode = %v", err)
	}
	if _, err := m.Tensors[0].Bytes(); !errors.Is(err, refit.ErrFormat) {
		t.Fatalf("Bytes() = %v, want ErrFormat", err)
	}
}

func TestBadZip(t *testing.T) {
	good, err := os.ReadFile("testdata/stored.npz")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{4, 30, len(good) / 2, len(good) - 1} {
		b := good[:n]
		if _, err := Decode(bytes.NewReader(b), int64(len(b)), nil); !errors.Is(err, refit.ErrFormat) {
			t.Errorf("Decode(stored.npz[:%d]) = %v, want ErrFormat", n, err)
		}
	}
	junk := []byte("not numpy at all")
	if _, err := Decode(bytes.NewReader(junk), int64(len(junk)), nil); !errors.Is(err, refit.ErrFormat) {
		t.Errorf("Decode(junk) = %v, want ErrFormat", err)
	}
}

func TestSniff(t *testing.T) {
	read := func(name string) []byte {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	npy := read("le_f4.npy")
	emptyZip := buildZip(t)
	for _, c := range []struct {
		name string
		in   []byte
		want bool
	}{
		{"npy", npy, true},
		{"object npy (claimed, then refused)", read("object.npy"), true},
		{"stored npz", read("stored.npz"), true},
		{"compressed npz", read("compressed.npz"), true},
		{"torch zip", buildZip(t,
			zipMember{name: "archive/data.pkl", data: []byte("\x80\x02}q\x00."), usize: -1},
			zipMember{name: "archive/data/0", data: make([]byte, 8), usize: -1}), false},
		{"torch zip with an npy inside", buildZip(t,
			zipMember{name: "archive/data.pkl", data: []byte("."), usize: -1},
			zipMember{name: "x.npy", data: npy, usize: -1}), false},
		{"empty zip", emptyZip, false},
		{"safetensors-like", []byte("\x08\x00\x00\x00\x00\x00\x00\x00{}      "), false},
		{"short", []byte("\x93NUM"), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := Sniff(bytes.NewReader(c.in), int64(len(c.in))); got != c.want {
				t.Errorf("Sniff = %v, want %v", got, c.want)
			}
		})
	}
	// An empty archive, as numpy.savez() with no arrays writes, decodes to no tensors.
	m, err := Decode(bytes.NewReader(emptyZip), int64(len(emptyZip)), nil)
	if err != nil || len(m.Tensors) != 0 {
		t.Errorf("Decode(empty zip) = %v, %v; want no tensors", m, err)
	}
}

// TestBigEndianIsLazy checks that converted data is computed on use and plain data is a view.
func TestBigEndianIsLazy(t *testing.T) {
	b, err := os.ReadFile("testdata/be_i4.npy")
	if err != nil {
		t.Fatal(err)
	}
	x, err := ReadNPY(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := x.Data.(*tensor.Lazy); !ok {
		t.Fatalf("big-endian data is %T, want *tensor.Lazy", x.Data)
	}
	first, _ := x.Bytes()
	second, _ := x.Bytes()
	if !bytes.Equal(first, second) {
		t.Error("reading twice gave different bytes (conversion applied twice?)")
	}
	le, err := os.ReadFile("testdata/le_i4.npy")
	if err != nil {
		t.Fatal(err)
	}
	y, _ := ReadNPY(bytes.NewReader(le), int64(len(le)))
	if _, ok := y.Data.(*io.SectionReader); !ok {
		t.Errorf("little-endian data is %T, want a *io.SectionReader view", y.Data)
	}
	if yb, _ := y.Bytes(); !bytes.Equal(first, yb) {
		t.Errorf("big-endian %x != little-endian %x", first, yb)
	}
}

// TestFortranEdgeCases covers Fortran headers numpy.save does not write itself.
func TestFortranEdgeCases(t *testing.T) {
	for _, c := range []struct {
		name, shape string
		data, want  []byte
	}{
		{"empty", "(2, 0, 3)", nil, []byte{}},
		{"one long dimension", "(1, 4, 1)", []byte{1, 2, 3, 4}, []byte{1, 2, 3, 4}},
		{"0-d", "()", []byte{9}, []byte{9}},
		{"2x2", "(2, 2)", []byte{1, 3, 2, 4}, []byte{1, 2, 3, 4}},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := rawNPY(1, hdr("'|u1'", "True", c.shape), c.data)
			x, err := ReadNPY(bytes.NewReader(b), int64(len(b)))
			if err != nil {
				t.Fatalf("ReadNPY = %v", err)
			}
			got, err := x.Bytes()
			if err != nil || !bytes.Equal(got, c.want) {
				t.Errorf("Bytes() = %v, %v; want %v", got, err, c.want)
			}
		})
	}
}
