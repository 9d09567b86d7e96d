package pickle

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// canon mirrors canon() in testdata/gen/pytorch_pickle.py.
func canon(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case bool:
		if x {
			return "True"
		}
		return "False"
	case int64:
		return strconv.FormatInt(x, 10)
	case *big.Int:
		return x.String()
	case float64:
		return "f" + fmt.Sprintf("%016x", math.Float64bits(x))
	case string:
		return "s" + hex.EncodeToString([]byte(x))
	case []byte:
		return "b" + hex.EncodeToString(x)
	case Tuple:
		return "(" + join(x) + ")"
	case *List:
		return "[" + join(x.Items) + "]"
	case *Dict:
		parts := make([]string, x.Len())
		for i := range parts {
			parts[i] = canon(x.Key(i)) + ":" + canon(x.Value(i))
		}
		return "{" + strings.Join(parts, ",") + "}"
	case *Set:
		parts := make([]string, len(x.Items))
		for i, e := range x.Items {
			parts[i] = canon(e)
		}
		slices.Sort(parts)
		return "set(" + strings.Join(parts, ",") + ")"
	}
	return fmt.Sprintf("<%T>", v)
}

func join(items []any) string {
	parts := make([]string, len(items))
	for i, e := range items {
		parts[i] = canon(e)
	}
	return strings.Join(parts, ",")
}

func TestProtocols(t *testing.T) {
	want, err := os.ReadFile("testdata/values.canon")
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("testdata/values_p*.pkl")
	if len(files) != 6 {
		t.Fatalf("found %d fixtures, want 6", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			v, err := Unpickle(b, &Options{Globals: Builtins()})
			if err != nil {
				t.Fatalf("Unpickle = %v", err)
			}
			if got := canon(v); got != strings.TrimSpace(string(want)) {
				t.Errorf("Unpickle = %.300s...\nwant %.300s...", got, want)
			}
			// Shared references stay shared: value["shared"][0] is value["shared"][1].
			shared, _ := v.(*Dict).Get("shared")
			if l := shared.(*List); l.Items[0] != l.Items[1] {
				t.Errorf("memoized list not shared")
			}
		})
	}
}

func TestRefused(t *testing.T) {
	tests := []struct {
		name   string
		pickle string
		global string
	}{
		{"GLOBAL os.system", "cos\nsystem\n(S'echo pwned'\ntR.", "os.system"},
		{"STACK_GLOBAL builtins.eval", "\x80\x04\x8c\x08builtins\x8c\x04eval\x93\x8c\x011\x85R.", "builtins.eval"},
		{"INST subprocess.call", "(S'ls'\nisubprocess\ncall\n.", "subprocess.call"},
		{"posix.system in a dict", "}(X\x01\x00\x00\x00acposix\nsystem\nu.", "posix.system"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Unpickle([]byte(tt.pickle), &Options{Globals: Builtins()})
			var ge *GlobalError
			if !errors.As(err, &ge) || ge.Module+"."+ge.Name != tt.global || !errors.Is(err, ErrGlobal) {
				t.Fatalf("Unpickle = %v, want GlobalError for %s", err, tt.global)
			}
			if !strings.Contains(err.Error(), `"`+tt.global+`"`) {
				t.Errorf("error %q does not name %s", err, tt.global)
			}
			// Inert mode records it and calls nothing.
			if _, err := Unpickle([]byte(tt.pickle), &Options{Inert: true}); err != nil {
				t.Errorf("Unpickle(Inert) = %v", err)
			}
		})
	}
}

func TestInertObjects(t *testing.T) {
	// A protocol-2 instance: NEWOBJ then BUILD with a state dict, and a list subclass.
	p := "\x80\x02cmymod\nThing\nq\x00)\x81}X\x01\x00\x00\x00aK\x05sb."
	v, err := Unpickle([]byte(p), &Options{Inert: true})
	if err != nil {
		t.Fatal(err)
	}
	o, ok := v.(*Object)
	if !ok || o.Module != "mymod" || o.Name != "Thing" {
		t.Fatalf("Unpickle = %#v, want an inert mymod.Thing", v)
	}
	if a, _ := o.State.(*Dict).Get("a"); a != int64(5) {
		t.Errorf("state a = %v, want 5", a)
	}
	// Protocol 1: copyreg._reconstructor(cls, object, None) then BUILD.
	p1 := "ccopy_reg\n_reconstructor\nq\x00(cmymod\nThing\nq\x01c__builtin__\nobject\nq\x02Ntq\x03Rq\x04}q\x05X\x01\x00\x00\x00bK\x07sb."
	v, err = Unpickle([]byte(p1), &Options{Inert: true})
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := v.(*Object); !ok || o.Name != "Thing" || o.State == nil {
		t.Errorf("Unpickle(protocol 1) = %#v", v)
	}
}

