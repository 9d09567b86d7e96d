package plan

import (
	"bytes"
	"context"
	"errors"
	"math"
	"testing"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/compare"
	"github.com/refit-ml/refit/format/gguf"
	"github.com/refit-ml/refit/quant/ggml"
	"github.com/refit-ml/refit/tensor"
)

// encodeChecked quantizes m to ft with checking on and returns the encoded file.
func encodeChecked(t *testing.T, m *refit.Model, ft ggml.FileType) (*Plan, *Checks, []byte) {
	t.Helper()
	p, err := New(m, ft, nil)
	if err != nil {
		t.Fatal(err)
	}
	q, checks, err := p.ApplyChecked(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := gguf.Encode(&buf, q, nil); err != nil {
		t.Fatal(err)
	}
	return p, checks, buf.Bytes()
}

func decodeBytes(t *testing.T, b []byte) *refit.Model {
	t.Helper()
	m, err := gguf.Decode(bytes.NewReader(b), int64(len(b)), nil)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestVerifyMatchesCompare checks that the errors measured while quantizing are the
// ones compare.Quantized measures on the written file, for several file types
// (legacy, k-quant, float cast) and a source with non-finite values.
func TestVerifyMatchesCompare(t *testing.T) {
	for _, ft := range []ggml.FileType{ggml.FileQ8_0, ggml.FileQ4_0, ggml.FileQ4_K_M, ggml.FileQ6_K, ggml.FileF16, ggml.FileBF16} {
		t.Run(ft.String(), func(t *testing.T) {
			m := tinyLlama(t, 1, 256, 512)
			// Non-finite values in one tensor take the value-by-value path.
			v, _ := m.Tensor("blk.0.ffn_up.weight").Float32s()
			v[7], v[300], v[1000] = float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))
			up, err := tensor.NewF32("blk.0.ffn_up.weight", m.Tensor("blk.0.ffn_up.weight").Shape, v)
			if err != nil {
				t.Fatal(err)
			}
			for i, x := range m.Tensors {
				if x.Name == up.Name {
					m.Tensors[i] = up
				}
			}
			_, checks, file := encodeChecked(t, m, ft)
			got := decodeBytes(t, file)
			res, err := checks.Verify(context.Background(), m, got)
			if err != nil {
				t.Fatal(err)
			}
			// The Go path gives the same figures, bit for bit, as the vector kernels.
			saveDiff, saveFused := haveDiffAVX2, haveFusedDiff
			haveDiffAVX2, haveFusedDiff = false, false
			_, goChecks, goFile := encodeChecked(t, m, ft)
			haveDiffAVX2, haveFusedDiff = saveDiff, saveFused
			goRes, err := goChecks.Verify(context.Background(), m, decodeBytes(t, goFile))
			if err != nil {
				t.Fatal(err)
			}
			for i := range res {
				if goRes[i] != res[i] {
					t.Errorf("%s: Go path %+v, vector path %+v", res[i].Name, goRes[i], res[i])
				}
			}
			rep, err := compare.Quantized(context.Background(), m, got)
			if err != nil {
				t.Fatal(err)
			}
			if len(res) != len(rep.Tensors) {
				t.Fatalf("Verify gave %d tensors, compare.Quantized %d", len(res), len(rep.Tensors))
			}
			for i, r := range res {
				w := rep.Tensors[i]
				if r.Name != w.Name || r.MaxAbs != w.MaxAbs || r.NaNs != w.NaNs || r.Exact != w.Exact ||
					math.Abs(r.Cosine-w.Cosine) > 1e-12 {
					t.Errorf("%s: Verify = max %g cos %.15f nans %d exact %v, compare = max %g cos %.15f nans %d exact %v",
						r.Name, r.MaxAbs, r.Cosine, r.NaNs, r.Exact, w.MaxAbs, w.Cosine, w.NaNs, w.Exact)
				}
			}
		})
	}
}

// TestVerifyCatchesChangedBytes checks that a byte changed in the written file, in a
// converted tensor or an unchanged one, fails verification, as does a file with other
// tensors.
func TestVerifyCatchesChangedBytes(t *testing.T) {
	m := tinyLlama(t, 1, 64, 128)
	_, checks, file := encodeChecked(t, m, ggml.FileQ8_0)
	ok := decodeBytes(t, file)
	if _, err := checks.Verify(context.Background(), m, ok); err != nil {
		t.Fatalf("Verify of the file as written: %v", err)
	}
	for _, name := range []string{"blk.0.ffn_up.weight", "blk.0.attn_norm.weight"} {
		bad := bytes.Clone(file)
		at := tensorOffset(t, ok, bad, name)
		bad[at+5] ^= 0x10
		if _, err := checks.Verify(context.Background(), m, decodeBytes(t, bad)); !errors.Is(err, ErrVerify) {
			t.Errorf("Verify with a byte of %s changed = %v, want ErrVerify", name, err)
		}
	}
	short := decodeBytes(t, file)
	short.Tensors = short.Tensors[1:]
	if _, err := checks.Verify(context.Background(), m, short); !errors.Is(err, ErrVerify) {
		t.Errorf("Verify with a tensor missing = %v, want ErrVerify", err)
	}
}

