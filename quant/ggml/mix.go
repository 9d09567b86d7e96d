package ggml

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/refit-ml/refit/tensor"
)

// FileType is llama.cpp's llama_ftype: a named mix of per-tensor types such as Q4_K_M.
type FileType int

// File types, with llama.h's values (stored as general.file_type in GGUF files).
const (
	FileF32     FileType = 0
	FileF16     FileType = 1
	FileQ4_0    FileType = 2
	FileQ4_1    FileType = 3
	FileQ8_0    FileType = 7
	FileQ5_0    FileType = 8
	FileQ5_1    FileType = 9
	FileQ2_K    FileType = 10
	FileQ3_K_S  FileType = 11
	FileQ3_K_M  FileType = 12
	FileQ3_K_L  FileType = 13
	FileQ4_K_S  FileType = 14
	FileQ4_K_M  FileType = 15
	FileQ5_K_S  FileType = 16
	FileQ5_K_M  FileType = 17
	FileQ6_K    FileType = 18
	FileIQ2_XXS FileType = 19
	FileIQ2_XS  FileType = 20
	FileQ2_K_S  FileType = 21
	FileIQ3_XS  FileType = 22
	FileIQ3_XXS FileType = 23
	FileIQ1_S   FileType = 24
	FileIQ4_NL  FileType = 25
	FileIQ3_S   FileType = 26
	FileIQ3_M   FileType = 27
	FileIQ2_S   FileType = 28
	FileIQ2_M   FileType = 29
	FileIQ4_XS  FileType = 30
	FileIQ1_M   FileType = 31
	FileBF16    FileType = 32
	FileTQ1_0   FileType = 36
	FileTQ2_0   FileType = 37
	FileMXFP4   FileType = 38 // LLAMA_FTYPE_MOSTLY_MXFP4_MOE
)

var fileTypes = []struct {
	ft   FileType
	name string
	def  tensor.DType
}{
	{FileF32, "F32", tensor.F32}, {FileF16, "F16", tensor.F16}, {FileBF16, "BF16", tensor.BF16},
	{FileQ4_0, "Q4_0", tensor.Q4_0}, {FileQ4_1, "Q4_1", tensor.Q4_1}, {FileQ5_0, "Q5_0", tensor.Q5_0},
	{FileQ5_1, "Q5_1", tensor.Q5_1}, {FileQ8_0, "Q8_0", tensor.Q8_0},
	{FileQ2_K, "Q2_K", tensor.Q2_K}, {FileQ2_K_S, "Q2_K_S", tensor.Q2_K},
	{FileQ3_K_S, "Q3_K_S", tensor.Q3_K}, {FileQ3_K_M, "Q3_K_M", tensor.Q3_K}, {FileQ3_K_L, "Q3_K_L", tensor.Q3_K},
	{FileQ4_K_S, "Q4_K_S", tensor.Q4_K}, {FileQ4_K_M, "Q4_K_M", tensor.Q4_K},
	{FileQ5_K_S, "Q5_K_S", tensor.Q5_K}, {FileQ5_K_M, "Q5_K_M", tensor.Q5_K}, {FileQ6_K, "Q6_K", tensor.Q6_K},
	{FileIQ2_XXS, "IQ2_XXS", tensor.IQ2_XXS}, {FileIQ2_XS, "IQ2_XS", tensor.IQ2_XS},
	{FileIQ2_S, "IQ2_S", tensor.IQ2_XS}, {FileIQ2_M, "IQ2_M", tensor.IQ2_S},
	{FileIQ3_XS, "IQ3_XS", tensor.IQ3_S}, {FileIQ3_XXS, "IQ3_XXS", tensor.IQ3_XXS},
	{FileIQ3_S, "IQ3_S", tensor.IQ3_S}, {FileIQ3_M, "IQ3_M", tensor.IQ3_S},
	{FileIQ1_S, "IQ1_S", tensor.IQ1_S}, {FileIQ1_M, "IQ1_M", tensor.IQ1_M},
	{FileIQ4_NL, "IQ4_NL", tensor.IQ4_NL}, {FileIQ4_XS, "IQ4_XS", tensor.IQ4_XS},
	{FileTQ1_0, "TQ1_0", tensor.TQ1_0}, {FileTQ2_0, "TQ2_0", tensor.TQ2_0},
	{FileMXFP4, "MXFP4_MOE", tensor.MXFP4},
}

