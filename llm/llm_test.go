package llm

import (
	"bytes"
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/gguf"
	"github.com/refit-ml/refit/internal/testtool"
	"github.com/refit-ml/refit/quant/ggml"
	"github.com/refit-ml/refit/tensor"
)

// TestRoundActivation checks the activation rounding against quantizing with the GGML
// quantizers and dequantizing: the values llama.cpp's dot products see.
func TestRoundActivation(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, 512)
	for i := range x {
		x[i] = float32(r.NormFloat64()) * float32(1+i%7)
	}
	for _, tc := range []struct {
		act activation
		d   tensor.DType
	}{{actQ8_0, tensor.Q8_0}, {actQ8_K, tensor.Q8_K}, {actF16, tensor.F16}, {actBF16, tensor.BF16}} {
		t.Run(tc.d.String(), func(t *testing.T) {
			got := slices.Clone(x)
			roundActivation(got, tc.act)
			var want []float32
			if tc.d.Quantized() {
				if tc.d == tensor.Q8_K { // only a dot-product operand; check its definition
					checkQ8K(t, x, got)
					return
				}
				row, err := ggml.RowSize(tc.d, len(x))
				if err != nil {
					t.Fatal(err)
				}
				q := make([]byte, row)
				if err := ggml.QuantizeRows(tc.d, q, x, 1, len(x), nil, 1); err != nil {
					t.Fatal(err)
				}
				want = make([]float32, len(x))
				if err := tensor.Dequantize(want, q, tc.d, 1); err != nil {
					t.Fatal(err)
				}
			} else {
				b := make([]byte, len(x)*2)
				if err := tensor.FromFloat32(b, x, tc.d); err != nil {
					t.Fatal(err)
				}
				want = make([]float32, len(x))
				if err := tensor.ToFloat32(want, b, tc.d); err != nil {
					t.Fatal(err)
				}
			}
			for i := range got {
				if d := math.Abs(float64(got[i] - want[i])); d > 1e-6*math.Abs(float64(want[i]))+1e-7 {
					t.Fatalf("roundActivation[%d] = %v, quantize+dequantize gives %v", i, got[i], want[i])
				}
			}
		})
	}
}

func fixture(testing.TB) string {
	return filepath.Join(testtool.RepoRoot(), "testdata", "models", "llm", "llama-f16.gguf")
}

func loadFixture(t *testing.T, opts *Options) *Model {
	t.Helper()
	mf, err := refit.OpenMapped(fixture(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mf.Close() })
	m, err := Load(mf, mf.Size(), opts)
	if err != nil {
		t.Fatalf("Load = %v", err)
	}
	return m
}

// TestBatchesAndThreads checks that logits do not depend on how the tokens are
// batched (prefill at once or one token at a time through the KV cache) nor on the
// thread count.
func TestBatchesAndThreads(t *testing.T) {
	ids := []int32{5, 77, 300, 12, 9, 250, 41, 100}
	run := func(threads, batch int) []float32 {
		m := loadFixture(t, &Options{Threads: threads})
		s, err := m.NewSession(len(ids))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		V := m.Config.Vocab
		out := make([]float32, len(ids)*V)
		for b := 0; b < len(ids); b += batch {
			e := min(b+batch, len(ids))
			if err := s.Forward(context.Background(), ids[b:e], 0, out[b*V:e*V]); err != nil {
				t.Fatal(err)
			}
		}
		return out
	}
	want := run(1, len(ids))
	for _, c := range [][2]int{{2, len(ids)}, {1, 1}, {2, 3}} {
		got := run(c[0], c[1])
		for i := range got {
			if math.Abs(float64(got[i]-want[i])) > 1e-5*(1+math.Abs(float64(want[i]))) {
				t.Fatalf("threads %d batch %d: logit %d = %v, want %v", c[0], c[1], i, got[i], want[i])
			}
		}
	}
}

func TestForwardErrors(t *testing.T) {
	m := loadFixture(t, nil)
	s, err := m.NewSession(4)
	if err != nil {
		t.Fatal(err)
	}
	V := m.Config.Vocab
	ctx := context.Background()
	if err := s.Forward(ctx, []int32{int32(V)}, 0, make([]float32, V)); !errors.Is(err, refit.ErrFormat) {
		t.Errorf("Forward(id %d) = %v, want ErrFormat", V, err)
	}
	if err := s.Forward(ctx, []int32{1, 2, 3, 4, 5}, 5, nil); !errors.Is(err, refit.ErrFormat) {
		t.Errorf("Forward(5 tokens into 4) = %v, want ErrFormat", err)
	}
	if err := s.Forward(ctx, []int32{1}, 0, make([]float32, 3)); !errors.Is(err, refit.ErrFormat) {
		t.Errorf("Forward(short logits) = %v, want ErrFormat", err)
	}
	small := &Options{Budget: refit.NewBudget(1 << 20)}
	m2 := loadFixture(t, small)
	if _, err := m2.NewSession(1 << 16); !errors.Is(err, refit.ErrBudget) {
		t.Errorf("NewSession beyond the budget = %v, want ErrBudget", err)
	}
}