func TestMalformed(t *testing.T) {
	tests := []struct {
		name   string
		pickle []byte
		want   error
	}{
		{"empty", nil, io.ErrUnexpectedEOF},
		{"no STOP", []byte("\x80\x02K\x01"), io.ErrUnexpectedEOF},
		{"stack underflow", []byte("."), ErrMalformed},
		{"unknown opcode", []byte("\xff."), ErrMalformed},
		{"bad protocol", []byte("\x80\x09."), ErrUnsupported},
		{"EXT1", []byte("\x80\x02\x82\x01."), ErrUnsupported},
		{"NEXT_BUFFER", []byte("\x80\x05\x97."), ErrUnsupported},
		{"huge BINBYTES8", append([]byte("\x80\x04\x8e"), binary.LittleEndian.AppendUint64(nil, 1<<62)...), io.ErrUnexpectedEOF},
		{"huge BINUNICODE", []byte("X\xff\xff\xff\xff"), io.ErrUnexpectedEOF},
		{"huge LONG4", []byte("\x8b\xff\xff\xff\x7f"), io.ErrUnexpectedEOF},
		{"huge FRAME", append([]byte("\x80\x04\x95"), binary.LittleEndian.AppendUint64(nil, 1<<62)...), io.ErrUnexpectedEOF},
		{"deep marks", bytes.Repeat([]byte("("), 1<<20), ErrLimit},
		{"long integer literal", []byte("L" + strings.Repeat("9", 20000) + "\n."), ErrLimit},
		{"missing memo", []byte("h\x05."), ErrMalformed},
		{"APPEND to int", []byte("K\x01K\x02a."), ErrMalformed},
		{"REDUCE on int", []byte("K\x01)R."), ErrMalformed},
		{"odd DICT", []byte("(K\x01d."), ErrMalformed},
		{"bad UTF-8", []byte("X\x01\x00\x00\x00\xff."), ErrMalformed},
		{"bad STRING quote", []byte("S'abc\n."), ErrMalformed},
		{"persistent id without loader", []byte("K\x01Q."), ErrMalformed},
		{"POP_MARK without mark", []byte("1."), ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Unpickle(tt.pickle, &Options{})
			if !errors.Is(err, tt.want) {
				t.Errorf("Unpickle(%q) = %v, want %v", tt.name, err, tt.want)
			}
		})
	}
}

func TestMemoLimit(t *testing.T) {
	var b []byte
	b = append(b, 'N')
	for i := range 100 {
		b = append(b, 'r')
		b = binary.LittleEndian.AppendUint32(b, uint32(i))
	}
	b = append(b, '.')
	if _, err := Unpickle(b, &Options{MaxMemo: 10}); !errors.Is(err, ErrLimit) {
		t.Errorf("Unpickle = %v, want ErrLimit", err)
	}
	if _, err := Unpickle(b, nil); err != nil {
		t.Errorf("Unpickle with default limits = %v", err)
	}
}

func TestCycle(t *testing.T) {
	// l = []; l.append(l)
	v, err := Unpickle([]byte("\x80\x02]q\x00h\x00a."), nil)
	if err != nil {
		t.Fatal(err)
	}
	l := v.(*List)
	if len(l.Items) != 1 || l.Items[0] != any(l) {
		t.Errorf("self-referencing list not rebuilt")
	}
}

func TestPersistentLoad(t *testing.T) {
	var seen []any
	opts := &Options{PersistentLoad: func(pid any) (any, error) { seen = append(seen, pid); return "loaded", nil }}
	v, err := Unpickle([]byte("(X\x01\x00\x00\x00aK\x01tQPtext id\n\x86."), opts)
	if err != nil {
		t.Fatal(err)
	}
	if canon(v) != canon(Tuple{"loaded", "loaded"}) || len(seen) != 2 || seen[1] != "text id" {
		t.Errorf("got %v with pids %v", v, seen)
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	v := OrderedDict{
		Keys: []any{"a", "b", "c", "big", "neg"},
		Values: []any{
			Tuple{int64(1), int64(300), int64(70000), int64(-5), 1.5, "x", true, false, nil},
			Reduce{Func: Global{"collections", "OrderedDict"}, Args: Tuple{}},
			PersistentID{Value: Tuple{"storage", Global{"torch", "FloatStorage"}, "0", "cpu", int64(6)}},
			int64(1) << 40, int64(math.MinInt64),
		},
	}
	b, err := Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Unpickle(b, &Options{
		Globals:        map[string]any{"collections.OrderedDict": Func(orderedDict), "torch.FloatStorage": "FS"},
		PersistentLoad: func(pid any) (any, error) { return canon(pid), nil },
	})
	if err != nil {
		t.Fatalf("Unpickle(Marshal) = %v", err)
	}
	want := `{s61:(1,300,70000,-5,f3ff8000000000000,s78,True,False,None),s62:{},s63:s` +
		hex.EncodeToString([]byte(canon(Tuple{"storage", "FS", "0", "cpu", int64(6)}))) +
		`,s626967:1099511627776,s6e6567:-9223372036854775808}`
	if canon(got) != want {
		t.Errorf("round trip = %s\nwant %s", canon(got), want)
	}
}

// FuzzUnpickle checks that no input panics or allocates without bound, in both modes.
func FuzzUnpickle(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.pkl")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("\x80\x02cmymod\nThing\nq\x00)\x81}X\x01\x00\x00\x00aK\x05sb."))
	f.Add([]byte("ccopy_reg\n_reconstructor\n(cm\nT\nc__builtin__\nobject\nNtR}bP1\n."))
	f.Fuzz(func(t *testing.T, b []byte) {
		load := func(pid any) (any, error) { return pid, nil }
		for _, inert := range []bool{false, true} {
			v, err := Unpickle(b, &Options{Globals: Builtins(), Inert: inert, PersistentLoad: load, MaxDepth: 100})
			if err == nil && !inert {
				_ = v
			}
		}
	})
}
