package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/refit-ml/refit"
)

// TestConvertVerifyCatchesCorruption corrupts one byte of tensor data in the written
// output just before the verification phase and checks that the convert fails and
// leaves no output. A cast tensor's bytes are checked there, by re-reading the file;
// a copied tensor's were read back from the file while the writing went on (see
// refit's TestReadBack, which corrupts the file before that read).
func TestConvertVerifyCatchesCorruption(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	writeRampModel(t, "in.safetensors", 2, 64, 64)
	onPhase = func(phase string) {
		if phase != "verify" {
			return
		}
		tmp, err := filepath.Glob(filepath.Join(dir, refit.TempPrefix+"*", "out.safetensors"))
		if err != nil || len(tmp) != 1 {
			t.Errorf("temporary output: %v, %v", tmp, err)
			return
		}
		f, err := os.OpenFile(tmp[0], os.O_RDWR, 0)
		if err != nil {
			t.Error(err)
			return
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			t.Error(err)
			return
		}
		b := []byte{0}
		if _, err := f.ReadAt(b, st.Size()-3); err != nil {
			t.Error(err)
		}
		b[0] ^= 0x40 // the last tensor's last value, not the header
		if _, err := f.WriteAt(b, st.Size()-3); err != nil {
			t.Error(err)
		}
	}
	defer func() { onPhase = nil }()
	var stdout, stderr bytes.Buffer
	code := Main(context.Background(), []string{"convert", "in.safetensors", "out.safetensors", "--dtype", "f16"}, nil, &stdout, &stderr)
	if code == 0 {
		t.Fatalf("convert of a corrupted output: exit 0\nstdout: %s", &stdout)
	}
	if _, err := os.Stat("out.safetensors"); err == nil {
		t.Error("the corrupted output was moved into place")
	}
	// The same convert without the corruption passes: the failure was the check's.
	onPhase = nil
	stdout.Reset()
	stderr.Reset()
	if code := Main(context.Background(), []string{"convert", "in.safetensors", "out.safetensors", "--dtype", "f16"}, nil, &stdout, &stderr); code != 0 {
		t.Fatalf("convert: exit %d\nstderr: %s", code, &stderr)
	}
}