func (f FileType) String() string {
	for _, e := range fileTypes {
		if e.ft == f {
			return e.name
		}
	}
	return fmt.Sprintf("FileType(%d)", int(f))
}

// DefaultType is the type most tensors of the mix get (llama_ftype_get_default_type),
// or tensor.Invalid for an unknown file type.
func (f FileType) DefaultType() tensor.DType {
	for _, e := range fileTypes {
		if e.ft == f {
			return e.def
		}
	}
	return tensor.Invalid
}

// ParseFileType parses a llama-quantize type name such as "Q4_K_M" or "q8_0".
func ParseFileType(s string) (FileType, error) {
	u := strings.ToUpper(s)
	for _, e := range fileTypes {
		if e.name == u || (e.ft == FileMXFP4 && u == "MXFP4") {
			return e.ft, nil
		}
	}
	return 0, fmt.Errorf("ggml: unknown file type %q", s)
}

func (f FileType) in(set ...FileType) bool {
	for _, s := range set {
		if f == s {
			return true
		}
	}
	return false
}

// ModelInfo is what the mix rules need to know about the model as a whole.
type ModelInfo struct {
	Arch    string // general.architecture; "falcon" and "bailingmoe3" have rules of their own
	Layers  int    // block count
	Experts int    // experts per MoE layer; 0 or 1 for a dense model
	GQA     int    // attention heads per KV head (n_head / n_head_kv)
	Is70B   bool   // llama.cpp's 70B size class, which gets a larger attn_v
}

// MixOptions are llama-quantize's options that change the mix. The zero value is the default.
type MixOptions struct {
	Imatrix            bool         // an importance matrix will be used
	Pure               bool         // every quantizable tensor gets the default type (--pure)
	OutputType         tensor.DType // output.weight's type if valid (--output-tensor-type)
	TokenEmbeddingType tensor.DType // token_embd.weight's type if valid (--token-embedding-type)
	KeepOutput         bool         // leave output.weight as it is (--leave-output-tensor)
}

// Mix chooses each tensor's type for a file type the way llama.cpp's llama-quantize does
// (llama_tensor_get_type). The rules count tensors of each kind, so TypeFor must be called
// once per tensor, in the model's tensor order.
type Mix struct {
	ft    FileType
	model ModelInfo
	opts  MixOptions
	def   tensor.DType

	tied                               bool
	nAttnV, iAttnV                     int
	iFFNDown, iFFNGate, iFFNUp, nLayer int
}

// NewMix returns the mix of ft for a model whose tensors are named names (in order).
func NewMix(ft FileType, model ModelInfo, names []string, opts *MixOptions) (*Mix, error) {
	def := ft.DefaultType()
	if def == tensor.Invalid {
		return nil, fmt.Errorf("ggml: %v: %w", ft, tensor.ErrUnsupported)
	}
	m := &Mix{ft: ft, model: model, def: def, tied: true, nLayer: model.Layers}
	if opts != nil {
		m.opts = *opts
	}
	for _, n := range names {
		c := categoryOf(n)
		if c.attnVLike() {
			m.nAttnV++
		}
		if c == catOutput {
			m.tied = false
		}
	}
	return m, nil
}

type category int

const (
	catOther category = iota
	catTokenEmbd
	catAttnQ
	catAttnV
	catAttnK
	catAttnQKV
	catAttnKVB
	catAttnOutput
	catFFNUp
	catFFNGate
	catFFNDown
	catOutput
)

