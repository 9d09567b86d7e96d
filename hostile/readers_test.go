package hostile

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/refit-ml/refit/internal/pickle"
)

// legacyHead is the start of every legacy torch.save file: the magic number pickle
// (LONG1 0x1950a86a20f9469cfc6c), protocol version 1001 and a sys_info dict.
func legacyHead(t *testing.T) []byte {
	t.Helper()
	b := []byte("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.")
	b = append(b, marshal(t, int64(1001))...)
	sys := pickle.NewDict()
	sys.Set("little_endian", true)
	return append(b, marshal(t, sys)...)
}

func marshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := pickle.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// legacyModuleAttack is a legacy full-model pickle whose ('module', class, file, source)
// persistent id names posix.system as the class and carries a shell command as the
// source, and calls that "class" with the command beside one real tensor.
func legacyModuleAttack(t *testing.T, marker string) []byte {
	cmd := "touch " + marker
	module := pickle.PersistentID{Value: pickle.Tuple{"module", pickle.Global{Module: "posix", Name: "system"}, "evil.py", "import os\nos.system(" + cmd + ")\n"}}
	storage := pickle.PersistentID{Value: pickle.Tuple{"storage", pickle.Global{Module: "torch", Name: "FloatStorage"}, "0", "cpu", int64(2), nil}}
	root := pickle.OrderedDict{Keys: []any{"evil", "w"}, Values: []any{
		pickle.Reduce{Func: module, Args: pickle.Tuple{cmd}},
		pickle.Reduce{Func: pickle.Global{Module: "torch._utils", Name: "_rebuild_tensor_v2"},
			Args: pickle.Tuple{storage, int64(0), pickle.Tuple{int64(2)}, pickle.Tuple{int64(1)}, false, pickle.OrderedDict{}}},
	}}
	b := append(legacyHead(t), marshal(t, root)...)
	b = append(b, "\x80\x02]X\x01\x00\x00\x000a."...) // storage keys: ["0"]
	b = binary.LittleEndian.AppendUint64(b, 2)
	b = binary.LittleEndian.AppendUint32(b, math.Float32bits(1.5))
	return binary.LittleEndian.AppendUint32(b, math.Float32bits(-2))
}

// TestLegacyModuleSource: a legacy full-model pickle's module ids are data. The "source"
// and the "class" (posix.system) are never run, with or without --extract; with it the
// tensor is read and the source reported as metadata.
func TestLegacyModuleSource(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "pwned")
	in := filepath.Join(dir, "evil.pt")
	if err := os.WriteFile(in, legacyModuleAttack(t, marker), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := runRefit(t, limits{}, "inspect", in); r.code != 1 || !strings.Contains(r.stderr, "posix.system") {
		t.Errorf("inspect without --extract: want exit 1 naming posix.system\n%v", r)
	}
	r := runRefit(t, limits{}, "inspect", "--extract", "--json", in)
	if r.code != 0 || !strings.Contains(r.stdout, `"pytorch.module_source.posix.system"`) || !strings.Contains(r.stdout, `"w"`) {
		t.Errorf("inspect --extract: want the tensor and the module source as metadata\n%v", r)
	}
	out := filepath.Join(dir, "out.safetensors")
	if r := runRefit(t, limits{}, "convert", "--extract", in, out); r.code != 0 {
		t.Errorf("convert --extract failed\n%v", r)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatalf("the pickle's command ran: %s exists", marker)
	}
}

// TestLegacySourceTooLong: a module source declaring 4 GiB in a tiny file is reported
// as truncated at once, without allocating it.
func TestLegacySourceTooLong(t *testing.T) {
	obj := marshal(t, pickle.Tuple{pickle.PersistentID{Value: pickle.Tuple{"module", pickle.Global{Module: "__main__", Name: "Net"}, "net.py", "x"}}})
	i := bytes.Index(obj, []byte("X\x01\x00\x00\x00x")) // the source: BINUNICODE of length 1
	if i < 0 {
		t.Fatal("source string not found in the pickle")
	}
	copy(obj[i+1:], []byte{0xff, 0xff, 0xff, 0xff})
	in := filepath.Join(t.TempDir(), "long.pt")
	if err := os.WriteFile(in, append(legacyHead(t), obj...), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runRefit(t, limits{}, "inspect", "--extract", in)
	if r.code != 1 || !strings.Contains(r.stderr, "truncated") {
		t.Errorf("want exit 1 saying truncated\n%v", r)
	}
}

// TestGGUFNoTensorsHugeAlignment: a tensor-less GGUF declaring a 2 GiB alignment is
// written back as it was, without 2 GiB of padding.
func TestGGUFNoTensorsHugeAlignment(t *testing.T) {
	var b []byte
	b = append(b, "GGUF"...)
	b = binary.LittleEndian.AppendUint32(b, 3)
	b = binary.LittleEndian.AppendUint64(b, 0) // tensors
	b = binary.LittleEndian.AppendUint64(b, 1) // KVs
	key := "general.alignment"
	b = binary.LittleEndian.AppendUint64(b, uint64(len(key)))
	b = append(b, key...)
	b = binary.LittleEndian.AppendUint32(b, 4) // UINT32
	b = binary.LittleEndian.AppendUint32(b, 1<<31)
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.gguf"), filepath.Join(dir, "out.gguf")
	if err := os.WriteFile(in, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if r := runRefit(t, limits{}, "convert", in, out); r.code != 0 {
		t.Fatalf("convert failed\n%v", r)
	}
	got, err := os.ReadFile(out)
	if err != nil || !bytes.Equal(got, b) {
		t.Errorf("output is %d bytes (%v), want the %d bytes of the input", len(got), err, len(b))
	}
}
