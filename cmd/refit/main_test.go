package main

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/gguf"
	"github.com/refit-ml/refit/format/pytorch"
	"github.com/refit-ml/refit/format/safetensors"
	"github.com/refit-ml/refit/internal/testtool"
	"github.com/refit-ml/refit/tensor"
)

// refitBin is the refit binary built once by TestMain: the tests here watch a real
// process (signals, exit codes, peak memory), which an in-process call cannot show.
var refitBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "refit-cmd-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if refitBin, err = testtool.BuildRefit(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// patternTable is 1 MiB of normally distributed float32 values that generated
// tensors repeat: real-looking numbers for casts and quantizers, written fast.
var patternTable = func() []byte {
	rng := rand.New(rand.NewPCG(5, 6))
	b := make([]byte, 1<<20)
	for i := 0; i < len(b); i += 4 {
		binary.LittleEndian.PutUint32(b[i:], math.Float32bits(float32(rng.NormFloat64())))
	}
	return b
}()

// patternData is an F32 tensor's bytes: patternTable repeated from a per-tensor shift.
type patternData struct{ size, shift int64 }

func (p patternData) Size() int64 { return p.size }

func (p patternData) ReadAt(b []byte, off int64) (int, error) {
	if off >= p.size {
		return 0, io.EOF
	}
	n := 0
	for n < len(b) && off+int64(n) < p.size {
		pos := (off + int64(n) + p.shift) % int64(len(patternTable))
		n += copy(b[n:min(len(b), int(p.size-off))], patternTable[pos:])
	}
	if n < len(b) {
		return n, io.EOF
	}
	return n, nil
}

// tensorSpec names an F32 tensor of the given shape.
type tensorSpec struct {
	name  string
	shape tensor.Shape
}

// writeModel writes F32 tensors with patterned values to path as safetensors,
// PyTorch or GGUF (with llama metadata, so refit quantize accepts it).
func writeModel(t *testing.T, path, format string, specs []tensorSpec) {
	t.Helper()
	m := &refit.Model{}
	for i, s := range specs {
		size := s.shape.Elements() * 4
		x, err := tensor.New(s.name, tensor.F32, s.shape, patternData{size: size, shift: int64(i) * 4 * 977})
		if err != nil {
			t.Fatal(err)
		}
		m.Tensors = append(m.Tensors, x)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	switch format {
	case "safetensors":
		err = safetensors.Encode(bw, m, nil)
	case "pytorch":
		err = pytorch.Encode(bw, m, nil)
	case "gguf":
		m.Metadata.Set("general.architecture", "llama")
		m.Metadata.Set("llama.block_count", uint32(len(specs)))
		err = gguf.Encode(bw, m, nil)
	default:
		t.Fatalf("writeModel: unknown format %q", format)
	}
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("writing %s: %v", path, err)
	}
}
