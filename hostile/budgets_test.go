package hostile

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/refit-ml/refit"
)

// Memory budget attacks (issue 18, point 2): small files that make a decoder build far
// more in memory than they hold. Each must fail with exit 1 and the budget error (or be
// read correctly), never crash the process under a 4 GiB address-space limit, and leave
// no temporary file behind. Under that limit the default budget is 1 GiB (a quarter of
// the address space, see refit.DefaultMaxMemory).

// budgetMessage is what the CLI prints for an error wrapping refit.ErrBudget.
const budgetMessage = "exceed the memory budget of"

// hostileRun is one command on a hostile file and what it must do.
type hostileRun struct {
	args   []string // after the command name; "IN" and "OUT" are replaced
	code   int      // wanted exit code; -1 accepts 0 and 1
	stderr string   // wanted in stderr when non-empty
}

// runHostile runs each command on in with TMPDIR pointing at an empty folder and checks
// the exit code, the message, and that neither TMPDIR nor the output folder keeps a file.
func runHostile(t *testing.T, in string, runs []hostileRun) {
	t.Helper()
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	for _, hr := range runs {
		outDir := t.TempDir()
		args := make([]string, len(hr.args))
		for i, a := range hr.args {
			a = strings.ReplaceAll(a, "IN", in)
			args[i] = strings.ReplaceAll(a, "OUT", filepath.Join(outDir, "out.safetensors"))
		}
		r := runRefit(t, limits{}, args...)
		if hr.code >= 0 && r.code != hr.code || hr.code < 0 && r.code != 0 && r.code != 1 {
			t.Errorf("refit %s: exit %d, want %d\n%v", strings.Join(hr.args, " "), r.code, hr.code, r)
		}
		if hr.stderr != "" && !strings.Contains(r.stderr, hr.stderr) {
			t.Errorf("refit %s: stderr lacks %q\n%v", strings.Join(hr.args, " "), hr.stderr, r)
		}
		for _, dir := range []string{tmp, outDir} {
			if left, _ := os.ReadDir(dir); len(left) > 0 && (dir == tmp || r.code != 0) {
				t.Errorf("refit %s left %s in %s", strings.Join(hr.args, " "), left[0].Name(), dir)
			}
		}
	}
}

