package llmonnx

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/gguf"
	"github.com/refit-ml/refit/format/numpy"
	"github.com/refit-ml/refit/format/onnx"
	"github.com/refit-ml/refit/graph/half"
	"github.com/refit-ml/refit/hf"
	"github.com/refit-ml/refit/internal/testtool"
	"github.com/refit-ml/refit/llm"
	"github.com/refit-ml/refit/llm/onnxexport"
	"github.com/refit-ml/refit/quant/ggml"
	"github.com/refit-ml/refit/quant/onnxq"
	"github.com/refit-ml/refit/runtime"
	"github.com/refit-ml/refit/tensor"
)

type feed = map[string]*runtime.Value

// job is one run of an exported graph.
type job struct {
	model string
	in    feed
}

// runner runs jobs and returns each job's outputs by name.
type runner func(t *testing.T, jobs []job) []feed

// exported is a graph written to disk with the shapes its cache needs.
type exported struct {
	path                   string
	layers, kv, kDim, vDim int64
	vocab                  int
}

func exportTo(t *testing.T, m *refit.Model, opts *onnxexport.Options, path string) exported {
	t.Helper()
	om, err := onnxexport.Export(context.Background(), m, opts)
	if err != nil {
		t.Fatalf("Export = %v", err)
	}
	if err := onnx.EncodeFile(path, om, nil); err != nil {
		t.Fatalf("onnx.EncodeFile = %v", err)
	}
	return exportedShapes(t, m, path)
}