// tensorOffset finds where tensor name's data starts in file.
func tensorOffset(t *testing.T, m *refit.Model, file []byte, name string) int {
	t.Helper()
	b, err := m.Tensor(name).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	at := bytes.Index(file, b)
	if at < 0 {
		t.Fatalf("%s's bytes are not in the file", name)
	}
	return at
}

// TestChecksNeedOrderedReads checks that Results refuses checks with rows never
// measured (a tensor read out of order or not at all).
func TestChecksNeedOrderedReads(t *testing.T) {
	m := tinyLlama(t, 1, 64, 128)
	p, err := New(m, ggml.FileQ8_0, nil)
	if err != nil {
		t.Fatal(err)
	}
	q, checks, err := p.ApplyChecked(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := checks.Results(); err == nil {
		t.Errorf("Results before anything was read succeeded")
	}
	for _, x := range q.Tensors {
		if _, err := x.Bytes(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := checks.Results(); err != nil {
		t.Errorf("Results after reading every tensor: %v", err)
	}
}

// TestDiffLanesMatchSlow checks the four-lane sums against the value-by-value ones on
// finite data, and that a piece with non-finite values gives compare's rules.
func TestDiffLanesMatchSlow(t *testing.T) {
	a := make([]float32, 1003)
	b := make([]float32, len(a))
	for i := range a {
		a[i] = float32(math.Sin(float64(i))) * 3
		b[i] = a[i] + float32(i%7)*1e-3
	}
	var fast, slow blockDiff
	diff(&fast, a, b)
	diffSlow(&slow, a, b)
	if fast.maxAbs != slow.maxAbs || fast.inexact != slow.inexact ||
		math.Abs(fast.dot-slow.dot) > 1e-9*slow.dot || math.Abs(fast.na-slow.na) > 1e-9*slow.na {
		t.Errorf("lanes %+v, one by one %+v", fast, slow)
	}
	b[10], a[20], a[30], b[30] = float32(math.NaN()), float32(math.Inf(1)), float32(math.NaN()), float32(math.NaN())
	var d blockDiff
	diff(&d, a, b)
	if d.nans != 1 || !math.IsInf(d.maxAbs, 1) || !d.inexact {
		t.Errorf("with NaN and Inf: %+v, want 1 NaN, MaxAbs +Inf, inexact", d)
	}
	var same blockDiff
	diff(&same, a[:8], a[:8])
	if same.inexact || same.maxAbs != 0 {
		t.Errorf("identical values: %+v", same)
	}
}

// TestDiffAVX2MatchesLanes checks that the vector sums are diffLanes' bit for bit, so
// the verification figures do not depend on the CPU.
func TestDiffAVX2MatchesLanes(t *testing.T) {
	if !haveDiffAVX2 {
		t.Skip("no AVX2 on this CPU")
	}
	for _, n := range []int{8, 64, 1000, 4096} {
		a, b := make([]float32, n), make([]float32, n)
		for i := range a {
			a[i] = float32(math.Sin(float64(i)*0.37)) * float32(1+i%13)
			b[i] = a[i] * (1 + float32(math.Cos(float64(i)))*1e-3)
		}
		var vec, lanes [4]float64
		diffAVX2(&a[0], &b[0], n&^7, &vec)
		diffLanes(a[:n&^7], b[:n&^7], &lanes)
		if vec != lanes {
			t.Errorf("n %d: diffAVX2 = %v, diffLanes = %v", n, vec, lanes)
		}
	}
}

// TestChecksIndependentOfThreads checks that the measured errors and CRCs are the same
// whatever the thread count (the groups' sums are added in row order).
func TestChecksIndependentOfThreads(t *testing.T) {
	m := tinyLlama(t, 1, 256, 2048) // ffn tensors: 8 groups of rows
	var runs [][]TensorCheck
	for _, threads := range []int{1, 2, 3} {
		p, err := New(m, ggml.FileQ8_0, &Options{Threads: threads})
		if err != nil {
			t.Fatal(err)
		}
		q, checks, err := p.ApplyChecked(m, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range q.Tensors {
			if d, ok := x.Data.(*quantData); ok {
				d.slabRows = 1000 // slabs of 4 groups, the last one short
			}
		}
		var buf bytes.Buffer
		if err := gguf.Encode(&buf, q, nil); err != nil {
			t.Fatal(err)
		}
		res, err := checks.Results()
		if err != nil {
			t.Fatal(err)
		}
		runs = append(runs, res)
	}
	for i := 1; i < len(runs); i++ {
		for j := range runs[0] {
			if runs[i][j] != runs[0][j] {
				t.Errorf("%s: threads run %d gave %+v, run 0 %+v", runs[0][j].Name, i, runs[i][j], runs[0][j])
			}
		}
	}
}

// TestQ80DiffMatchesDequantize checks the fused Q8_0, Q4_0 and Q6_K kernels against decoding with
// tensor.Dequantize and summing with diffLanes, bit for bit, on scales that are
// normal, subnormal, zero and negative.
func TestQ80DiffMatchesDequantize(t *testing.T) {
	if !haveFusedDiff {
		t.Skip("no AVX2 and F16C on this CPU")
	}
	const nb = 37
	y := make([]byte, 34*nb)
	x := make([]float32, 32*nb)
	scales := []uint16{0x3c00, 0x0001, 0x03ff, 0x0000, 0xbc00, 0x2e66, 0x7bff}
	for b := range nb {
		y[34*b], y[34*b+1] = byte(scales[b%len(scales)]), byte(scales[b%len(scales)]>>8)
		for j := range 32 {
			y[34*b+2+j] = byte(b*31 + j*17)
			x[32*b+j] = float32(math.Sin(float64(b*32+j))) * 2
		}
	}
	deq := make([]float32, len(x))
	if err := tensor.Dequantize(deq, y, tensor.Q8_0, 1); err != nil {
		t.Fatal(err)
	}
	var fused, lanes [4]float64
	q80DiffAVX2(&x[0], &y[0], nb, &fused)
	diffLanes(x, deq, &lanes)
	if fused != lanes {
		t.Errorf("q80DiffAVX2 = %v, Dequantize + diffLanes = %v", fused, lanes)
	}
	// The same bytes as Q4_0 blocks: the first 18 of every 34.
	y4 := make([]byte, 18*nb)
	for b := range nb {
		copy(y4[18*b:], y[34*b:34*b+18])
	}
	if err := tensor.Dequantize(deq, y4, tensor.Q4_0, 1); err != nil {
		t.Fatal(err)
	}
	q40DiffAVX2(&x[0], &y4[0], nb, &fused)
	diffLanes(x, deq, &lanes)
	if fused != lanes {
		t.Errorf("q40DiffAVX2 = %v, Dequantize + diffLanes = %v", fused, lanes)
	}
	// Q6_K super-blocks: random levels and scales, d from the same list.
	const nsb = 5
	y6 := make([]byte, 210*nsb)
	x6 := make([]float32, 256*nsb)
	for b := range nsb {
		for j := range 208 {
			y6[210*b+j] = byte(b*57 + j*29 + j*j)
		}
		h := scales[b%len(scales)]
		y6[210*b+208], y6[210*b+209] = byte(h), byte(h>>8)
	}
	for i := range x6 {
		x6[i] = float32(math.Cos(float64(i))) * 0.5
	}
	deq6 := make([]float32, len(x6))
	if err := tensor.Dequantize(deq6, y6, tensor.Q6_K, 1); err != nil {
		t.Fatal(err)
	}
	q6kDiffAVX2(&x6[0], &y6[0], nsb, &fused)
	diffLanes(x6, deq6, &lanes)
	if fused != lanes {
		t.Errorf("q6kDiffAVX2 = %v, Dequantize + diffLanes = %v", fused, lanes)
	}
}

// BenchmarkMeasure times the in-memory verification of one group (64 Ki values) for
// Q8_0, Q4_0 and Q6_K (fused decode-and-compare kernels), and the Go path
// (tensor.Dequantize, then diffLanes) for Q8_0. MB/s is float32 source per second.
//
// This machine (AMD EPYC, avx2, 2 cores under load average ~20 from other jobs),
// go test -bench Measure -benchtime 100x:
//
//	Q8_0       11510 MB/s
//	Q8_0/go      451 MB/s
//	Q4_0       10498 MB/s
//	Q6_K       10202 MB/s
func BenchmarkMeasure(b *testing.B) {
	x := make([]float32, groupElements)
	for i := range x {
		x[i] = float32(math.Sin(float64(i)*0.1)) * 0.02
	}
	for _, tc := range []struct {
		name   string
		to     tensor.DType
		vector bool
	}{{"Q8_0", tensor.Q8_0, true}, {"Q8_0/go", tensor.Q8_0, false}, {"Q4_0", tensor.Q4_0, true}, {"Q6_K", tensor.Q6_K, true}} {
		b.Run(tc.name, func(b *testing.B) {
			rs, _ := ggml.RowSize(tc.to, 4096)
			y := make([]byte, len(x)/4096*rs)
			if err := ggml.QuantizeRows(tc.to, y, x, len(x)/4096, 4096, nil, 1); err != nil {
				b.Fatal(err)
			}
			saveDiff, saveFused := haveDiffAVX2, haveFusedDiff
			defer func() { haveDiffAVX2, haveFusedDiff = saveDiff, saveFused }()
			if !tc.vector {
				haveDiffAVX2, haveFusedDiff = false, false
			}
			var scratch []float32
			b.SetBytes(int64(4 * len(x)))
			for b.Loop() {
				if _, err := measure(&scratch, x, y, tc.to); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