// TestLoadErrors checks that truncated files and files that are not LLMs fail cleanly.
func TestLoadErrors(t *testing.T) {
	b, err := os.ReadFile(fixture(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, 16, 1000, len(b) / 2, len(b) - 1} {
		r := bytesReader(b[:n])
		if _, err := Load(r, int64(n), nil); err == nil {
			t.Errorf("Load(first %d bytes) succeeded", n)
		}
	}
}

type bytesReader []byte

func (b bytesReader) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(b)) {
		return 0, errors.New("EOF")
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, errors.New("EOF")
	}
	return n, nil
}

// checkQ8K checks ggml's Q8_K rounding: per 256-block, the value of largest magnitude
// maps to -127 steps of d = max/-127 and every value is the nearest multiple of d.
func checkQ8K(t *testing.T, x, got []float32) {
	for b := 0; b < len(x); b += 256 {
		var mx float32
		for _, v := range x[b : b+256] {
			if math.Abs(float64(v)) > math.Abs(float64(mx)) {
				mx = v
			}
		}
		d := 1 / (-127 / mx)
		for i := b; i < b+256; i++ {
			q := got[i] / d
			if math.Abs(float64(q-float32(math.Round(float64(q))))) > 1e-3 || q > 127.001 || q < -127.001 {
				t.Fatalf("Q8_K value %d: %v is %v steps of %v", i, got[i], q, d)
			}
			if math.Abs(float64(got[i]-x[i])) > math.Abs(float64(d))/2*1.0001 {
				t.Fatalf("Q8_K value %d: %v rounds to %v, more than half a step %v", i, x[i], got[i], d)
			}
		}
	}
}

// FuzzLoad feeds mutated copies of the fixture to Load and one forward step: errors
// are fine, panics are not.
func FuzzLoad(f *testing.F) {
	b, err := os.ReadFile(filepath.Join(testtool.RepoRoot(), "testdata", "models", "llm", "llama-f16.gguf"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Load(bytesReader(data), int64(len(data)), &Options{Threads: 1, Budget: refit.NewBudget(64 << 20)})
		if err != nil {
			return
		}
		s, err := m.NewSession(2)
		if err != nil {
			return
		}
		_ = s.Forward(context.Background(), []int32{0, 1}, 1, make([]float32, m.Config.Vocab))
	})
}

// TestQuantizedBatches checks the two product paths against each other on the
// fixture quantized to every type with an integer kernel (and Q4_K_M's Q6_K rows):
// one token at a time runs package kernels' dot products on the quantized blocks,
// the whole batch runs decoded rows through SGEMM. Both see the same quantized
// activations, so they differ only by float32 accumulation order.
func TestQuantizedBatches(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	ids := []int32{5, 77, 300, 12, 9, 250}
	for _, ft := range []string{"Q8_0", "Q4_0", "Q4_K_M", "Q5_K_M", "Q6_K", "IQ4_XS"} {
		t.Run(ft, func(t *testing.T) {
			m := quantizedFixture(t, 256, 2, 512, ft, 2)
			kinds := map[tensor.DType]int{}
			for i := range m.layers {
				L := &m.layers[i]
				for _, w := range []*matrix{L.q, L.k, L.v, L.o, L.gate, L.up, L.down, m.output} {
					if w != nil && quantDot(w.DType) != nil {
						kinds[w.DType]++
						checkKernelProduct(t, w, r)
					}
				}
			}
			if len(kinds) == 0 {
				t.Fatalf("no weight of the %s model has an integer kernel", ft)
			}
			t.Logf("weights with integer kernels: %v", kinds)
			V := m.Config.Vocab
			run := func(batch int) []float32 {
				s, err := m.NewSession(len(ids))
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				out := make([]float32, len(ids)*V)
				for b := 0; b < len(ids); b += batch {
					e := min(b+batch, len(ids))
					if err := s.Forward(context.Background(), ids[b:e], 0, out[b*V:e*V]); err != nil {
						t.Fatal(err)
					}
				}
				return out
			}
			want, got := run(len(ids)), run(1)
			var scale float64
			for _, v := range want {
				scale = max(scale, math.Abs(float64(v)))
			}
			// A float32 difference that moves an activation across a rounding boundary of
			// its 8-bit quantization is amplified by the later layers (the products
			// themselves are checked tightly above); the bounds allow a few such flips.
			var sum float64
			for i := range got {
				d := math.Abs(float64(got[i] - want[i]))
				sum += d
				if d > 5e-2*scale {
					t.Fatalf("logit %d: one token at a time %v, batched %v (logit scale %g)", i, got[i], want[i], scale)
				}
			}
			if mean := sum / float64(len(got)); mean > 2e-3*scale {
				t.Errorf("logits differ by %g on average between one token at a time and batched (logit scale %g)", mean, scale)
			}
		})
	}
}