// writeZip writes a zip of stored members.
func writeZip(t *testing.T, path string, members map[string][]byte, order ...string) {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, name := range order {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(members[name])
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestBudgetPickleObjects: a 20 MB .pt whose pickle appends 10 million empty dicts to a
// list (two bytes each: EMPTY_DICT, APPEND). The unpickler charges each dict and list
// slot and stops at the budget.
func TestBudgetPickleObjects(t *testing.T) {
	pkl := []byte("\x80\x02}q\x00X\x01\x00\x00\x00xq\x01]q\x02")
	pkl = append(pkl, bytes.Repeat([]byte("}a"), 10_000_000)...)
	pkl = append(pkl, "s."...)
	in := filepath.Join(t.TempDir(), "dicts.pt")
	writeZip(t, in, map[string][]byte{"archive/data.pkl": pkl, "archive/version": []byte("3\n")}, "archive/data.pkl", "archive/version")
	runHostile(t, in, []hostileRun{
		{args: []string{"inspect", "IN"}, code: 1, stderr: budgetMessage},
		{args: []string{"convert", "IN", "OUT"}, code: 1, stderr: budgetMessage},
		{args: []string{"inspect", "--max-memory", "64MiB", "IN"}, code: 1, stderr: "budget of 64 MiB (--max-memory)"},
		{args: []string{"scan", "IN"}, code: -1},
	})
}

// ggufArrays writes a GGUF file whose one metadata value is an array of n empty arrays
// (12 bytes of file each).
func ggufArrays(t *testing.T, path string, n int) {
	t.Helper()
	le := binary.LittleEndian
	b := []byte("GGUF")
	b = le.AppendUint32(b, 3)
	b = le.AppendUint64(b, 0) // tensors
	b = le.AppendUint64(b, 1) // metadata entries
	b = le.AppendUint64(b, 1)
	b = append(b, 'x')
	b = le.AppendUint32(b, 9) // ARRAY
	b = le.AppendUint32(b, 9) // of ARRAY
	b = le.AppendUint64(b, uint64(n))
	empty := le.AppendUint64(le.AppendUint32(nil, 0), 0) // UINT8, length 0
	b = append(b, bytes.Repeat(empty, n)...)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestBudgetGGUFNestedArrays: a GGUF metadata array of millions of empty arrays. Each once
// cost a 4 KiB buffer (a crash within a second); now each costs 40 bytes, charged to the
// budget before the outer array is allocated.
func TestBudgetGGUFNestedArrays(t *testing.T) {
	in := filepath.Join(t.TempDir(), "arrays.gguf")
	ggufArrays(t, in, 4_000_000) // 48 MB; 160 MB of Go memory
	runHostile(t, in, []hostileRun{
		{args: []string{"inspect", "--json", "IN"}, code: 0}, // within the default budget: read as written
		{args: []string{"inspect", "--max-memory", "64MiB", "IN"}, code: 1, stderr: budgetMessage},
		{args: []string{"convert", "--max-memory", "64MiB", "IN", "OUT"}, code: 1, stderr: budgetMessage},
		{args: []string{"scan", "IN"}, code: -1},
	})
}

// deflatedZeros returns a raw DEFLATE stream of prefix then n MiB of zeros, built from one
// compressed MiB repeated (its back-references reach only zeros), and the CRC-32 of the
// inflated bytes.
func deflatedZeros(t *testing.T, prefix []byte, n int) ([]byte, uint32) {
	t.Helper()
	mib := make([]byte, 1<<20)
	var out bytes.Buffer
	fw, _ := flate.NewWriter(&out, flate.BestCompression)
	fw.Write(prefix)
	fw.Write(mib)
	fw.Flush()
	var block bytes.Buffer
	fw.Reset(&block)
	fw.Write(mib) // a fresh compressor: references stay inside the block
	fw.Flush()
	for range n - 1 {
		out.Write(block.Bytes())
	}
	fw.Reset(&block)
	block.Reset()
	fw.Close() // the final, empty block
	out.Write(block.Bytes())
	crc := crc32.ChecksumIEEE(prefix)
	for range n {
		crc = crc32.Update(crc, crc32.IEEETable, mib)
	}
	return out.Bytes(), crc
}

// TestBudgetNPZDeflateBomb: a 1 MB .npz whose member inflates to 1 GiB of zeros (the
// DEFLATE ratio limit allows it). Reading headers is cheap; every inflation is charged to
// the budget, so convert (which inflates once to write and once to verify) stops at the
// budget instead of running out of memory.
func TestBudgetNPZDeflateBomb(t *testing.T) {
	const mib = 1024
	header := []byte("\x93NUMPY\x01\x00\x76\x00{'descr': '<f4', 'fortran_order': False, 'shape': (268435456,), }")
	header = append(header, bytes.Repeat([]byte(" "), 128-1-len(header))...)
	header = append(header, '\n')
	body, crc := deflatedZeros(t, header, mib)
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateRaw(&zip.FileHeader{
		Name: "z.npy", Method: zip.Deflate, CRC32: crc,
		CompressedSize64: uint64(len(body)), UncompressedSize64: uint64(len(header)) + mib<<20,
	})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(body)
	zw.Close()
	in := filepath.Join(t.TempDir(), "zeros.npz")
	if err := os.WriteFile(in, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	runHostile(t, in, []hostileRun{
		{args: []string{"inspect", "IN"}, code: 0},
		{args: []string{"convert", "--max-memory", "512MiB", "IN", "OUT"}, code: 1, stderr: budgetMessage},
		{args: []string{"convert", "IN", "OUT"}, code: 1, stderr: budgetMessage},
		{args: []string{"scan", "IN"}, code: -1},
	})
}

// TestBudgetKerasDataset: a legacy Keras file declaring a 2^29-element gzip dataset,
// padded past 4 MiB so that the 1032:1 expansion check lets it through. The dataset read
// is charged (16 bytes per float32 element) before the HDF5 library allocates anything.
func TestBudgetKerasDataset(t *testing.T) {
	b, err := os.ReadFile("testdata/budgets/keras_big_dataset.h5")
	if err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(t.TempDir(), "big.h5")
	if err := os.WriteFile(in, append(b, make([]byte, 5<<20)...), 0o644); err != nil {
		t.Fatal(err)
	}
	runHostile(t, in, []hostileRun{
		{args: []string{"inspect", "IN"}, code: 0},
		{args: []string{"convert", "IN", "OUT"}, code: 1, stderr: budgetMessage},
		{args: []string{"scan", "IN"}, code: -1},
	})
	// The same dataset inside a .keras archive, deflated: the weights member inflates to
	// a temporary file that must not outlive the process.
	if b, err = os.ReadFile("testdata/budgets/keras3_big_dataset.weights.h5"); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	fw, _ := zw.Create("model.weights.h5")
	fw.Write(append(b, make([]byte, 5<<20)...))
	zw.Close()
	in3 := filepath.Join(t.TempDir(), "big.keras")
	if err := os.WriteFile(in3, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	runHostile(t, in3, []hostileRun{
		{args: []string{"convert", "IN", "OUT"}, code: 1, stderr: budgetMessage},
	})
}

// TestBudgetKerasHeapVersion: local heaps whose version byte was changed (the HDF5 library
// does not check it) declaring 110 TB. The heap guard matches every heap the library reads.
func TestBudgetKerasHeapVersion(t *testing.T) {
	in, err := filepath.Abs("testdata/budgets/keras_heap_version.h5")
	if err != nil {
		t.Fatal(err)
	}
	runHostile(t, in, []hostileRun{
		{args: []string{"inspect", "IN"}, code: 1, stderr: "HEAP of 110000000000000 bytes"},
		{args: []string{"convert", "IN", "OUT"}, code: 1, stderr: "HEAP of 110000000000000 bytes"},
		{args: []string{"scan", "IN"}, code: -1},
	})
}

// TestBudgetKerasChunkBomb: a 1024-element dataset whose one gzip chunk (64 KB) inflates
// to 64 MiB. The HDF5 library inflates a chunk whole before copying the 4 KiB the chunk
// covers; the wrapper inflates each chunk into io.Discard first and refuses it.
func TestBudgetKerasChunkBomb(t *testing.T) {
	in, err := filepath.Abs("testdata/budgets/keras_chunk_bomb.h5")
	if err != nil {
		t.Fatal(err)
	}
	runHostile(t, in, []hostileRun{
		{args: []string{"inspect", "IN"}, code: 0},
		{args: []string{"convert", "IN", "OUT"}, code: 1, stderr: "inflates past its 4096 bytes"},
		{args: []string{"scan", "IN"}, code: -1},
	})
}

// TestBudgetDefaultFollowsUlimit: under an address-space limit the default budget is at
// most a quarter of it, so that the Go heap (about twice the live bytes) and the runtime's
// reservations still fit.
func TestBudgetDefaultFollowsUlimit(t *testing.T) {
	r := runRefit(t, limits{memKiB: 4 << 20}, "--help")
	_, after, ok := strings.Cut(r.stdout, "available memory, here ")
	def, _, ok2 := strings.Cut(after, ")")
	if !ok || !ok2 {
		t.Fatalf("--help does not print the default budget\n%v", r)
	}
	n, err := refit.ParseSize(def)
	if err != nil || n <= 0 || n > 1<<30 {
		t.Errorf("default budget under ulimit -v 4 GiB is %q (%d, %v), want at most 1 GiB", def, n, err)
	}
}

// TestBudgetONNXEmptyNodes: a 40 MB ONNX model whose graph holds 20 million empty nodes
// (2 bytes of file, about 200 bytes of Go memory each). The protobuf structure's memory is
// estimated from the wire format and charged before proto.Unmarshal runs.
func TestBudgetONNXEmptyNodes(t *testing.T) {
	const n = 20_000_000
	graph := bytes.Repeat([]byte{0x0a, 0x00}, n)
	b := []byte{0x08, 0x08, 0x3a} // ir_version 8, graph:
	b = binary.AppendUvarint(b, uint64(len(graph)))
	b = append(b, graph...)
	in := filepath.Join(t.TempDir(), "nodes.onnx")
	if err := os.WriteFile(in, b, 0o644); err != nil {
		t.Fatal(err)
	}
	runHostile(t, in, []hostileRun{
		{args: []string{"inspect", "IN"}, code: 1, stderr: budgetMessage},
		{args: []string{"convert", "IN", "OUT"}, code: 1, stderr: budgetMessage},
		{args: []string{"run", "IN"}, code: 1, stderr: budgetMessage},
	})
}