func (c category) attnVLike() bool { return c == catAttnV || c == catAttnQKV || c == catAttnKVB }

// categoryOf is tensor_get_category: first match wins.
func categoryOf(name string) category {
	switch {
	case name == "output.weight":
		return catOutput
	case name == "token_embd.weight" || name == "per_layer_token_embd.weight":
		return catTokenEmbd
	}
	for _, r := range []struct {
		sub string
		c   category
	}{
		{"attn_qkv.weight", catAttnQKV}, {"attn_kv_b.weight", catAttnKVB}, {"attn_v.weight", catAttnV},
		{"attn_k.weight", catAttnK}, {"attn_q.weight", catAttnQ}, {"attn_output.weight", catAttnOutput},
		{"ffn_up", catFFNUp}, {"ffn_gate", catFFNGate}, {"ffn_down", catFFNDown},
	} {
		if strings.Contains(name, r.sub) {
			return r.c
		}
	}
	return catOther
}

// ggmlDims is ggml_n_dims of a row-major shape: the rank without leading (outer) ones.
func ggmlDims(s tensor.Shape) int {
	for i, d := range s {
		if d != 1 {
			return len(s) - i
		}
	}
	return 1
}

// keptNames are substrings of tensors llama-quantize never quantizes.
var keptNames = []string{
	"_norm.weight", "ffn_gate_inp.weight", "ffn_gate_tid2eid.weight", "altup", "laurel",
	"per_layer_model_proj", "ssm_conv1d", "shortconv.conv.weight", "indexer.k_proj.weight",
	"indexer.q_proj.weight", "time_mix_first.weight", "time_mix_w0.weight", "time_mix_w1.weight",
	"time_mix_w2.weight", "time_mix_v0.weight", "time_mix_v1.weight", "time_mix_v2.weight",
	"time_mix_a0.weight", "time_mix_a1.weight", "time_mix_a2.weight", "time_mix_g1.weight",
	"time_mix_g2.weight", "time_mix_decay_w1.weight", "time_mix_decay_w2.weight",
	"time_mix_lerp_fused.weight", "attn_rel_b.weight", ".position_embd", "sam.pos_embd",
	"sam.neck.", "sam.net_", ".rel_pos", ".patch_embd", ".patch_merger", "a.rvq.codebook",
	"mm.a.code_embd",
}

// keepReason is tensor_allows_quantization negated: why a tensor keeps its type, or "".
func (m *Mix) keepReason(name string, shape tensor.Shape) string {
	if ggmlDims(shape) < 2 {
		return "not quantized: fewer than 2 dimensions"
	}
	if !strings.HasSuffix(name, "weight") {
		return "not quantized: not a weight"
	}
	if m.opts.KeepOutput && name == "output.weight" {
		return "not quantized: output tensor left as is"
	}
	if name == "position_embd.weight" || name == "token_types.weight" {
		return "not quantized: positional or token-type embedding"
	}
	for _, k := range keptNames {
		if strings.Contains(name, k) {
			return "not quantized: " + k + " tensors stay as they are"
		}
	}
	return ""
}

// TypeFor returns the type llama-quantize gives the tensor name of the given shape
// (row-major; the last dimension is the row) whose current type is current, and a short
// reason naming the rule that chose it.
func (m *Mix) TypeFor(name string, shape tensor.Shape, current tensor.DType) (tensor.DType, string, error) {
	if r := m.keepReason(name, shape); r != "" {
		return current, r, nil
	}
	c := categoryOf(name)
	if m.opts.TokenEmbeddingType.Valid() && c == catTokenEmbd {
		return m.opts.TokenEmbeddingType, "token embedding type option", nil
	}
	if m.opts.OutputType.Valid() && c == catOutput {
		return m.opts.OutputType, "output tensor type option", nil
	}
	t, reason := m.def, "file type default"
	if !t.Quantized() {
		return t, reason, nil
	}
	if !m.opts.Pure {
		var err error
		if t, reason, err = m.rules(t, name, shape, c); err != nil {
			return tensor.Invalid, "", err
		}
	}
	return m.fallback(t, reason, shape)
}

