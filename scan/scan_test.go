package scan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func scanBytes(t testing.TB, name string, data []byte) *Report {
	t.Helper()
	rep, err := Scan(bytes.NewReader(data), int64(len(data)), name)
	if err != nil {
		t.Fatalf("Scan(%q) error: %v", name, err)
	}
	return rep
}

func scanFile(t testing.TB, name string) *Report {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return scanBytes(t, name, data)
}

func has(rep *Report, path, global string, lvl Level) bool {
	return slices.ContainsFunc(rep.Findings, func(f Finding) bool {
		return (path == "" || f.Path == path) && f.Global() == global && f.Level == lvl
	})
}

// TestFixtureLevels checks every fixture by its name: bad_* Dangerous, unknown_* Unknown
// without errors, ok_* clean (Safe, no errors).
func TestFixtureLevels(t *testing.T) {
	names, err := filepath.Glob("testdata/*")
	if err != nil || len(names) < 30 {
		t.Fatalf("fixtures missing (%d, %v); run /usr/bin/python3 testdata/gen/scan.py", len(names), err)
	}
	for _, p := range names {
		name := filepath.Base(p)
		if fi, err := os.Stat(p); err != nil || fi.IsDir() {
			continue
		}
		t.Run(name, func(t *testing.T) {
			rep := scanFile(t, name)
			var want Level
			switch {
			case strings.HasPrefix(name, "bad_"):
				want = Dangerous
			case strings.HasPrefix(name, "unknown_"):
				want = Unknown
			case strings.HasPrefix(name, "ok_"):
				want = Safe
			default:
				t.Skip("unclassified fixture")
			}
			if got := rep.Worst(); got != want {
				t.Errorf("Scan(%q).Worst() = %v, want %v; findings %+v errors %q", name, got, want, rep.Findings, rep.Errors)
			}
			if want != Dangerous && len(rep.Errors) > 0 {
				t.Errorf("Scan(%q) errors = %q, want none", name, rep.Errors)
			}
			if want == Safe && len(rep.Findings) == 0 && !strings.HasSuffix(name, ".pkl") {
				t.Errorf("Scan(%q) found no globals; a torch or npz file references some", name)
			}
		})
	}
}

