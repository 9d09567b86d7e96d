package plan

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"regexp"
	"testing"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/gguf"
	"github.com/refit-ml/refit/quant/ggml"
	"github.com/refit-ml/refit/tensor"
)

// tinyLlama is a llama-shaped GGUF model with random F32 weights.
func tinyLlama(t testing.TB, layers int, embd, ff int64) *refit.Model {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	var ts []*tensor.Tensor
	add := func(name string, s ...int64) {
		n := int64(1)
		for _, d := range s {
			n *= d
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		x, err := tensor.NewF32(name, tensor.Shape(s), v)
		if err != nil {
			t.Fatal(err)
		}
		ts = append(ts, x)
	}
	add("token_embd.weight", 64, embd)
	for b := range layers {
		p := fmt.Sprintf("blk.%d.", b)
		add(p+"attn_norm.weight", embd)
		add(p+"attn_q.weight", embd, embd)
		add(p+"attn_k.weight", embd, embd)
		add(p+"attn_v.weight", embd, embd)
		add(p+"attn_output.weight", embd, embd)
		add(p+"ffn_norm.weight", embd)
		add(p+"ffn_gate.weight", ff, embd)
		add(p+"ffn_up.weight", ff, embd)
		add(p+"ffn_down.weight", embd, ff)
	}
	add("output_norm.weight", embd)
	add("output.weight", 64, embd)
	m := &refit.Model{Format: "gguf", Tensors: ts}
	m.Metadata.Set("general.architecture", "llama")
	m.Metadata.Set("general.file_type", uint32(0))
	m.Metadata.Set("llama.block_count", uint32(layers))
	m.Metadata.Set("llama.attention.head_count", uint32(4))
	m.Metadata.Set("llama.attention.head_count_kv", uint32(4))
	return m
}

func entry(t *testing.T, p *Plan, name string) Entry {
	t.Helper()
	for _, e := range p.Tensors {
		if e.Name == name {
			return e
		}
	}
	t.Fatalf("plan has no tensor %q", name)
	return Entry{}
}

func TestLlamaOrder(t *testing.T) {
	got := LlamaOrder([]string{"blk.10.a", "blk.2.b", "output.weight", "blk.2.a", "token_embd.weight", "blk.x.y"})
	want := []string{"blk.x.y", "output.weight", "token_embd.weight", "blk.2.a", "blk.2.b", "blk.10.a"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("LlamaOrder = %v, want %v", got, want)
	}
}

func TestNew(t *testing.T) {
	m := tinyLlama(t, 8, 256, 512)
	tests := []struct {
		ft    ggml.FileType
		opts  *Options
		types map[string]tensor.DType
	}{
		{ggml.FileQ4_K_M, nil, map[string]tensor.DType{
			"token_embd.weight": tensor.Q4_K, "output.weight": tensor.Q6_K, "output_norm.weight": tensor.F32,
			"blk.0.attn_v.weight": tensor.Q6_K, "blk.1.attn_v.weight": tensor.Q4_K, "blk.3.attn_v.weight": tensor.Q6_K,
			"blk.7.ffn_down.weight": tensor.Q6_K, "blk.2.ffn_down.weight": tensor.Q4_K, "blk.2.attn_q.weight": tensor.Q4_K,
		}},
		{ggml.FileQ8_0, nil, map[string]tensor.DType{
			"token_embd.weight": tensor.Q8_0, "output.weight": tensor.Q8_0, "blk.0.attn_v.weight": tensor.Q8_0,
		}},
		{ggml.FileQ4_0, &Options{Overrides: []Override{{regexp.MustCompile(`attn_v`), tensor.Q8_0}},
			Keep: []*regexp.Regexp{regexp.MustCompile(`^blk\.0\.attn_q`)}}, map[string]tensor.DType{
			"blk.0.attn_v.weight": tensor.Q8_0, "blk.5.attn_v.weight": tensor.Q8_0, "blk.0.attn_q.weight": tensor.F32,
			"blk.1.attn_q.weight": tensor.Q4_0, "output.weight": tensor.Q6_K,
		}},
		{ggml.FileF16, nil, map[string]tensor.DType{"blk.0.attn_q.weight": tensor.F16, "blk.0.attn_norm.weight": tensor.F32}},
	}
	for _, tc := range tests {
		t.Run(tc.ft.String(), func(t *testing.T) {
			p, err := New(m, tc.ft, tc.opts)
			if err != nil {
				t.Fatalf("New = %v", err)
			}
			for name, want := range tc.types {
				if e := entry(t, p, name); e.To != want {
					t.Errorf("%s: %v (%s), want %v", name, e.To, e.Reason, want)
				}
			}
			if err := p.Check(); err != nil {
				t.Errorf("Check = %v", err)
			}
			q, err := p.Apply(m, nil)
			if err != nil {
				t.Fatalf("Apply = %v", err)
			}
			var buf bytes.Buffer
			if err := gguf.Encode(&buf, q, nil); err != nil {
				t.Fatal(err)
			}
			if int64(buf.Len()) != p.FileBytes {
				t.Errorf("encoded %d bytes, plan says %d", buf.Len(), p.FileBytes)
			}
			if want := float64(p.FileBytes) * 8 / float64(p.Params); p.BitsPerWeight != want {
				t.Errorf("BitsPerWeight = %v, want %v", p.BitsPerWeight, want)
			}
			back, err := gguf.Decode(bytes.NewReader(buf.Bytes()), int64(buf.Len()), nil)
			if err != nil {
				t.Fatal(err)
			}
			if v, _ := back.Metadata.Get("general.file_type"); v != uint32(tc.ft) {
				t.Errorf("general.file_type = %v, want %d", v, tc.ft)
			}
			keys := back.Metadata.Keys()
			if keys[len(keys)-1] != "general.file_type" || keys[len(keys)-2] != "general.quantization_version" {
				t.Errorf("metadata order %v: want quantization_version, file_type last", keys)
			}
			for i, e := range p.Tensors {
				got := back.Tensors[i]
				if got.Name != e.Name || got.DType != e.To {
					t.Fatalf("tensor %d = %s %v, want %s %v", i, got.Name, got.DType, e.Name, e.To)
				}
				a, _ := m.Tensor(e.Name).Float32s()
				b, err := got.Float32s()
				if err != nil {
					t.Fatal(err)
				}
				if c := cosine(a, b); c < 0.99 {
					t.Errorf("%s: cosine %v after %v", e.Name, c, e.To)
				}
			}
		})
	}
}

func cosine(a, b []float32) float64 {
	var ab, aa, bb float64
	for i := range a {
		ab += float64(a[i]) * float64(b[i])
		aa += float64(a[i]) * float64(a[i])
		bb += float64(b[i]) * float64(b[i])
	}
	return ab / math.Sqrt(aa*bb)
}

func TestFallback(t *testing.T) {
	m := tinyLlama(t, 2, 96, 160) // rows of 96 and 160: not whole 256-blocks
	p, err := New(m, ggml.FileQ4_K_M, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := entry(t, p, "blk.0.attn_q.weight")
	if !e.Fallback || e.To != tensor.Q5_0 || e.Wanted != "Q4_K" {
		t.Errorf("attn_q = %+v, want fallback Q4_K -> Q5_0", e)
	}
	if err := p.Check(); !errors.Is(err, ErrFallback) {
		t.Errorf("Check = %v, want ErrFallback", err)
	}
	if _, err := p.Apply(m, nil); !errors.Is(err, ErrFallback) {
		t.Errorf("Apply = %v, want ErrFallback", err)
	}
	p, err = New(m, ggml.FileQ4_K_M, &Options{AllowFallback: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Check(); err != nil {
		t.Errorf("Check with AllowFallback = %v", err)
	}
	// An override to a type that does not fit falls back too.
	p, err = New(m, ggml.FileQ8_0, &Options{Overrides: []Override{{regexp.MustCompile("ffn_up"), tensor.Q6_K}}})
	if err != nil {
		t.Fatal(err)
	}
	if e := entry(t, p, "blk.1.ffn_up.weight"); !e.Fallback || e.To != tensor.Q8_0 {
		t.Errorf("ffn_up = %+v, want fallback Q6_K -> Q8_0", e)
	}
	if e := entry(t, p, "blk.1.ffn_down.weight"); e.Fallback || e.To != tensor.Q8_0 {
		t.Errorf("ffn_down = %+v, want Q8_0 without fallback", e)
	}
}

func TestParseOverride(t *testing.T) {
	for _, tc := range []struct {
		in   string
		ok   bool
		want tensor.DType
	}{
		{"attn_v=Q6_K", true, tensor.Q6_K}, {`blk\.[0-3]\.ffn_down=q8_0`, true, tensor.Q8_0},
		{"attn_v=", false, 0}, {"=Q4_0", false, 0}, {"attn_v=Q9_K", false, 0}, {"(=Q4_0", false, 0}, {"x=I32", false, 0},
	} {
		t.Run(tc.in, func(t *testing.T) {
			o, err := ParseOverride(tc.in)
			if (err == nil) != tc.ok || tc.ok && o.Type != tc.want {
				t.Errorf("ParseOverride(%q) = %v, %v", tc.in, o.Type, err)
			}
		})
	}
}

func legacyImatrix(entries map[string][]float32, ncall int32) []byte {
	var b []byte
	b = binary.LittleEndian.AppendUint32(b, uint32(len(entries)))
	for _, name := range []string{"a.weight", "b.weight"} {
		v, ok := entries[name]
		if !ok {
			continue
		}
		b = binary.LittleEndian.AppendUint32(b, uint32(len(name)))
		b = append(b, name...)
		b = binary.LittleEndian.AppendUint32(b, uint32(ncall))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(v)))
		for _, f := range v {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(f))
		}
	}
	return b
}

func TestParseImatrix(t *testing.T) {
	leg := legacyImatrix(map[string][]float32{"a.weight": {2, 4, 6}, "b.weight": {1}}, 2)
	got, err := ParseImatrix(bytes.NewReader(leg), int64(len(leg)))
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got["a.weight"]) != "[1 2 3]" || fmt.Sprint(got["b.weight"]) != "[0.5]" {
		t.Errorf("legacy = %v", got)
	}
	// GGUF form: two experts, the second with count 0 (weights 1).
	sums, _ := tensor.NewF32("x.weight.in_sum2", tensor.Shape{2, 2}, []float32{3, 6, 5, 5})
	counts, _ := tensor.NewF32("x.weight.counts", tensor.Shape{2, 1}, []float32{3, 0})
	gm := &refit.Model{Tensors: []*tensor.Tensor{sums, counts}}
	var buf bytes.Buffer
	if err := gguf.Encode(&buf, gm, nil); err != nil {
		t.Fatal(err)
	}
	got, err = ParseImatrix(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got["x.weight"]) != "[1 2 1 1]" {
		t.Errorf("gguf = %v", got)
	}
	bad := map[string][]byte{
		"empty":          {},
		"zero entries":   {0, 0, 0, 0},
		"huge count":     {0xff, 0xff, 0xff, 0x7f},
		"truncated":      leg[:len(leg)-3],
		"huge name":      append(binary.LittleEndian.AppendUint32([]byte{1, 0, 0, 0}, 1<<30), 'a'),
		"negative name":  binary.LittleEndian.AppendUint32([]byte{1, 0, 0, 0}, 0xffffffff),
		"gguf no counts": ggufBytes(t, sums),
	}
	for name, b := range bad {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseImatrix(bytes.NewReader(b), int64(len(b))); !errors.Is(err, refit.ErrFormat) {
				t.Errorf("ParseImatrix = %v, want ErrFormat", err)
			}
		})
	}
}