// fallback applies FallbackType to the row length of shape.
func (m *Mix) fallback(t tensor.DType, reason string, shape tensor.Shape) (tensor.DType, string, error) {
	ncols := int64(1)
	if len(shape) > 0 {
		ncols = shape[len(shape)-1]
	}
	r, err := FallbackType(t, ncols)
	if err != nil || r == t {
		return r, reason, err
	}
	return r, fmt.Sprintf("%s; %d columns not divisible by %v's block of %d, fell back to %v", reason, ncols, t, t.BlockSize(), r), nil
}

// FallbackType is llama.cpp's tensor_type_fallback: a type whose block does not
// divide the row length of cols elements is replaced by a compatible one, or by F16.
// It returns t when its block divides cols.
func FallbackType(t tensor.DType, cols int64) (tensor.DType, error) {
	bs := int64(t.BlockSize())
	if cols%bs == 0 {
		return t, nil
	}
	r := t
	switch t {
	case tensor.IQ1_S, tensor.IQ1_M, tensor.IQ2_XXS, tensor.IQ2_XS, tensor.IQ2_S, tensor.IQ3_XXS, tensor.IQ3_S, tensor.IQ4_XS:
		r = tensor.IQ4_NL
	case tensor.Q2_K, tensor.Q3_K, tensor.TQ1_0, tensor.TQ2_0:
		r = tensor.Q4_0
	case tensor.Q4_K:
		r = tensor.Q5_0
	case tensor.Q5_K:
		r = tensor.Q5_1
	case tensor.Q6_K:
		r = tensor.Q8_0
	default:
		if bs > 32 {
			return tensor.Invalid, fmt.Errorf("ggml: no fallback type for %v with %d columns", t, cols)
		}
	}
	if cols%int64(r.BlockSize()) != 0 {
		r = tensor.F16
	}
	return r, nil
}

func (m *Mix) useMoreBits(i, n int) bool { return i < n/8 || i >= 7*n/8 || (i-n/8)%3 == 2 }

// layerInfo is llama.cpp's layer_info: the running count for dense models, the block
// number in the name for MoE models (whose expert tensors are not in layer order).
func (m *Mix) layerInfo(counter int, name string) (int, int, error) {
	if m.model.Experts <= 1 {
		return counter, m.nLayer, nil
	}
	rest, ok := strings.CutPrefix(name, "blk.")
	end := 0
	for end < len(rest) && (rest[end] >= '0' && rest[end] <= '9' || end == 0 && (rest[0] == '-' || rest[0] == '+')) {
		end++
	}
	i, err := strconv.Atoi(rest[:end])
	if !ok || err != nil {
		return 0, 0, fmt.Errorf("ggml: cannot determine the layer of tensor %q", name)
	}
	if i < 0 || i >= m.nLayer {
		return 0, 0, fmt.Errorf("ggml: layer %d of tensor %q is outside [0, %d)", i, name, m.nLayer)
	}
	return i, m.nLayer, nil
}

