package hf

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/arch"
	"github.com/refit-ml/refit/format/pytorch"
	"github.com/refit-ml/refit/format/safetensors"
	"github.com/refit-ml/refit/tensor"
	"github.com/refit-ml/refit/tokenizer"
)

// ConvertOptions control ConvertHF. The zero value means defaults.
type ConvertOptions struct {
	// DType of matrices: F16 (the default), BF16 or F32. Vectors (norms, biases)
	// are always F32, as llama.cpp expects.
	DType tensor.DType
	// Name is general.name; empty leaves it unset.
	Name string
	// Pre overrides the tokenizer's detected pre-tokenizer name.
	Pre string
	// NoTokenizer leaves the tokenizer out (no tokenizer.* metadata), for outputs
	// that carry none, such as ONNX graphs; the folder then needs no tokenizer files.
	NoTokenizer bool
}

// GGUF general.file_type values (llama_ftype) for the float outputs.
var fileTypes = map[tensor.DType]uint32{tensor.F32: 0, tensor.F16: 1, tensor.BF16: 32}

// IsHFFolder reports whether fsys looks like a Hugging Face model folder: a
// config.json naming an architecture, beside safetensors or PyTorch weights.
// A config.json that refit.DirFS refuses (a symlink out of the folder) still counts,
// so that ConvertHF reports the refusal instead of the folder being read as bare weights.
func IsHFFolder(fsys fs.FS) bool {
	if _, err := fs.Stat(fsys, "config.json"); err != nil && !errors.Is(err, refit.ErrInsecurePath) {
		return false
	}
	return len(weightFiles(fsys)) > 0 || safetensors.SniffFS(fsys)
}