// checkKernelProduct compares matmulQuant with the float path (rounded activations
// times decoded rows) on one weight for two random tokens: the same quantized inputs,
// so they differ only by float32 accumulation order.
func checkKernelProduct(t *testing.T, w *matrix, r *rand.Rand) {
	t.Helper()
	const nt = 2
	x := make([]float32, nt*w.Cols)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	got := make([]float32, nt*w.Rows)
	matmulQuant(got, w, slices.Clone(x), nt, 2)
	want := make([]float32, nt*w.Rows)
	for tk := 0; tk < nt; tk++ {
		roundActivation(x[tk*w.Cols:(tk+1)*w.Cols], activationFor(w.DType))
	}
	matmulRows(want, w, x, nt, 0, w.Rows, 2)
	row := make([]float32, w.Cols)
	for tk := 0; tk < nt; tk++ {
		for i := 0; i < w.Rows; i++ {
			w.row(row, i)
			var mag float64
			for j, v := range row {
				mag += math.Abs(float64(v) * float64(x[tk*w.Cols+j]))
			}
			if d := math.Abs(float64(got[tk*w.Rows+i] - want[tk*w.Rows+i])); d > 1e-5*mag {
				t.Fatalf("%s %dx%d: row %d token %d: kernel %v, decoded row %v", w.DType, w.Rows, w.Cols, i, tk, got[tk*w.Rows+i], want[tk*w.Rows+i])
			}
		}
	}
}

// widened returns the fixture's architecture (2 layers, vocabulary 395) at width
// embed in heads of 64, kvHeads key/value heads and feed-forward ff, with random F32
// weights.
func widened(tb testing.TB, src *refit.Model, embed, kvHeads, ff int64) *refit.Model {
	tb.Helper()
	md := src.Metadata.Clone()
	md.Set("llama.embedding_length", uint32(embed))
	md.Set("llama.feed_forward_length", uint32(ff))
	md.Set("llama.attention.head_count", uint32(embed/64))
	md.Set("llama.attention.head_count_kv", uint32(kvHeads))
	md.Set("llama.rope.dimension_count", uint32(64))
	wide := map[int64]int64{64: embed, 32: 64 * kvHeads, 96: ff}
	r := rand.New(rand.NewPCG(7, 8))
	out := &refit.Model{Format: src.Format, Metadata: md}
	for _, tn := range src.Tensors {
		shape := slices.Clone(tn.Shape)
		n := int64(1)
		for i, d := range shape {
			if w, ok := wide[d]; ok {
				shape[i] = w
			}
			n *= shape[i]
		}
		v := make([]float32, n)
		for i := range v {
			if len(shape) == 1 {
				v[i] = 1 + 0.1*float32(r.NormFloat64())
			} else {
				v[i] = 0.05 * float32(r.NormFloat64())
			}
		}
		nt, err := tensor.NewF32(tn.Name, shape, v)
		if err != nil {
			tb.Fatal(err)
		}
		out.Tensors = append(out.Tensors, nt)
	}
	return out
}

// quantizedFixture is the widened fixture quantized to file type ft, loaded.
func quantizedFixture(tb testing.TB, embed, kvHeads, ff int64, ft string, threads int) *Model {
	tb.Helper()
	mf, err := refit.OpenMapped(fixture(nil))
	if err != nil {
		tb.Fatal(err)
	}
	defer mf.Close()
	src, err := gguf.Decode(mf, mf.Size(), nil)
	if err != nil {
		tb.Fatal(err)
	}
	fileType, err := ggml.ParseFileType(ft)
	if err != nil {
		tb.Fatal(err)
	}
	q, err := ggml.QuantizeModel(widened(tb, src, embed, kvHeads, ff), fileType, nil)
	if err != nil {
		tb.Fatalf("QuantizeModel(%s) = %v", ft, err)
	}
	var buf bytes.Buffer
	if err := gguf.Encode(&buf, q, nil); err != nil {
		tb.Fatal(err)
	}
	b := buf.Bytes()
	m, err := Load(bytes.NewReader(b), int64(len(b)), &Options{Threads: threads})
	if err != nil {
		tb.Fatalf("Load = %v", err)
	}
	return m
}

