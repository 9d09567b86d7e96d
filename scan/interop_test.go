package scan

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/refit-ml/refit/internal/testtool"
)

// oracleScript unpickles with Python's own Unpickler whose find_class records (module, name)
// and returns an inert stand-in, so nothing real is imported or called. It prints, per
// file, every global Python itself resolves (memo, DUP and escapes included).
const oracleScript = `
import io, json, pickle, sys

class Inert:
    def __new__(cls, *a, **k): return object.__new__(cls)
    def __init__(self, *a, **k): pass
    def __call__(self, *a, **k): return Inert()
    def __setstate__(self, s): pass
    def __getattr__(self, n): return Inert()
    def __setitem__(self, k, v): pass
    def append(self, x): pass
    def extend(self, x): pass
    def add(self, x): pass

class Recorder(pickle._Unpickler):  # the pure-Python unpickler: same opcode semantics
    def __init__(self, f, seen):
        super().__init__(f, encoding="utf-8")
        self.seen = seen
    def find_class(self, module, name):
        self.seen.append([module, name])
        return type(name.replace(".", "_"), (Inert,), {})
    def persistent_load(self, pid):
        return Inert()

out = {}
for path in sys.argv[1:]:
    data = open(path, "rb").read()
    f, seen = io.BytesIO(data), []
    while f.tell() < len(data):
        try:
            Recorder(f, seen).load()
        except Exception as e:
            seen.append(["error", str(e)])
            break
    out[path] = seen
print(json.dumps(out))
`

// TestPythonOracle checks that every global Python's unpickler resolves in each fixture
// pickle is reported by Scan (exactly, or as a dangerous non-constant STACK_GLOBAL).
func TestPythonOracle(t *testing.T) {
	testtool.RequirePython(t)
	files, _ := filepath.Glob("testdata/*.pkl")
	out := testtool.RunPython(t, oracleScript, files...)
	var seen map[string][][2]string
	if err := json.Unmarshal(out, &seen); err != nil {
		t.Fatalf("oracle output: %v\n%s", err, out)
	}
	total := 0
	for _, p := range files {
		rep := scanFile(t, filepath.Base(p))
		nonConst := slices.ContainsFunc(rep.Findings, func(f Finding) bool {
			return strings.HasPrefix(f.Module, "(") && f.Level == Dangerous
		})
		for _, g := range seen[p] {
			if g[0] == "error" {
				continue
			}
			total++
			ok := slices.ContainsFunc(rep.Findings, func(f Finding) bool { return f.Module == g[0] && f.Name == g[1] })
			if !ok && !nonConst {
				t.Errorf("%s: Python resolves %s.%s; Scan reports %+v", p, g[0], g[1], rep.Findings)
			}
		}
	}
	if total < 20 {
		t.Errorf("oracle resolved only %d globals; fixtures missing?", total)
	}
}

// TestTorchCheckpoints scans checkpoints torch writes now, in both formats and with shared
// storages, views, many dtypes and a nested dict: all must be clean.
func TestTorchCheckpoints(t *testing.T) {
	testtool.RequirePython(t, "torch")
	dir := t.TempDir()
	testtool.RunPython(t, `
import sys, torch, collections
torch.set_num_threads(1)
base = torch.arange(12, dtype=torch.float32).reshape(3, 4)
sd = collections.OrderedDict()
sd["w"] = base
sd["view"] = base[1:, ::2]          # shares storage with w
sd["bf16"] = torch.ones(3, dtype=torch.bfloat16)
sd["f16"] = torch.ones(2, dtype=torch.float16)
sd["i8"] = torch.tensor([-1, 2], dtype=torch.int8)
sd["u8"] = torch.tensor([1, 2], dtype=torch.uint8)
sd["b"] = torch.tensor([True, False])
sd["i64"] = torch.tensor([7])
sd["f64"] = torch.tensor([1.5], dtype=torch.float64)
sd["c64"] = torch.tensor([1+2j], dtype=torch.complex64)
sd["scalar"] = torch.tensor(3.0)
sd["param"] = torch.nn.Parameter(torch.zeros(2))
obj = {"state_dict": sd, "epoch": 3, "meta": {"lr": 0.1, "names": ["a", "b"], "shape": torch.Size([2, 3])}}
torch.save(obj, sys.argv[1] + "/zip.pt")
torch.save(obj, sys.argv[1] + "/legacy.pt", _use_new_zipfile_serialization=False)
`, dir)
	for _, name := range []string{"zip.pt", "legacy.pt"} {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			rep := scanBytes(t, name, data)
			if rep.Worst() != Safe || len(rep.Errors) > 0 || len(rep.Findings) == 0 {
				t.Errorf("Scan(%s) = worst %v, errors %q, findings %+v; want clean", name, rep.Worst(), rep.Errors, rep.Findings)
			}
			if !has(rep, "", "torch.BFloat16Storage", Safe) || !has(rep, "", "torch._utils._rebuild_parameter", Safe) {
				t.Errorf("Scan(%s) findings %+v lack BFloat16Storage / _rebuild_parameter", name, rep.Findings)
			}
		})
	}
}