// TestBypasses checks the exact global, member path and opcode each bypass is caught by.
func TestBypasses(t *testing.T) {
	tests := []struct {
		file, path, global, opcode string
		wantErr                    bool
	}{
		{"bad_memo.pkl", "bad_memo.pkl", "os.system", "STACK_GLOBAL", false},
		{"bad_memoize.pkl", "", "subprocess.getoutput", "STACK_GLOBAL", false},
		{"bad_dup.pkl", "", "os.system", "STACK_GLOBAL", false},
		{"bad_p0_global.pkl", "", "os.system", "GLOBAL", false},
		{"bad_p0_inst.pkl", "", "os.system", "INST", false},
		{"bad_escapes.pkl", "", "os.system", "STACK_GLOBAL", false},
		{"bad_getattr.pkl", "", "__builtin__.getattr", "GLOBAL", false},
		{"bad_getattr.pkl", "", "__builtin__.__import__", "REDUCE", false},
		{"bad_getattr.pkl", "", "?.(computed value)", "REDUCE", false},
		{"bad_getattr_safe.pkl", "", "builtins.getattr", "STACK_GLOBAL", false},
		{"bad_computed.pkl", "", "(computed value).(str)", "STACK_GLOBAL", false},
		{"bad_dotted.pkl", "", "torch.serialization.os.system", "STACK_GLOBAL", false},
		{"bad_ext.pkl", "", "copyreg.extension 1", "EXT1", false},
		{"bad_build.pkl", "", "torch._utils", "BUILD", false},
		{"bad_partial.pkl", "", "functools.partial", "REDUCE", false},
		{"bad_partial.pkl", "", "builtins.eval", "STACK_GLOBAL", false},
		{"bad_reduce_os_system.pkl", "", "posix.system", "REDUCE", false},
		{"bad_concat.pkl", "", "os.system", "STACK_GLOBAL", false},
		{"bad_broken_tail.pkl", "", "os.system", "REDUCE", true},
		{"bad_truncated.pkl", "", "posix.system", "GLOBAL", true},
		{"bad_torch_zip.pt", "archive/data.pkl", "os.system", "STACK_GLOBAL", false},
		{"bad_nested.zip", "inner.zip/model.pt/archive/data.pkl", "os.system", "STACK_GLOBAL", false},
		{"bad_hidden_member.zip", "archive/hidden.pkl", "os.system", "STACK_GLOBAL", false},
		{"bad_junk_prefix.pt", "archive/data.pkl", "os.system", "STACK_GLOBAL", false},
		{"bad_junk_truncated.pt", "archive/data.pkl", "os.system", "STACK_GLOBAL", true},
		{"bad_pickle_before_zip.pt", "(data before zip)", "os.system", "STACK_GLOBAL", false},
		{"bad_object.npz", "o.npy", "os.system", "STACK_GLOBAL", false},
		{"bad_torch_tar.pt", "pickle", "os.system", "STACK_GLOBAL", false},
	}
	for _, tt := range tests {
		t.Run(tt.file+"/"+tt.global, func(t *testing.T) {
			rep := scanFile(t, tt.file)
			found := slices.ContainsFunc(rep.Findings, func(f Finding) bool {
				return (tt.path == "" || f.Path == tt.path) && f.Global() == tt.global &&
					f.Opcode == tt.opcode && f.Level == Dangerous
			})
			if !found {
				t.Errorf("Scan(%q) has no dangerous %s via %s at %q; findings %+v", tt.file, tt.global, tt.opcode, tt.path, rep.Findings)
			}
			if got := len(rep.Errors) > 0; got != tt.wantErr {
				t.Errorf("Scan(%q) errors = %q, want errors: %v", tt.file, rep.Errors, tt.wantErr)
			}
		})
	}
}

func TestBenignDetails(t *testing.T) {
	rep := scanFile(t, "ok_torch_zip.pt")
	if !has(rep, "archive/data.pkl", "torch._utils._rebuild_tensor_v2", Safe) ||
		!has(rep, "archive/data.pkl", "collections.OrderedDict", Safe) ||
		!has(rep, "archive/data.pkl", "torch.HalfStorage", Safe) {
		t.Errorf("ok_torch_zip.pt findings %+v lack the expected safe globals", rep.Findings)
	}
	rep = scanFile(t, "ok_torch_legacy.pt")
	if !has(rep, "ok_torch_legacy.pt", "torch.LongStorage", Safe) {
		t.Errorf("ok_torch_legacy.pt findings %+v lack torch.LongStorage", rep.Findings)
	}
	rep = scanFile(t, "unknown_torch_module.pt")
	if !has(rep, "", "torch.nn.modules.linear.Linear", Unknown) {
		t.Errorf("unknown_torch_module.pt findings %+v lack an unknown Linear", rep.Findings)
	}
}

// TestLegacyTrailingPickle checks that data after a legacy torch file's storages is scanned.
func TestLegacyTrailingPickle(t *testing.T) {
	data, err := os.ReadFile("testdata/ok_torch_legacy.pt")
	if err != nil {
		t.Fatal(err)
	}
	bad, err := os.ReadFile("testdata/bad_memo.pkl")
	if err != nil {
		t.Fatal(err)
	}
	rep := scanBytes(t, "x.pt", append(data, bad...))
	if rep.Worst() != Dangerous {
		t.Errorf("legacy file + pickle: Worst() = %v, want dangerous; %+v %q", rep.Worst(), rep.Findings, rep.Errors)
	}
}