// BenchmarkPrefill times one 256-token batch through a 2-layer llama of width 1024
// (16 heads, 4 KV heads, feed-forward 2816) with random weights, and reports tokens
// per CPU-second. On the 2-core AMD EPYC (Zen 4) dev VM, loaded by other jobs, at 2
// threads: Q8_0 1027, Q4_K_M 1029 tokens per CPU-second (about 46 GFLOP per CPU-second).
func BenchmarkPrefill(b *testing.B) {
	const nt = 256
	ids := make([]int32, nt)
	for i := range ids {
		ids[i] = int32(i * 7 % 395)
	}
	for _, ft := range []string{"Q8_0", "Q4_K_M"} {
		b.Run(ft, func(b *testing.B) {
			m := quantizedFixture(b, 1024, 4, 2816, ft, 2)
			s, err := m.NewSession(nt)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			logits := make([]float32, m.Config.Vocab)
			cpu0 := processCPU()
			for b.Loop() {
				s.Reset()
				if err := s.Forward(context.Background(), ids, nt-1, logits); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*nt)/(processCPU()-cpu0).Seconds(), "tokens/cpu-s")
		})
	}
}

// TestLongBatch checks that an input longer than MaxBatch, split by Forward, gives
// the logits of running it in small batches, the requested ones at the right places.
func TestLongBatch(t *testing.T) {
	m := loadFixture(t, &Options{Threads: 2})
	n := 2*MaxBatch + 77
	first := MaxBatch + 5
	ids := make([]int32, n)
	for i := range ids {
		ids[i] = int32(i * 31 % m.Config.Vocab)
	}
	V := m.Config.Vocab
	s, err := m.NewSession(n)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got := make([]float32, (n-first)*V)
	if err := s.Forward(context.Background(), ids, first, got); err != nil {
		t.Fatal(err)
	}
	s.Reset()
	want := make([]float32, n*V)
	for b := 0; b < n; b += 100 {
		e := min(b+100, n)
		if err := s.Forward(context.Background(), ids[b:e], 0, want[b*V:e*V]); err != nil {
			t.Fatal(err)
		}
	}
	want = want[first*V:]
	for i := range got {
		if d := math.Abs(float64(got[i] - want[i])); d > 1e-4*(1+math.Abs(float64(want[i]))) {
			t.Fatalf("logit %d (token %d): %v, in batches of 100 %v", i, first+i/V, got[i], want[i])
		}
	}
}

// TestAttentionPaths checks the SGEMM attention of a batch against the per-token one
// (a token at a time through the cache) with gemma2's sliding window on even layers
// and its score soft-capping, over more tokens than a tile and the window.
func TestAttentionPaths(t *testing.T) {
	n := attnTile + 37
	ids := make([]int32, n)
	for i := range ids {
		ids[i] = int32(i * 13 % 395)
	}
	for _, c := range []struct{ window, softcap float32 }{{0, 0}, {5, 0}, {0, 2}, {9, 1.5}} {
		m := loadFixture(t, &Options{Threads: 2})
		m.Config.SlidingPattern = 2 // gemma2's: even layers slide
		m.Config.SlidingWindow = int(c.window)
		m.Config.AttnSoftcap = c.softcap
		V := m.Config.Vocab
		run := func(batch int) []float32 {
			s, err := m.NewSession(n)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			out := make([]float32, n*V)
			for b := 0; b < n; b += batch {
				e := min(b+batch, n)
				if err := s.Forward(context.Background(), ids[b:e], 0, out[b*V:e*V]); err != nil {
					t.Fatal(err)
				}
			}
			return out
		}
		want, got := run(1), run(n)
		// The fixture's F16 weights round activations to float16 before each product,
		// so a last-bit difference between the paths can flip a rounding (1e-3
		// relative) and travel on; a wrong mask moves every later logit.
		var scale, sum float64
		for _, v := range want {
			scale = max(scale, math.Abs(float64(v)))
		}
		for i := range got {
			d := math.Abs(float64(got[i] - want[i]))
			sum += d
			if d > 2e-2*scale {
				t.Fatalf("window %v softcap %v: logit %d (token %d): batched %v, one at a time %v", c.window, c.softcap, i, i/V, got[i], want[i])
			}
		}
		if mean := sum / float64(len(got)); mean > 2e-4*scale {
			t.Errorf("window %v softcap %v: logits differ by %g on average (scale %g)", c.window, c.softcap, mean, scale)
		}
	}
}
