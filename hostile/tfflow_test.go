package hostile

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestTFFlow runs inspect and convert on the hostile TensorFlow graphs of
// testdata/tfflow (testdata/gen/hostile_tfflow.py): constants that would fill
// terabytes, attribute values nested 100000 deep, cycles outside loops, malformed
// frames, loops nested 40 deep, recursive and exponentially branching function
// calls, a signature naming a missing node, v1 conds nested 40 deep or with crossed
// branches. Each must fail with exit 1 (no crash,
// under 1 GiB of address space and a timeout) and leave no output behind.
func TestTFFlow(t *testing.T) {
	names, err := filepath.Glob(filepath.Join("testdata", "tfflow", "*"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no files in testdata/tfflow (%v); run /usr/bin/python3 testdata/gen/hostile_tfflow.py", err)
	}
	lim := limits{memKiB: 1 << 20, timeout: 90 * time.Second}
	for _, name := range names {
		t.Run(filepath.Base(name), func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out.onnx")
			r := runRefit(t, lim, "convert", name, out)
			if r.code != exitFailure {
				t.Errorf("convert: exit %d, want %d\n%v", r.code, exitFailure, r)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("convert left %s behind", out)
			}
		})
	}
}

// TestTFFlowHugeFile: a sparse 3 GiB file that starts like a GraphDef is refused
// before it is read (protobuf messages stop at 2 GiB).
func TestTFFlowHugeFile(t *testing.T) {
	name := filepath.Join(t.TempDir(), "huge.pb")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte{0x0a, 0x05, 0x0a, 0x01, 'n', 0x12, 0x00}); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(3 << 30); err != nil {
		t.Skipf("no sparse files here: %v", err)
	}
	f.Close()
	r := runRefit(t, limits{memKiB: 1 << 20}, "inspect", name)
	if r.code != exitFailure {
		t.Errorf("inspect: exit %d, want %d\n%v", r.code, exitFailure, r)
	}
}
