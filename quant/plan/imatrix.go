package plan

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/gguf"
	"github.com/refit-ml/refit/tensor"
)

// MaxImatrixEntries caps the entries of a legacy imatrix file (a 1T-parameter MoE has
// tens of thousands of matrices).
const MaxImatrixEntries = 1 << 20

// ParseImatrix reads a llama.cpp importance-matrix file of size bytes: the GGUF form
// written by llama-imatrix since 2025 (<name>.in_sum2 and <name>.counts F32 tensors) or
// the legacy .dat form (int32 entry count; per entry int32 name length, name, int32
// ncall, int32 nval, nval float32; optional trailing chunk count and dataset name). It
// returns each tensor's weights normalized as llama-quantize does: GGUF sums divided by
// their per-expert counts (1 where a count is zero), legacy sums divided by ncall.
func ParseImatrix(r io.ReaderAt, size int64) (map[string][]float32, error) {
	if refit.HasPrefix(r, size, "GGUF") {
		return parseImatrixGGUF(r, size)
	}
	return parseImatrixLegacy(r, size)
}

func imatrixErr(off int64, msg string, args ...any) error {
	return refit.Errorf("imatrix", off, msg, args...)
}

func parseImatrixLegacy(r io.ReaderAt, size int64) (map[string][]float32, error) {
	sr := io.NewSectionReader(r, 0, size)
	var off int64
	i32 := func(what string) (int32, error) {
		var b [4]byte
		if _, err := io.ReadFull(sr, b[:]); err != nil {
			return 0, fmt.Errorf("%w: %w", imatrixErr(off, "reading %s", what), io.ErrUnexpectedEOF)
		}
		off += 4
		return int32(binary.LittleEndian.Uint32(b[:])), nil
	}
	n, err := i32("the entry count")
	if err != nil {
		return nil, err
	}
	if n < 1 || n > MaxImatrixEntries || int64(n)*12 > size-off {
		return nil, imatrixErr(0, "entry count %d is out of range for a %d-byte file", n, size)
	}
	out := make(map[string][]float32, n)
	for i := range int(n) {
		l, err := i32("a name length")
		if err != nil {
			return nil, err
		}
		if l < 0 || int64(l) > size-off {
			return nil, imatrixErr(off-4, "entry %d: name length %d exceeds the file", i, l)
		}
		name := make([]byte, l)
		if _, err := io.ReadFull(sr, name); err != nil {
			return nil, fmt.Errorf("%w: %w", imatrixErr(off, "entry %d name", i), io.ErrUnexpectedEOF)
		}
		off += int64(l)
		if j := bytes.IndexByte(name, 0); j >= 0 { // C string semantics
			name = name[:j]
		}
		ncall, err := i32("ncall")
		if err != nil {
			return nil, err
		}
		nval, err := i32("nval")
		if err != nil {
			return nil, err
		}
		if nval < 1 || int64(nval)*4 > size-off {
			return nil, imatrixErr(off-4, "entry %d (%q): %d values exceed the file", i, name, nval)
		}
		raw := make([]byte, int(nval)*4)
		if _, err := io.ReadFull(sr, raw); err != nil {
			return nil, fmt.Errorf("%w: %w", imatrixErr(off, "entry %d values", i), io.ErrUnexpectedEOF)
		}
		off += int64(len(raw))
		v := make([]float32, nval)
		for k := range v {
			v[k] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*k:]))
			if ncall > 0 {
				v[k] /= float32(ncall)
			}
		}
		out[string(name)] = v // a repeated name replaces the earlier entry, as in llama.cpp
	}
	return out, nil
}

func parseImatrixGGUF(r io.ReaderAt, size int64) (map[string][]float32, error) {
	m, err := gguf.Decode(r, size, nil)
	if err != nil {
		return nil, fmt.Errorf("imatrix: %w", err)
	}
	if len(m.Tensors) == 0 {
		return nil, fmt.Errorf("imatrix: no tensors: %w", refit.ErrFormat)
	}
	type pair struct{ sums, counts *tensor.Tensor }
	pairs := map[string]*pair{}
	var order []string
	for _, t := range m.Tensors {
		var name string
		var isSum bool
		if n, ok := strings.CutSuffix(t.Name, ".in_sum2"); ok {
			name, isSum = n, true
		} else if n, ok := strings.CutSuffix(t.Name, ".counts"); ok {
			name = n
		} else {
			continue
		}
		p := pairs[name]
		if p == nil {
			p = &pair{}
			pairs[name] = p
			order = append(order, name)
		}
		if isSum {
			p.sums = t
		} else {
			p.counts = t
		}
	}
	out := make(map[string][]float32, len(pairs))
	for _, name := range order {
		p := pairs[name]
		if p.sums == nil || p.counts == nil {
			return nil, fmt.Errorf("imatrix: %q has sums without counts or counts without sums: %w", name, refit.ErrFormat)
		}
		if p.sums.DType != tensor.F32 || p.counts.DType != tensor.F32 {
			return nil, fmt.Errorf("imatrix: %q: sums and counts must be F32: %w", name, refit.ErrFormat)
		}
		sums, err := p.sums.Float32s()
		if err != nil {
			return nil, fmt.Errorf("imatrix: %q: %w", name, err)
		}
		counts, err := p.counts.Float32s()
		if err != nil {
			return nil, fmt.Errorf("imatrix: %q: %w", name, err)
		}
		if len(counts) == 0 || len(sums)%len(counts) != 0 {
			return nil, fmt.Errorf("imatrix: %q: %d sums do not split into %d experts: %w", name, len(sums), len(counts), refit.ErrFormat)
		}
		ne0 := len(sums) / len(counts)
		v := make([]float32, len(sums))
		for j, c := range counts {
			cnt := float32(lround(c))
			for i := range ne0 {
				if cnt > 0 {
					v[j*ne0+i] = sums[j*ne0+i] / cnt
				} else {
					v[j*ne0+i] = 1
				}
			}
		}
		out[name] = v
	}
	return out, nil
}

// lround is C's lround for values in int64 range (half away from zero); others clamp.
func lround(f float32) int64 {
	x := math.Round(float64(f))
	switch {
	case x != x:
		return math.MinInt64 // x86 result for NaN
	case x >= 9.223372036854775807e18 || x < -9.223372036854775808e18:
		return math.MinInt64
	}
	return int64(x)
}