func TestWalker(t *testing.T) {
	su := func(s string) string { return "\x8c" + string(rune(len(s))) + s }
	tests := []struct {
		name    string
		pickle  string
		want    []string // globals found, in order
		wantErr bool
	}{
		{"empty", "", nil, false},
		{"not a pickle", "hello", nil, true},
		{"bad proto", "\x80\x09N.", nil, true},
		{"stop on empty stack", ".", nil, true},
		{"get missing memo", "\x80\x02h\x05.", nil, true},
		{"text get/put", "(S'os'\np0\n0g0\nS'system'\n\x93.", []string{"os.system"}, false},
		{"unicode escape", "Vo\\u0073\nVsystem\n\x93.", []string{"os.system"}, false},
		{"binstring", "U\x02osU\x06system\x93.", []string{"os.system"}, false},
		// Python stops at these two bad escapes; the scanner reads on to the global.
		{"string trailing backslash", "S'x\\'\n0Vos\nVsystem\n\x93.", []string{"os.system"}, false},
		{"bad unicode escape", "V\\u12\n0Vos\nVsystem\n\x93.", []string{"os.system"}, false},
		{"bad string hex escape", "S'\\x4'\n0Vos\nVsystem\n\x93.", nil, true},
		// As in Python, an escaped backslash does not start \u.
		{"unicode backslash pair", "Vos\\\\u0073\nVsystem\n\x93.", []string{"os\\\\u0073.system"}, false},
		{"bytes operands", "C\x02osC\x06system\x93.", []string{"(bytes).(bytes)"}, false},
		{"frame", "\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00" + su("os") + su("system") + "\x93.", []string{"os.system"}, false},
		{"huge unicode8", "\x8d\xff\xff\xff\xff\xff\xff\xff\x0f", nil, true},
		{"negative binstring", "T\xff\xff\xff\xff", nil, true},
		{"newobj", "\x80\x02c__main__\nM\n)\x81.", []string{"__main__.M"}, false},
		{"ext2", "\x80\x02\x83\x01\x02.", []string{"copyreg.extension 513", "?.?"}, false},
		{"pop mark", "(N0" + su("a") + ".", nil, false},
		{"second pickle", "N." + su("os") + su("system") + "\x93.", []string{"os.system"}, false},
		{"garbage after", "N.\xff", nil, true},
		{"list over its cap", "]" + strings.Repeat("("+strings.Repeat("N", 100000)+"e", 12) + "(Ne0" + su("os") + su("system") + "\x93.", []string{"os.system"}, false},
		{"stack over its cap", strings.Repeat("N", maxStack+1) + ".", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := scanBytes(t, "p", []byte(tt.pickle))
			var got []string
			for _, f := range rep.Findings {
				if f.Opcode != "REDUCE" {
					got = append(got, f.Global())
				}
			}
			if tt.name == "ext2" {
				got = got[:1]
				tt.want = tt.want[:1]
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Scan(%q) globals = %q, want %q", tt.pickle, got, tt.want)
			}
			if (len(rep.Errors) > 0) != tt.wantErr {
				t.Errorf("Scan(%q) errors = %q, want errors: %v", tt.pickle, rep.Errors, tt.wantErr)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		module, name string
		want         Level
	}{
		{"torch._utils", "_rebuild_tensor_v2", Safe},
		{"torch", "FloatStorage", Safe},
		{"torch", "bfloat16", Safe},
		{"collections", "OrderedDict", Safe},
		{"numpy.core.multiarray", "_reconstruct", Safe},
		{"_codecs", "encode", Safe},
		{"__builtin__", "set", Safe},
		{"builtins", "eval", Dangerous},
		{"builtins", "exec", Dangerous},
		{"builtins", "getattr", Dangerous},
		{"builtins", "__import__", Dangerous},
		{"builtins", "open", Dangerous},
		{"os", "system", Dangerous},
		{"nt", "system", Dangerous},
		{"subprocess", "Popen", Dangerous},
		{"runpy", "run_path", Dangerous},
		{"importlib", "import_module", Dangerous},
		{"_pickle", "loads", Dangerous},
		{"shutil", "rmtree", Dangerous},
		{"socket", "socket", Dangerous},
		{"webbrowser", "open", Dangerous},
		{"pty", "spawn", Dangerous},
		{"code", "InteractiveInterpreter", Dangerous},
		{"ctypes", "CDLL", Dangerous},
		{"functools", "partial", Dangerous},
		{"operator", "attrgetter", Dangerous},
		{"operator", "methodcaller", Dangerous},
		{"torch", "load", Dangerous},
		{"torch.hub", "load", Dangerous},
		{"torch.storage", "_load_from_bytes", Dangerous},
		{"collections", "OrderedDict.__init__.__globals__", Dangerous},
		{"torch", "serialization.os.system", Dangerous},
		{"__main__", "MyModel", Unknown},
		{"torch.nn.modules.linear", "Linear", Unknown},
		{"builtins", "print", Unknown},
		{"osmium", "thing", Unknown},
	}
	for _, tt := range tests {
		if got, _ := classify(tt.module, tt.name); got != tt.want {
			t.Errorf("classify(%q, %q) = %v, want %v", tt.module, tt.name, got, tt.want)
		}
	}
}

func TestReportJSON(t *testing.T) {
	rep := scanFile(t, "bad_memo.pkl")
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"level":"dangerous"`)) {
		t.Errorf("json %s lacks a dangerous level", b)
	}
	if got := (&Report{}).Worst(); got != Safe {
		t.Errorf("empty Report.Worst() = %v, want safe", got)
	}
}

// TestTruncations scans every prefix of every fixture: no panics, and every prefix of a
// dangerous plain pickle that still contains its global opcode reports it.
func TestTruncations(t *testing.T) {
	names, _ := filepath.Glob("testdata/*")
	for _, p := range names {
		if fi, e := os.Stat(p); e == nil && fi.IsDir() {
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		step := max(1, len(data)/300)
		for n := 0; n <= len(data); n += step {
			scanBytes(t, p, data[:n])
		}
	}
}

func ExampleScan() {
	// A protocol-0 pickle calling os.system, as an attacker would write it.
	data := []byte("cos\nsystem\n(S'echo pwned'\ntR.")
	rep, _ := Scan(bytes.NewReader(data), int64(len(data)), "evil.pkl")
	for _, f := range rep.Findings {
		fmt.Println(f.Path, f.Global(), f.Level, f.Opcode)
	}
	fmt.Println("worst:", rep.Worst())
	// Output:
	// evil.pkl os.system dangerous GLOBAL
	// evil.pkl os.system dangerous REDUCE
	// worst: dangerous
}

// TestLegacyModuleIDs checks a pre-1.6 torch.save(model) file: its ('module', class,
// source file, source) persistent ids resolve to the classes they name (unknown, not a
// dangerous call of a computed value), and each id is reported with its source.
func TestLegacyModuleIDs(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "format", "pytorch", "testdata", "model_legacy.pt"))
	if err != nil {
		t.Fatal(err)
	}
	rep := scanBytes(t, "model_legacy.pt", data)
	if rep.Worst() != Unknown {
		t.Errorf("Worst() = %v, want unknown; findings %+v", rep.Worst(), rep.Findings)
	}
	var ids int
	for _, f := range rep.Findings {
		if f.Opcode == "BINPERSID" {
			ids++
			if !strings.Contains(f.Note, "source file") || !strings.Contains(f.Note, "class ") {
				t.Errorf("module id %s: note %q lacks the source file and source", f.Global(), f.Note)
			}
		}
	}
	if ids == 0 {
		t.Errorf("no module persistent ids reported; findings %+v", rep.Findings)
	}
	// The same id naming a dangerous callable stays dangerous where it is called.
	evil := []byte("\x80\x02(X\x06\x00\x00\x00modulecposix\nsystem\nX\x01\x00\x00\x00fX\x01\x00\x00\x00stQX\x02\x00\x00\x00id\x85R.")
	if rep := scanBytes(t, "evil.pkl", evil); rep.Worst() != Dangerous {
		t.Errorf("module id naming posix.system: Worst() = %v, want dangerous", rep.Worst())
	}
}