func ints(t *testing.T, v []int64) *runtime.Value {
	t.Helper()
	x, err := runtime.FromSlice(v, 1, int64(len(v)))
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// inputs feeds ids at positions past.. after a cache of past tokens (nil: empty).
func (g exported) inputs(t *testing.T, ids []int64, past feed, pastLen int) feed {
	in := feed{"input_ids": ints(t, ids)}
	mask, pos := make([]int64, pastLen+len(ids)), make([]int64, len(ids))
	for i := range mask {
		mask[i] = 1
	}
	for i := range pos {
		pos[i] = int64(pastLen + i)
	}
	in["attention_mask"], in["position_ids"] = ints(t, mask), ints(t, pos)
	for i := range g.layers {
		for _, kv := range []struct {
			name string
			dim  int64
		}{{"key", g.kDim}, {"value", g.vDim}} {
			name := fmt.Sprintf("past_key_values.%d.%s", i, kv.name)
			if past == nil {
				in[name] = runtime.NewValue(tensor.F32, []int64{1, g.kv, 0, kv.dim})
			} else {
				in[name] = past[fmt.Sprintf("present.%d.%s", i, kv.name)]
			}
		}
	}
	return in
}

// lastLogits returns the logits of the last position.
func (g exported) lastLogits(t *testing.T, out feed) []float32 {
	t.Helper()
	l := out["logits"]
	if l == nil {
		t.Fatal("no logits output")
	}
	v := l.Data.([]float32)
	return v[len(v)-g.vocab:]
}

// prefillDecode runs the whole prompt, and the prompt but its last token followed by
// a decode step of that token from the cache; it returns both last-position logits.
func prefillDecode(t *testing.T, run runner, gs []exported, prompts [][]int64) (full, step [][]float32) {
	t.Helper()
	var first []job
	for i, g := range gs {
		ids := prompts[i]
		first = append(first, job{g.path, g.inputs(t, ids, nil, 0)}, job{g.path, g.inputs(t, ids[:len(ids)-1], nil, 0)})
	}
	outs := run(t, first)
	var second []job
	for i, g := range gs {
		ids := prompts[i]
		second = append(second, job{g.path, g.inputs(t, ids[len(ids)-1:], outs[2*i+1], len(ids)-1)})
	}
	steps := run(t, second)
	for i, g := range gs {
		full = append(full, g.lastLogits(t, outs[2*i]))
		step = append(step, g.lastLogits(t, steps[i]))
	}
	return full, step
}

// runRefit runs jobs in Refit's runtime.
func runRefit(t *testing.T, jobs []job) []feed {
	t.Helper()
	sessions := map[string]*runtime.Session{}
	var outs []feed
	for _, j := range jobs {
		s := sessions[j.model]
		if s == nil {
			mp, err := onnx.Load(refit.DirFS(filepath.Dir(j.model)), filepath.Base(j.model))
			if err != nil {
				t.Fatal(err)
			}
			if s, err = runtime.Load(mp, nil, &runtime.Options{Threads: 1}); err != nil {
				t.Fatalf("runtime.Load(%s) = %v", j.model, err)
			}
			sessions[j.model] = s
		}
		out, err := s.Run(context.Background(), j.in)
		if err != nil {
			t.Fatalf("Run(%s) = %v", j.model, err)
		}
		outs = append(outs, out)
	}
	return outs
}

// ortRunner runs jobs in ONNX Runtime through interop/ort/ort_run.js.
func ortRunner(t *testing.T) runner {
	t.Helper()
	nodeModules := testtool.NodeModules(t, "onnxruntime-node")
	if _, err := exec.LookPath("node"); err != nil {
		testtool.Missing(t, "node", err)
	}
	return func(t *testing.T, jobs []job) []feed {
		t.Helper()
		dir := t.TempDir()
		type ortJob struct {
			Model   string            `json:"model"`
			Inputs  map[string]string `json:"inputs"`
			Outputs string            `json:"outputs"`
		}
		var spec []ortJob
		for i, j := range jobs {
			oj := ortJob{Model: j.model, Inputs: map[string]string{}, Outputs: filepath.Join(dir, fmt.Sprintf("out%d", i))}
			k := 0
			for name, v := range j.in {
				tn, err := v.Tensor(name)
				if err != nil {
					t.Fatal(err)
				}
				var buf bytes.Buffer
				if err := numpy.EncodeNPY(&buf, tn); err != nil {
					t.Fatal(err)
				}
				p := filepath.Join(dir, fmt.Sprintf("job%d_in%d.npy", i, k))
				k++
				if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				oj.Inputs[name] = p
			}
			spec = append(spec, oj)
		}
		b, err := json.Marshal(map[string]any{"threads": 1, "runs": 1, "jobs": spec})
		if err != nil {
			t.Fatal(err)
		}
		specPath := filepath.Join(dir, "spec.json")
		if err := os.WriteFile(specPath, b, 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("node", filepath.Join(testtool.RepoRoot(), "interop", "ort", "ort_run.js"), specPath)
		cmd.Env = append(os.Environ(), "NODE_PATH="+nodeModules)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("ONNX Runtime: %v\n%s", err, stderr.Bytes())
		}
		var results []struct {
			Outputs map[string]string `json:"outputs"`
		}
		if err := json.Unmarshal(out, &results); err != nil || len(results) != len(jobs) {
			t.Fatalf("ort_run.js printed %q: %v", out, err)
		}
		feeds := make([]feed, len(results))
		for i, r := range results {
			feeds[i] = feed{}
			for name, p := range r.Outputs {
				b, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				tn, err := numpy.ReadNPY(bytes.NewReader(b), int64(len(b)))
				if err != nil {
					t.Fatalf("%s: %v", p, err)
				}
				if feeds[i][name], err = runtime.FromTensor(tn); err != nil {
					t.Fatal(err)
				}
			}
		}
		return feeds
	}
}

// agree checks max |got - want| <= rel * max |want| and returns the difference.
func agree(t *testing.T, what string, got []float32, want []float64, rel float64) float64 {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d logits, want %d", what, len(got), len(want))
	}
	var diff, scale float64
	for i, w := range want {
		diff = max(diff, math.Abs(float64(got[i])-w))
		scale = max(scale, math.Abs(w))
	}
	t.Logf("%s: max abs diff %.3g (logit scale %.3g)", what, diff, scale)
	if !(diff <= rel*scale) {
		t.Errorf("%s: max abs diff %.3g exceeds %.0e x logit scale %.3g", what, diff, rel, scale)
	}
	return diff
}