func ggufBytes(t testing.TB, ts ...*tensor.Tensor) []byte {
	var buf bytes.Buffer
	if err := gguf.Encode(&buf, &refit.Model{Tensors: ts}, nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestApplyImatrix(t *testing.T) {
	m := tinyLlama(t, 2, 256, 256)
	im := map[string][]float32{"blk.0.attn_q.weight": make([]float32, 256), "blk.1.attn_q.weight": make([]float32, 3)}
	for i := range im["blk.0.attn_q.weight"] {
		im["blk.0.attn_q.weight"][i] = float32(i + 1)
	}
	p, err := New(m, ggml.FileQ4_K_M, &Options{MixOptions: ggml.MixOptions{Imatrix: true}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Apply(m, im); err == nil {
		t.Errorf("Apply with a 3-value importance vector for a 256-column tensor succeeded")
	}
	delete(im, "blk.1.attn_q.weight")
	q, err := p.Apply(m, im)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := q.Tensor("blk.0.attn_q.weight").Bytes()
	p2, _ := New(m, ggml.FileQ4_K_M, nil)
	q2, _ := p2.Apply(m, nil)
	b, _ := q2.Tensor("blk.0.attn_q.weight").Bytes()
	if bytes.Equal(a, b) {
		t.Errorf("the importance matrix changed nothing")
	}
}

// TestNeedsImatrix checks llama-quantize's refusal of very low-bit tensors without an
// importance vector: at Check for a plan made without one, at Apply for a tensor the
// importance matrix leaves out.
func TestNeedsImatrix(t *testing.T) {
	m := tinyLlama(t, 2, 256, 256)
	for _, ft := range []ggml.FileType{ggml.FileIQ2_XXS, ggml.FileIQ1_M, ggml.FileIQ3_XXS, ggml.FileQ2_K_S} {
		p, err := New(m, ft, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Check(); !errors.Is(err, ggml.ErrNeedsImatrix) {
			t.Errorf("%v without an importance matrix: Check = %v, want ErrNeedsImatrix", ft, err)
		}
	}
	p, err := New(m, ggml.FileIQ2_XXS, &Options{MixOptions: ggml.MixOptions{Imatrix: true}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Check(); err != nil {
		t.Fatalf("Check with an importance matrix = %v", err)
	}
	im := map[string][]float32{}
	for _, e := range p.Tensors {
		if e.To.Quantized() && len(e.Shape) == 2 {
			v := make([]float32, e.Shape[1])
			for i := range v {
				v[i] = float32(i%7 + 1)
			}
			im[e.Name] = v
		}
	}
	if _, err := p.Apply(m, im); err != nil {
		t.Fatalf("Apply with a full importance matrix = %v", err)
	}
	delete(im, "blk.1.ffn_up.weight")
	if _, err := p.Apply(m, im); !errors.Is(err, ggml.ErrNeedsImatrix) {
		t.Errorf("Apply without blk.1.ffn_up.weight's importance vector = %v, want ErrNeedsImatrix", err)
	}
}

// Outer dimensions of one are dropped as llama.cpp's writer drops them (ggml_n_dims),
// in the output and in the planned file size.
func TestApplyDropsOuterOnes(t *testing.T) {
	m := tinyLlama(t, 2, 64, 128)
	v := make([]float32, 64)
	gate, err := tensor.NewF32("blk.0.ffn_gate_inp_shexp.weight", tensor.Shape{1, 64}, v)
	if err != nil {
		t.Fatal(err)
	}
	one, err := tensor.NewF32("blk.0.one.weight", tensor.Shape{1, 1}, []float32{2})
	if err != nil {
		t.Fatal(err)
	}
	m.Tensors = append(m.Tensors, gate, one)
	p, err := New(m, ggml.FileQ8_0, nil)
	if err != nil {
		t.Fatal(err)
	}
	q, checks, err := p.ApplyChecked(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]tensor.Shape{
		gate.Name: {64}, one.Name: {1}, "blk.0.attn_q.weight": {64, 64},
	} {
		if got := q.Tensor(name).Shape; !got.Equal(want) {
			t.Errorf("%s: shape %v, want %v", name, got, want)
		}
	}
	var buf bytes.Buffer
	if err := gguf.Encode(&buf, q, nil); err != nil {
		t.Fatal(err)
	}
	if int64(buf.Len()) != p.FileBytes {
		t.Errorf("planned %d bytes, encoded %d", p.FileBytes, buf.Len())
	}
	back, err := gguf.Decode(bytes.NewReader(buf.Bytes()), int64(buf.Len()), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := checks.Verify(context.Background(), m, back); err != nil {
		t.Errorf("Verify = %v", err)
	}
}