// rules is llama_tensor_get_type_impl.
func (m *Mix) rules(t tensor.DType, name string, shape tensor.Shape, c category) (tensor.DType, string, error) {
	ft, arch, gqa, nExpert := m.ft, m.model.Arch, m.model.GQA, m.model.Experts
	falcon := arch == "falcon"
	iq2Family := ft.in(FileIQ2_XXS, FileIQ2_XS, FileIQ1_S, FileIQ2_S, FileIQ2_M, FileIQ1_M)
	reason := "file type default"
	set := func(d tensor.DType, why string) { t, reason = d, why }
	ncols := shape[len(shape)-1]

	switch {
	case c == catOutput || (m.tied && c == catTokenEmbd):
		switch {
		case m.opts.OutputType.Valid():
			set(m.opts.OutputType, "output tensor type option")
		case ft == FileMXFP4:
			set(tensor.Q8_0, "output/tied embedding of MXFP4_MOE: Q8_0")
		case falcon || ncols%int64(t.BlockSize()) != 0:
			set(tensor.Q8_0, "output/tied embedding: falcon or row not a whole block: Q8_0")
		case ft.in(FileIQ2_XXS, FileIQ2_XS, FileIQ3_XXS, FileIQ1_S, FileIQ2_S, FileIQ2_M, FileIQ1_M):
			set(tensor.Q5_K, "output/tied embedding of an IQ1-IQ3 mix: Q5_K")
		case t != tensor.Q8_0:
			set(tensor.Q6_K, "output/tied embedding: Q6_K")
		}
	case ft == FileMXFP4:
		expert := !strings.EqualFold(arch, "bailingmoe3") || c == catFFNUp || c == catFFNGate || c == catFFNDown
		if len(shape) >= 3 && shape[len(shape)-3] > 1 && expert {
			set(tensor.MXFP4, "MoE expert tensor: MXFP4")
		} else {
			set(tensor.Q8_0, "non-expert tensor of MXFP4_MOE: Q8_0")
		}
	case c == catTokenEmbd:
		switch {
		case m.opts.TokenEmbeddingType.Valid():
			set(m.opts.TokenEmbeddingType, "token embedding type option")
		case ft.in(FileIQ2_XXS, FileIQ2_XS, FileIQ1_S, FileIQ1_M):
			set(tensor.Q2_K, "token embedding of an IQ1/IQ2 mix: Q2_K")
		case ft.in(FileIQ2_S, FileIQ2_M, FileIQ3_XXS):
			set(tensor.IQ3_S, "token embedding: IQ3_S")
		case ft.in(FileTQ1_0, FileTQ2_0):
			set(tensor.Q4_K, "token embedding of a ternary mix: Q4_K")
		}
	case iq2Family:
		iq2sm := ft.in(FileIQ2_S, FileIQ2_M)
		switch {
		case c.attnVLike():
			if gqa >= 4 || nExpert >= 4 {
				set(tensor.Q4_K, "attn_v with GQA >= 4 or >= 4 experts: Q4_K")
			} else if iq2sm {
				set(tensor.IQ3_S, "attn_v: IQ3_S")
			} else {
				set(tensor.Q2_K, "attn_v: Q2_K")
			}
			m.iAttnV++
		case nExpert == 8 && c == catAttnK:
			set(tensor.Q4_K, "attn_k of an 8-expert model: Q4_K")
		case c == catFFNDown:
			if m.iFFNDown < m.nLayer/8 {
				if iq2sm {
					set(tensor.IQ3_S, "ffn_down in the first eighth of layers: IQ3_S")
				} else {
					set(tensor.Q2_K, "ffn_down in the first eighth of layers: Q2_K")
				}
			}
			m.iFFNDown++
		case c == catAttnOutput:
			switch {
			case nExpert == 8:
				set(tensor.Q5_K, "attn_output of an 8-expert model: Q5_K")
			case ft.in(FileIQ1_S, FileIQ1_M):
				set(tensor.IQ2_XXS, "attn_output: IQ2_XXS")
			case iq2sm:
				set(tensor.IQ3_S, "attn_output: IQ3_S")
			}
		}
	case c.attnVLike():
		switch {
		case ft == FileQ2_K:
			if gqa >= 4 {
				set(tensor.Q4_K, "attn_v with GQA >= 4: Q4_K")
			} else {
				set(tensor.Q3_K, "attn_v: Q3_K")
			}
		case ft == FileQ2_K_S && gqa >= 4:
			set(tensor.Q4_K, "attn_v with GQA >= 4: Q4_K")
		case ft == FileIQ3_XXS:
			switch {
			case gqa >= 4:
				set(tensor.Q4_K, "attn_v with GQA >= 4: Q4_K")
			case !m.opts.Imatrix:
				set(tensor.IQ3_S, "attn_v without an importance matrix: IQ3_S")
			default:
				set(tensor.IQ3_XXS, "attn_v: IQ3_XXS")
			}
		case ft.in(FileIQ3_XS, FileIQ3_S) && gqa >= 4:
			set(tensor.Q4_K, "attn_v with GQA >= 4: Q4_K")
		case ft == FileIQ3_M:
			set(tensor.Q4_K, "attn_v: Q4_K")
		case ft == FileQ3_K_M:
			if m.iAttnV < 2 {
				set(tensor.Q5_K, "attn_v of the first two layers: Q5_K")
			} else {
				set(tensor.Q4_K, "attn_v: Q4_K")
			}
		case ft == FileQ3_K_L:
			set(tensor.Q5_K, "attn_v: Q5_K")
		case ft.in(FileIQ4_NL, FileIQ4_XS) && gqa >= 4:
			set(tensor.Q5_K, "attn_v with GQA >= 4: Q5_K")
		case ft.in(FileQ4_K_M, FileQ5_K_M) && m.useMoreBits(m.iAttnV, m.nAttnV):
			set(tensor.Q6_K, "attn_v in a use-more-bits layer: Q6_K")
		case ft == FileQ4_K_S && m.iAttnV < 4:
			set(tensor.Q5_K, "attn_v of the first four layers: Q5_K")
		}
		if m.model.Is70B && (t == tensor.Q3_K || t == tensor.Q4_K) {
			set(tensor.Q5_K, "attn_v of a 70B model: Q5_K")
		}
		if nExpert == 8 {
			set(tensor.Q8_0, "attn_v of an 8-expert model: Q8_0")
		}
		m.iAttnV++
	case c == catAttnK:
		switch {
		case nExpert == 8:
			set(tensor.Q8_0, "attn_k of an 8-expert model: Q8_0")
		case ft == FileIQ3_XS:
			set(tensor.IQ3_XXS, "attn_k: IQ3_XXS")
		case ft == FileIQ3_XXS:
			set(tensor.IQ2_S, "attn_k: IQ2_S")
		}
	case c == catAttnQ:
		switch ft {
		case FileIQ3_XS:
			set(tensor.IQ3_XXS, "attn_q: IQ3_XXS")
		case FileIQ3_XXS:
			set(tensor.IQ2_S, "attn_q: IQ2_S")
		}
	case c == catFFNDown:
		i, n, err := m.layerInfo(m.iFFNDown, name)
		if err != nil {
			return tensor.Invalid, "", err
		}
		switch {
		case ft == FileQ2_K:
			set(tensor.Q3_K, "ffn_down: Q3_K")
		case ft == FileQ2_K_S:
			if i < n/8 {
				set(tensor.Q4_K, "ffn_down in the first eighth of layers: Q4_K")
			}
		case ft == FileIQ3_XXS && !m.opts.Imatrix:
			if i < n/8 {
				set(tensor.Q4_K, "ffn_down in the first eighth of layers: Q4_K")
			} else {
				set(tensor.Q3_K, "ffn_down without an importance matrix: Q3_K")
			}
		case ft == FileQ3_K_M:
			switch {
			case i < n/16:
				set(tensor.Q5_K, "ffn_down in the first sixteenth of layers: Q5_K")
			case !falcon || m.useMoreBits(i, n):
				set(tensor.Q4_K, "ffn_down: Q4_K")
			default:
				set(tensor.Q3_K, "ffn_down of falcon: Q3_K")
			}
		case ft == FileIQ3_M && (i < n/8 || nExpert == 8 && m.useMoreBits(i, n)):
			set(tensor.Q4_K, "ffn_down in an early or use-more-bits layer: Q4_K")
		case ft == FileQ3_K_L:
			if falcon {
				set(tensor.Q4_K, "ffn_down of falcon: Q4_K")
			} else {
				set(tensor.Q5_K, "ffn_down: Q5_K")
			}
		case ft == FileQ4_K_M:
			if falcon {
				switch {
				case i < n/16:
					set(tensor.Q6_K, "ffn_down of falcon, first sixteenth of layers: Q6_K")
				case m.useMoreBits(i, n):
					set(tensor.Q5_K, "ffn_down of falcon, use-more-bits layer: Q5_K")
				default:
					set(tensor.Q4_K, "ffn_down of falcon: Q4_K")
				}
			} else if m.useMoreBits(i, n) {
				set(tensor.Q6_K, "ffn_down in a use-more-bits layer: Q6_K")
			}
		case i < n/8 && ft.in(FileIQ4_NL, FileIQ4_XS) && !m.opts.Imatrix:
			set(tensor.Q5_K, "ffn_down in the first eighth of layers without an importance matrix: Q5_K")
		case ft == FileQ5_K_M && m.useMoreBits(i, n):
			set(tensor.Q6_K, "ffn_down in a use-more-bits layer: Q6_K")
		case ft == FileQ4_K_S && !falcon && i < n/8:
			set(tensor.Q5_K, "ffn_down in the first eighth of layers: Q5_K")
		case ft.in(FileQ4_0, FileQ5_0) && m.opts.Imatrix && i < n/8:
			if ft == FileQ4_0 {
				set(tensor.Q4_1, "ffn_down in the first eighth of layers with an importance matrix: Q4_1")
			} else {
				set(tensor.Q5_1, "ffn_down in the first eighth of layers with an importance matrix: Q5_1")
			}
		}
		m.iFFNDown++
	case c == catAttnOutput:
		if !falcon {
			if nExpert == 8 {
				if ft.in(FileQ2_K, FileIQ3_XS, FileIQ3_XXS, FileQ3_K_S, FileQ3_K_M, FileIQ4_NL,
					FileQ4_K_S, FileQ4_K_M, FileIQ3_S, FileIQ3_M, FileIQ4_XS) {
					set(tensor.Q5_K, "attn_output of an 8-expert model: Q5_K")
				}
			} else {
				switch ft {
				case FileQ2_K:
					set(tensor.Q3_K, "attn_output: Q3_K")
				case FileIQ3_XXS:
					set(tensor.IQ3_S, "attn_output: IQ3_S")
				case FileQ3_K_M, FileIQ3_M:
					set(tensor.Q4_K, "attn_output: Q4_K")
				case FileQ3_K_L:
					set(tensor.Q5_K, "attn_output: Q5_K")
				}
			}
		} else if ft == FileQ3_K_L {
			set(tensor.Q4_K, "attn_output of falcon: Q4_K")
		}
	case c == catAttnQKV:
		switch ft {
		case FileQ3_K_M, FileQ3_K_L, FileIQ3_M:
			set(tensor.Q4_K, "attn_qkv: Q4_K")
		case FileQ4_K_M:
			set(tensor.Q5_K, "attn_qkv: Q5_K")
		case FileQ5_K_M:
			set(tensor.Q6_K, "attn_qkv: Q6_K")
		}
	case c == catFFNGate || c == catFFNUp:
		counter := &m.iFFNGate
		if c == catFFNUp {
			counter = &m.iFFNUp
		}
		i, n, err := m.layerInfo(*counter, name)
		if err != nil {
			return tensor.Invalid, "", err
		}
		if ft == FileIQ3_XS && i >= n/8 && i < 7*n/8 {
			set(tensor.IQ3_XXS, "ffn_gate/ffn_up in a middle layer: IQ3_XXS")
		}
		*counter++
	}
	return t, reason, nil
}