func f64(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// families are llm.py's models of the exported families, with the tolerance
// relative to the logit scale.
var families = []struct {
	name string
	tol  float64
}{{"llama", 1e-4}, {"llama3", 1e-4}, {"mistral", 1e-4}, {"qwen2", 1e-4}, {"qwen3", 1e-4}, {"phi3", 1e-4}, {"mixtral", 1e-4},
	{"qwen2moe", 1e-4}, {"qwen3moe", 1e-4}, {"granite", 1e-4}, {"granitemoe", 1e-4},
	// llm.py's gemma reference rounds the GELU's input and output to float16, as
	// llama.cpp does; the graph computes it in float32, as transformers does.
	{"gemma", 5e-3}, {"gemma2", 5e-3}}

// TestTorchAgrees exports llm.py's models from their Hugging Face folders and runs
// them in ONNX Runtime and in Refit's runtime against the torch forward pass.
func TestTorchAgrees(t *testing.T) {
	ort := ortRunner(t)
	dir, ref := torchModels(t)
	var (
		gs      []exported
		prompts [][]int64
		want    [][]float64
		labels  []string
	)
	var tols []float64
	for _, f := range families {
		g := exportTo(t, convertHF(t, dir, f.name), nil, filepath.Join(dir, f.name+".onnx"))
		for i, p := range ref.Models[f.name].Prompts {
			gs = append(gs, g)
			prompts = append(prompts, p.IDs)
			want = append(want, p.Logits)
			labels = append(labels, fmt.Sprintf("%s prompt %d", f.name, i))
			tols = append(tols, f.tol)
		}
	}
	checkModels(t, gs)
	for _, rt := range []struct {
		name string
		run  runner
	}{{"onnxruntime", ort}, {"refit", runRefit}} {
		t.Run(rt.name, func(t *testing.T) {
			full, step := prefillDecode(t, rt.run, gs, prompts)
			for i := range gs {
				agree(t, labels[i]+" prefill", full[i], want[i], tols[i])
				agree(t, labels[i]+" decode", step[i], want[i], tols[i])
			}
		})
	}
}

// TestFloat16 converts exported graphs to float16 (package half, the RMSNorm
// statistics kept in float32, inputs and outputs float32) and checks them against
// torch at float16's precision.
func TestFloat16(t *testing.T) {
	ort := ortRunner(t)
	dir, ref := torchModels(t)
	var (
		gs      []exported
		prompts [][]int64
		want    [][]float64
		labels  []string
	)
	for _, name := range []string{"llama", "qwen3"} {
		g := exportTo(t, convertHF(t, dir, name), nil, filepath.Join(dir, name+"_f32.onnx"))
		mp, err := onnx.Load(refit.DirFS(dir), name+"_f32.onnx")
		if err != nil {
			t.Fatal(err)
		}
		hm, _, err := half.Model(context.Background(), mp, nil, &half.Options{DType: tensor.F16, KeepNodes: onnxexport.FloatNodes(mp)})
		if err != nil {
			t.Fatalf("half.Model = %v", err)
		}
		g.path = filepath.Join(dir, name+"_f16.onnx")
		if err := onnx.WriteModelFile(g.path, hm, nil); err != nil {
			t.Fatal(err)
		}
		for i, p := range ref.Models[name].Prompts {
			gs = append(gs, g)
			prompts = append(prompts, p.IDs)
			want = append(want, p.Logits)
			labels = append(labels, fmt.Sprintf("%s f16 prompt %d", name, i))
		}
	}
	for _, rt := range []struct {
		name string
		run  runner
	}{{"onnxruntime", ort}, {"refit", runRefit}} {
		t.Run(rt.name, func(t *testing.T) {
			full, step := prefillDecode(t, rt.run, gs, prompts)
			for i := range gs {
				agree(t, labels[i]+" prefill", full[i], want[i], 1e-2)
				agree(t, labels[i]+" decode", step[i], want[i], 1e-2)
			}
		})
	}
}

type reference struct {
	Models map[string]struct {
		Prompts []struct {
			IDs    []int64   `json:"ids"`
			Logits []float64 `json:"logits"`
		} `json:"prompts"`
	} `json:"models"`
}

// torchModels builds llm.py's models into a temporary folder and reads their torch
// reference logits.
func torchModels(t *testing.T) (string, *reference) {
	t.Helper()
	testtool.RequirePython(t, "torch")
	script, err := os.ReadFile(filepath.Join(testtool.RepoRoot(), "testdata", "gen", "llm.py"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	testtool.RunPython(t, string(script), "build", dir)
	b, err := os.ReadFile(filepath.Join(dir, "reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref reference
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	return dir, &ref
}

// convertHF reads an llm.py model folder with float32 weights.
func convertHF(t *testing.T, dir, name string) *refit.Model {
	t.Helper()
	m, err := hf.ConvertHF(context.Background(), refit.DirFS(filepath.Join(dir, name)), &hf.ConvertOptions{DType: tensor.F32})
	if err != nil {
		t.Fatalf("ConvertHF(%s) = %v", name, err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// TestMatMulNBits exports the committed tiny llama and llm.py's mixtral (3-D expert
// tensors) with their matrices in GGUF block types, kept as MatMulNBits, and runs
// them in ONNX Runtime and Refit's runtime against the same models exported with
// dequantized float32 weights.
func TestMatMulNBits(t *testing.T) {
	ort := ortRunner(t)
	src, err := refit.Open(filepath.Join(testtool.RepoRoot(), "testdata", "models", "llm", "llama-f16.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dir, ref := torchModels(t)
	sources := []struct {
		name   string
		m      *refit.Model
		prompt []int64
	}{
		{"llama", src, []int64{393, 12, 250, 7, 99, 301, 45}},
		{"mixtral", convertHF(t, dir, "mixtral"), ref.Models["mixtral"].Prompts[0].IDs},
	}
	var (
		gs      []exported
		prompts [][]int64
		labels  []string
	)
	for _, s := range sources {
		for _, d := range []tensor.DType{tensor.Q4_0, tensor.Q4_1, tensor.Q8_0} {
			m := &refit.Model{Format: "gguf", Metadata: s.m.Metadata.Clone()}
			for _, x := range s.m.Tensors {
				if len(x.Shape) >= 2 {
					v, err := x.Float32s()
					if err != nil {
						t.Fatal(err)
					}
					f, err := tensor.NewF32(x.Name, x.Shape, v)
					if err != nil {
						t.Fatal(err)
					}
					if x, err = ggml.Quantize(f, d, nil, 1); err != nil {
						t.Fatal(err)
					}
				}
				m.Tensors = append(m.Tensors, x)
			}
			base := filepath.Join(dir, s.name+"_"+d.String())
			gs = append(gs, exportTo(t, m, nil, base+"_nbits.onnx"),
				exportTo(t, m, &onnxexport.Options{Weights: onnxexport.Float32}, base+"_f32.onnx"))
			prompts = append(prompts, s.prompt, s.prompt)
			labels = append(labels, s.name+" "+d.String())
		}
	}
	for _, rt := range []struct {
		name string
		run  runner
	}{{"onnxruntime", ort}, {"refit", runRefit}} {
		t.Run(rt.name, func(t *testing.T) {
			full, step := prefillDecode(t, rt.run, gs, prompts)
			for i, l := range labels {
				agree(t, l+" prefill", full[2*i], f64(full[2*i+1]), 1e-4)
				agree(t, l+" decode", step[2*i], f64(step[2*i+1]), 1e-4)
			}
		})
	}
}

// TestInt4 exports graphs with every matrix quantized afresh to 4- and 8-bit
// MatMulNBits (Weights Int4/Int8, as convert --dtype int4/int8 does) and checks that
// they equal quant/onnxq's weight-only quantization of the float32 graph, that ONNX
// Runtime and Refit's runtime agree on them, and that they stay close to torch.
func TestInt4(t *testing.T) {
	ort := ortRunner(t)
	dir, ref := torchModels(t)
	var (
		gs      []exported
		prompts [][]int64
		want    [][]float64
		minCos  []float64
	)
	for _, name := range []string{"llama", "qwen2"} {
		m := convertHF(t, dir, name)
		f32 := exportTo(t, m, nil, filepath.Join(dir, name+"_f32.onnx"))
		mp, err := onnx.Load(refit.DirFS(dir), name+"_f32.onnx")
		if err != nil {
			t.Fatal(err)
		}
		// 4-bit round to nearest moves a random-weight model's logits a lot (its
		// weights have no structure to keep); 8 bits must keep them.
		for _, q := range []struct {
			w    onnxexport.Weights
			bits int
			cos  float64
		}{{onnxexport.Int4, 4, 0.8}, {onnxexport.Int8, 8, 0.998}} {
			g := exportTo(t, m, &onnxexport.Options{Weights: q.w}, filepath.Join(dir, fmt.Sprintf("%s_int%d.onnx", name, q.bits)))
			qm, _, err := onnxq.Quantize(context.Background(), mp, &onnxq.Options{Method: onnxq.WeightOnly, Bits: q.bits, GroupSize: 32}, nil)
			if err != nil {
				t.Fatalf("onnxq.Quantize = %v", err)
			}
			viaQ := f32
			viaQ.path = filepath.Join(dir, fmt.Sprintf("%s_onnxq%d.onnx", name, q.bits))
			if err := onnx.WriteModelFile(viaQ.path, qm, nil); err != nil {
				t.Fatal(err)
			}
			p := ref.Models[name].Prompts[0]
			gs, prompts, want = append(gs, g, viaQ), append(prompts, p.IDs, p.IDs), append(want, p.Logits, p.Logits)
			minCos = append(minCos, q.cos, q.cos)
		}
	}
	ortFull, ortStep := prefillDecode(t, ort, gs, prompts)
	full, step := prefillDecode(t, runRefit, gs, prompts)
	for i := 0; i < len(gs); i += 2 {
		agree(t, fmt.Sprintf("%s vs quant/onnxq", gs[i].path), ortStep[i], f64(ortStep[i+1]), 1e-5)
	}
	for i := range gs {
		agree(t, fmt.Sprintf("%s: Refit vs ONNX Runtime prefill", gs[i].path), full[i], f64(ortFull[i]), 1e-4)
		agree(t, fmt.Sprintf("%s: Refit vs ONNX Runtime decode", gs[i].path), step[i], f64(ortStep[i]), 1e-4)
		var dot, na, nb float64
		for j, w := range want[i] {
			g := float64(ortStep[i][j])
			dot, na, nb = dot+g*w, na+g*g, nb+w*w
		}
		cos := dot / math.Sqrt(na*nb)
		t.Logf("%s: cosine of ONNX Runtime's logits with torch's float ones: %.4f", gs[i].path, cos)
		if !(cos > minCos[i]) {
			t.Errorf("%s: cosine with the float model's logits %.4f, want > %g", gs[i].path, cos, minCos[i])
		}
	}
}

// TestBatchORT runs a batch of two prompts in ONNX Runtime, the shorter one
// left-padded, prefill and one decode step, from a graph with its weights in
// external data, and checks each row against the prompt run alone.
func TestBatchORT(t *testing.T) {
	ort := ortRunner(t)
	src, err := refit.Open(filepath.Join(testtool.RepoRoot(), "testdata", "models", "llm", "llama-f16.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dir := t.TempDir()
	om, err := onnxexport.Export(context.Background(), src, nil)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "m.onnx")
	if err := onnx.EncodeFile(path, om, &onnx.EncodeOptions{ExternalData: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + ".data"); err != nil {
		t.Fatalf("no external data: %v", err)
	}
	g := exportedShapes(t, src, path)
	long := []int64{393, 12, 250, 7, 99, 301}
	short := long[2:]
	pad := int64(len(long) - len(short))
	batch := func(rows ...[]int64) *runtime.Value {
		var flat []int64
		for _, r := range rows {
			flat = append(flat, r...)
		}
		v, err := runtime.FromSlice(flat, int64(len(rows)), int64(len(rows[0])))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	ones := func(n int) []int64 {
		v := make([]int64, n)
		for i := range v {
			v[i] = 1
		}
		return v
	}
	in := g.inputs(t, long, nil, 0) // single-row caches, replaced below
	n := len(long)
	in["input_ids"] = batch(long, append(make([]int64, pad), short...))
	in["attention_mask"] = batch(ones(n), append(make([]int64, pad), ones(len(short))...))
	in["position_ids"] = batch([]int64{0, 1, 2, 3, 4, 5}, []int64{1, 1, 0, 1, 2, 3})
	for name, v := range in {
		if strings.HasPrefix(name, "past_key_values.") {
			in[name] = runtime.NewValue(tensor.F32, []int64{2, v.Shape[1], 0, v.Shape[3]})
		}
	}
	first := ort(t, []job{{path, in}, {path, g.inputs(t, long, nil, 0)}, {path, g.inputs(t, short, nil, 0)}})
	next := int64(45)
	step := g.inputs(t, []int64{next}, first[0], n)
	step["input_ids"] = batch([]int64{next}, []int64{next})
	step["attention_mask"] = batch(ones(n+1), append(make([]int64, pad), ones(len(short)+1)...))
	step["position_ids"] = batch([]int64{int64(n)}, []int64{int64(len(short))})
	second := ort(t, []job{{path, step}, {path, g.inputs(t, []int64{next}, first[1], n)}, {path, g.inputs(t, []int64{next}, first[2], len(short))}})
	v := g.vocab
	rows := func(out feed) []float32 { return out["logits"].Data.([]float32) }
	agree(t, "full row prefill", rows(first[0])[:n*v], f64(rows(first[1])), 1e-5)
	agree(t, "padded row prefill", rows(first[0])[(n+int(pad))*v:], f64(rows(first[2])), 1e-5)
	agree(t, "full row decode", rows(second[0])[:v], f64(rows(second[1])), 1e-5)
	agree(t, "padded row decode", rows(second[0])[v:], f64(rows(second[2])), 1e-5)
}

// exportedShapes describes the graph at path exported from m.
func exportedShapes(t *testing.T, m *refit.Model, path string) exported {
	t.Helper()
	var vocab int
	for _, x := range m.Tensors {
		if x.Name == "token_embd.weight" {
			vocab = int(x.Shape[0])
		}
	}
	c, err := llm.ConfigFromMetadata(m.Metadata, vocab)
	if err != nil {
		t.Fatal(err)
	}
	return exported{path: path, layers: int64(c.Layers), kv: int64(c.KVHeads), kDim: int64(c.HeadDim), vDim: int64(c.ValueDim), vocab: vocab}
}

// checkModels runs onnx.checker.check_model with full_check (shape inference
// included) on every graph.
func checkModels(t *testing.T, gs []exported) {
	t.Helper()
	testtool.RequirePython(t, "onnx")
	var paths []string
	for _, g := range gs {
		if len(paths) == 0 || paths[len(paths)-1] != g.path {
			paths = append(paths, g.path)
		}
	}
	const script = `
import sys, onnx
for p in sys.argv[1:]:
    onnx.checker.check_model(p, full_check=True)
`
	testtool.RunPython(t, script, paths...)
}

// TestGreedyORT generates ten tokens greedily in ONNX Runtime, each decode step
// feeding the previous presents back, and checks every step's logits against
// package llm's forward pass over the same tokens (the committed tiny llama with
// float32 weights).
func TestGreedyORT(t *testing.T) {
	ort := ortRunner(t)
	src, err := refit.Open(filepath.Join(testtool.RepoRoot(), "testdata", "models", "llm", "llama-f16.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	m := &refit.Model{Format: "gguf", Metadata: src.Metadata.Clone()}
	for _, x := range src.Tensors {
		v, err := x.Float32s()
		if err != nil {
			t.Fatal(err)
		}
		if x, err = tensor.NewF32(x.Name, x.Shape, v); err != nil {
			t.Fatal(err)
		}
		m.Tensors = append(m.Tensors, x)
	}
	var buf bytes.Buffer
	if err := gguf.Encode(&buf, m, nil); err != nil {
		t.Fatal(err)
	}
	lm, err := llm.Load(bytes.NewReader(buf.Bytes()), int64(buf.Len()), &llm.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	const steps = 10
	prompt := []int64{393, 12, 250, 7}
	s, err := lm.NewSession(len(prompt) + steps)
	if err != nil {
		t.Fatal(err)
	}
	g := exportTo(t, m, nil, filepath.Join(t.TempDir(), "m.onnx"))
	argmax := func(v []float32) int64 {
		best := 0
		for i, x := range v {
			if x > v[best] {
				best = i
			}
		}
		return int64(best)
	}
	ids, past, pastLen := prompt, feed(nil), 0
	var generated []int64
	for step := range steps {
		out := ort(t, []job{{g.path, g.inputs(t, ids, past, pastLen)}})[0]
		got := g.lastLogits(t, out)
		want := make([]float32, lm.Config.Vocab)
		ids32 := make([]int32, len(ids))
		for i, id := range ids {
			ids32[i] = int32(id)
		}
		if err := s.Forward(context.Background(), ids32, len(ids)-1, want); err != nil {
			t.Fatal(err)
		}
		agree(t, fmt.Sprintf("step %d (cache of %d)", step, pastLen), got, f64(want), 1e-4)
		next := argmax(got)
		if w := argmax(want); w != next {
			t.Errorf("step %d: ONNX Runtime picks token %d, llm %d", step, next, w)
		}
		generated = append(generated, next)
		past, pastLen, ids = out, pastLen+len(ids), []int64{next}
	}
	t.Logf("generated %v", generated)
}