// weightFiles lists PyTorch weight files (pytorch_model*.bin) in name order.
func weightFiles(fsys fs.FS) []string {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		n := e.Name()
		if !e.IsDir() && strings.HasPrefix(n, "pytorch_model") && strings.HasSuffix(n, ".bin") {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// ConvertHF reads a Hugging Face model folder (config.json, safetensors or
// pytorch_model*.bin weights, tokenizer files) and returns a Model with GGUF tensor
// names and metadata, ready for gguf.Encode. Tensors stay lazy: renames share the
// source data; permutations, transposes and casts are computed one tensor at a time
// when the encoder pulls them. The returned model owns the weight files; close it.
func ConvertHF(ctx context.Context, fsys fs.FS, opts *ConvertOptions) (*refit.Model, error) {
	if opts == nil {
		opts = &ConvertOptions{}
	}
	dtype := opts.DType
	if dtype == tensor.Invalid {
		dtype = tensor.F16
	}
	fileType, ok := fileTypes[dtype]
	if !ok {
		return nil, refit.Unsupportedf("hf", "output type %v (choose f32, f16 or bf16)", dtype)
	}
	cfgBytes, err := fs.ReadFile(fsys, "config.json")
	if err != nil {
		return nil, fmt.Errorf("arch: %w", err)
	}
	cfg, err := arch.ParseConfig(cfgBytes)
	if err != nil {
		return nil, err
	}
	a, err := archFor(cfg)
	if err != nil {
		return nil, err
	}
	md := refit.Metadata{}
	md.Set("general.architecture", a.Name)
	if opts.Name != "" {
		md.Set("general.name", opts.Name)
	}
	if err := a.Params(cfg, &md); err != nil {
		return nil, err
	}
	md.Set("general.file_type", fileType)
	md.Set("general.quantization_version", uint32(2))

	vocabSize, err := cfg.IntOr(0, "vocab_size")
	if err != nil {
		return nil, err
	}
	if !opts.NoTokenizer {
		vocab, err := tokenizer.Load(fsys, &tokenizer.Options{VocabSize: int(vocabSize), Pre: opts.Pre})
		if err != nil {
			return nil, err
		}
		if vocabSize > 0 && len(vocab.Tokens) != int(vocabSize) {
			return nil, errorf("tokenizer has %d tokens, config.json vocab_size is %d", len(vocab.Tokens), vocabSize)
		}
		vocab.Metadata(&md)
	}

	src, err := openWeights(fsys)
	if err != nil {
		return nil, err
	}
	out, err := convertTensors(ctx, a, cfg, src, dtype)
	if err != nil {
		src.Close()
		return nil, err
	}
	m := &refit.Model{Format: "gguf", Metadata: md, Tensors: out}
	m.AddCloser(src)
	return m, nil
}

// archFor picks the architecture from config.json's "architectures" list.
func archFor(cfg *arch.Config) (*arch.Arch, error) {
	classes := cfg.Architectures()
	for _, c := range classes {
		if a, ok := arch.ForClass(c); ok {
			return a, nil
		}
	}
	if len(classes) == 0 {
		return nil, errorf("config.json has no \"architectures\" list")
	}
	return nil, refit.Unsupportedf("hf", "architecture %q (known: %s)", classes[0], strings.Join(arch.Names(), ", "))
}

func convertTensors(ctx context.Context, a *arch.Arch, cfg *arch.Config, src *refit.Model, dtype tensor.DType) ([]*tensor.Tensor, error) {
	var (
		out       []*tensor.Tensor
		stacks    []*expertStack
		byName    = map[string]*expertStack{}
		packs     = map[string][]*tensor.Tensor{}
		packOrder []arch.PackSlot
	)
	for _, t := range src.Tensors {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if ps, ok := a.PackSlotHF(t.Name); ok {
			in := packs[ps.Key]
			if in == nil {
				in = make([]*tensor.Tensor, ps.N)
				packs[ps.Key] = in
				packOrder = append(packOrder, ps)
			}
			if in[ps.Slot] != nil {
				return nil, errorf("%s appears twice", t.Name)
			}
			in[ps.Slot] = t
			continue
		}
		if _, ok := a.MapSplit(t.Name); ok {
			parts, err := a.SplitTensor(cfg, t)
			if err != nil {
				return nil, err
			}
			for _, g := range parts {
				name := g.Name
				if g, err = tensor.Cast(g, dtype); err != nil {
					return nil, err
				}
				g.Name = name
				out = append(out, g)
			}
			continue
		}
		if name, x, ok := a.MapExpert(t.Name); ok {
			s := byName[name]
			if s == nil {
				s = &expertStack{name: name, members: map[int]*tensor.Tensor{}}
				byName[name] = s
				stacks = append(stacks, s)
			}
			if s.members[x] != nil {
				return nil, errorf("%s: expert %d appears twice", name, x)
			}
			s.members[x] = t
			continue
		}
		name, skip, err := a.MapName(t.Name)
		if err != nil {
			return nil, err
		}
		if skip {
			continue
		}
		if !t.DType.Float() {
			return nil, refit.Unsupportedf("hf", "tensor %q has type %v, not a float type", t.Name, t.DType)
		}
		g := &tensor.Tensor{Name: name, DType: t.DType, Shape: t.Shape.Clone(), Data: t.Data}
		if a.Transform != nil {
			if g, err = a.Transform(cfg, t.Name, g); err != nil {
				return nil, err
			}
		}
		if g, err = tensor.Cast(g, outType(g, dtype)); err != nil {
			return nil, err
		}
		g.Name = name
		out = append(out, g)
	}
	for _, ps := range packOrder {
		in := packs[ps.Key]
		if slices.Contains(in, nil) {
			return nil, errorf("%s: a group of tensors converted together is incomplete", a.Name)
		}
		parts, err := ps.Pack(cfg, in)
		if err != nil {
			return nil, err
		}
		for _, g := range parts {
			// quantized outputs (MXFP4) are kept as they are
			if !g.DType.Quantized() {
				name := g.Name
				if g, err = tensor.Cast(g, outType(g, dtype)); err != nil {
					return nil, err
				}
				g.Name = name
			}
			out = append(out, g)
		}
	}
	if len(stacks) > 0 {
		n, err := cfg.Int(a.ExpertCount...)
		if err != nil {
			return nil, err
		}
		for _, s := range stacks {
			if len(s.members) > int(n) {
				return nil, errorf("%s: %d experts, config.json says %d", s.name, len(s.members), n)
			}
			st, err := s.stack(int(n))
			if err != nil {
				return nil, err
			}
			if st, err = tensor.Cast(st, dtype); err != nil {
				return nil, err
			}
			st.Name = s.name
			out = append(out, st)
		}
	}
	if a.Extra != nil {
		extra, err := a.Extra(cfg)
		if err != nil {
			return nil, err
		}
		out = append(out, extra...)
	}
	m := &refit.Model{Tensors: out}
	if err := m.CheckNames(); err != nil {
		return nil, fmt.Errorf("arch: %s: %w", a.Name, err)
	}
	return out, nil
}

// f32Tensors are GGUF tensors kept in F32 whatever the output type, as llama.cpp's
// converter keeps them: ggml adds them to F32 activations or routes with them.
var f32Tensors = []string{"ffn_gate_inp", "ffn_gate_inp_shexp", "position_embd", "token_types"}

// outType is the type tensor g is written as when matrices are written as dtype:
// vectors, norms, biases and f32Tensors stay F32.
func outType(g *tensor.Tensor, dtype tensor.DType) tensor.DType {
	base, isWeight := strings.CutSuffix(g.Name, ".weight")
	if len(g.Shape) <= 1 || !isWeight || strings.HasSuffix(base, "_norm") {
		return tensor.F32
	}
	if i := strings.LastIndexByte(base, '.'); i >= 0 {
		base = base[i+1:]
	}
	if slices.Contains(f32Tensors, base) {
		return tensor.F32
	}
	return dtype
}

// openWeights opens the folder's safetensors (preferred) or PyTorch weights.
func openWeights(fsys fs.FS) (*refit.Model, error) {
	if safetensors.SniffFS(fsys) {
		return safetensors.DecodeFS(fsys, ".", &refit.DecodeOptions{})
	}
	files := weightFiles(fsys)
	if len(files) == 0 {
		return nil, errorf("no model.safetensors or pytorch_model.bin weights")
	}
	merged := &refit.Model{Format: "pytorch"}
	for _, name := range files {
		f, err := refit.OpenFS(fsys, name)
		if err != nil {
			merged.Close()
			return nil, err
		}
		m, err := pytorch.Decode(f, f.Size(), &refit.DecodeOptions{})
		if err != nil {
			f.Close()
			merged.Close()
			return nil, fmt.Errorf("arch: %s: %w", name, err)
		}
		merged.Tensors = append(merged.Tensors, m.Tensors...)
		merged.AddCloser(m)
		merged.AddCloser(f)
	}
	if err := merged.CheckNames(); err != nil {
		merged.Close()
		return nil, errors.Join(err, refit.ErrFormat)
	}
	return merged, nil
}

// IsTokenizerFolder reports whether fsys holds Hugging Face tokenizer files
// (tokenizer.json, tokenizer.model or vocab.txt) but no model (see IsHFFolder).
func IsTokenizerFolder(fsys fs.FS) bool {
	if IsHFFolder(fsys) {
		return false
	}
	for _, n := range []string{"tokenizer.json", "tokenizer.model", "vocab.txt"} {
		if _, err := fs.Stat(fsys, n); err == nil {
			return true
		}
	}
	return false
}

// ConvertTokenizer reads the tokenizer files of a folder (see tokenizer.Load) as a
// vocab-only GGUF model: general.architecture and general.name when the files
// record them (Refit's own exports do), and the tokenizer.* keys.
func ConvertTokenizer(fsys fs.FS, opts *ConvertOptions) (*refit.Model, error) {
	pre := ""
	if opts != nil {
		pre = opts.Pre
	}
	v, err := tokenizer.Load(fsys, &tokenizer.Options{Pre: pre})
	if err != nil {
		return nil, err
	}
	md := refit.Metadata{}
	if v.Arch == "" {
		// llama.cpp loads no GGUF without an architecture: the family the model type implies
		v.Arch = map[string]string{"llama": "llama", "gpt2": "gpt2", "bert": "bert", "t5": "t5", "gemma4": "gemma4"}[v.Model]
	}
	if v.Arch != "" {
		md.Set("general.architecture", v.Arch)
	}
	if v.Name != "" {
		md.Set("general.name", v.Name)
	}
	if opts != nil && opts.Name != "" {
		md.Set("general.name", opts.Name)
	}
	v.Metadata(&md)
	return &refit.Model{Format: ggufFormat, Metadata: md}, nil
}
