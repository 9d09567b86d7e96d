package plan

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/gguf"
	"github.com/refit-ml/refit/quant/ggml"
	"github.com/refit-ml/refit/tensor"
)

// ErrFallback is returned by Check when tensors need a fallback type and
// Options.AllowFallback is not set.
var ErrFallback = errors.New("plan: tensors need a fallback type (use --allow-fallback)")

// Override is one --tensor-type rule: tensors whose name matches Pattern get Type.
type Override struct {
	Pattern *regexp.Regexp
	Type    tensor.DType
}

// ParseOverride parses llama-quantize's "REGEX=TYPE" (e.g. "attn_v=Q6_K").
func ParseOverride(s string) (Override, error) {
	i := strings.LastIndexByte(s, '=')
	if i <= 0 || i == len(s)-1 {
		return Override{}, fmt.Errorf("plan: tensor type %q: want REGEX=TYPE", s)
	}
	re, err := regexp.Compile(s[:i])
	if err != nil {
		return Override{}, fmt.Errorf("plan: tensor type %q: %w", s, err)
	}
	d, err := tensor.ParseDType(s[i+1:])
	if err != nil {
		return Override{}, fmt.Errorf("plan: tensor type %q: %w", s, err)
	}
	if !d.Float() && !d.Quantized() {
		return Override{}, fmt.Errorf("plan: tensor type %q: %v is not a GGML weight type", s, d)
	}
	return Override{re, d}, nil
}

// Options configure New. The zero value is llama-quantize's default for the file type.
type Options struct {
	ggml.MixOptions                  // --pure, --output-tensor-type, --token-embedding-type, --leave-output-tensor, imatrix present
	Overrides       []Override       // --tensor-type, first match wins
	Keep            []*regexp.Regexp // tensors matching any are left as they are
	AllowFallback   bool             // accept fallback types instead of failing Check
	Requantize      bool             // allow quantizing already-quantized tensors (--allow-requantize)
	Info            ggml.ModelInfo   // model facts; read from GGUF metadata when Info.Layers == 0
	Threads         int              // goroutines quantizing one slab; 0 means GOMAXPROCS
}

// Entry is one tensor's line of the plan.
type Entry struct {
	Name     string       `json:"name"`
	Shape    tensor.Shape `json:"shape"`
	From     tensor.DType `json:"-"`
	To       tensor.DType `json:"-"`
	FromName string       `json:"from"`
	ToName   string       `json:"to"`
	Reason   string       `json:"why"`
	Fallback bool         `json:"fallback,omitempty"` // the wanted type did not fit the row length
	Wanted   string       `json:"wanted,omitempty"`   // the type before fallback
	Params   int64        `json:"params"`
	Bytes    int64        `json:"bytes"`     // after
	SrcBytes int64        `json:"src_bytes"` // before
}

// Changed reports whether the tensor is converted.
func (e *Entry) Changed() bool { return e.To != e.From }

// Plan is every tensor's fate and the resulting file's size.
type Plan struct {
	FileType      string  `json:"file_type"`
	Tensors       []Entry `json:"tensors"` // in output order
	Params        int64   `json:"params"`
	SourceBytes   int64   `json:"source_tensor_bytes"`
	TensorBytes   int64   `json:"tensor_bytes"`
	FileBytes     int64   `json:"file_bytes"`
	BitsPerWeight float64 `json:"bits_per_weight"`        // file bytes * 8 / params
	TensorBPW     float64 `json:"tensor_bits_per_weight"` // tensor bytes * 8 / params, as llama.cpp prints
	Fallbacks     int     `json:"fallbacks"`

	ft   ggml.FileType
	opts Options
}

// LlamaOrder returns tensor names sorted the way llama.cpp's model loader orders them
// (weight_name_comparer): by the block number parsed from a "blk.N." prefix (-1 for
// others), then by name.
func LlamaOrder(names []string) []string {
	out := slices.Clone(names)
	slices.SortStableFunc(out, func(a, b string) int {
		la, lb := blockOf(a), blockOf(b)
		if la != lb {
			if la < lb {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	return out
}

// blockOf mimics sscanf(name, "blk.%d.", &n) with n preset to -1.
func blockOf(name string) int64 {
	rest, ok := strings.CutPrefix(name, "blk.")
	if !ok {
		return -1
	}
	for len(rest) > 0 && (rest[0] == ' ' || rest[0] >= '\t' && rest[0] <= '\r') {
		rest = rest[1:]
	}
	end := 0
	if end < len(rest) && (rest[end] == '-' || rest[end] == '+') {
		end++
	}
	digits := end
	for end < len(rest) && rest[end] >= '0' && rest[end] <= '9' {
		end++
	}
	if end == digits {
		return -1
	}
	n, err := strconv.ParseInt(rest[:end], 10, 32)
	if err != nil {
		return -1 // out of int range: undefined in C; treat as no block
	}
	return n
}

// New plans quantizing m (GGUF names and metadata, e.g. from gguf.Decode or
// hf.ConvertHF) to the file type ft. It reads headers only.
func New(m *refit.Model, ft ggml.FileType, opts *Options) (*Plan, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	info := o.Info
	if info.Layers <= 0 {
		info = ggml.InfoFromMetadata(m.Metadata)
	}
	byName := make(map[string]*tensor.Tensor, len(m.Tensors))
	names := make([]string, len(m.Tensors))
	for i, t := range m.Tensors {
		if _, dup := byName[t.Name]; dup {
			return nil, fmt.Errorf("plan: duplicate tensor %q: %w", t.Name, refit.ErrFormat)
		}
		byName[t.Name] = t
		names[i] = t.Name
	}
	names = LlamaOrder(names)
	mix, err := ggml.NewMix(ft, info, names, &o.MixOptions)
	if err != nil {
		return nil, err
	}
	// A pure mix without type options answers "may this tensor be quantized at all"
	// (tensor_allows_quantization): it returns the current type only for kept tensors.
	pure, err := ggml.NewMix(ft, info, names, &ggml.MixOptions{Pure: true, KeepOutput: o.KeepOutput})
	if err != nil {
		return nil, err
	}
	def := ft.DefaultType()
	p := &Plan{FileType: ft.String(), ft: ft, opts: o}
	for _, name := range names {
		t := byName[name]
		e := Entry{Name: name, Shape: t.Shape, From: t.DType, Params: t.NumElements(), SrcBytes: t.Size()}
		if err := p.choose(&e, t, mix, pure, def); err != nil {
			return nil, err
		}
		if e.Bytes, err = tensor.ByteSize(e.To, e.Shape); err != nil {
			return nil, fmt.Errorf("plan: tensor %q as %v: %w", name, e.To, err)
		}
		e.FromName, e.ToName = e.From.String(), e.To.String()
		if e.Fallback {
			p.Fallbacks++
		}
		p.Params += e.Params
		p.SourceBytes += e.SrcBytes
		p.TensorBytes += e.Bytes
		p.Tensors = append(p.Tensors, e)
	}
	if p.FileBytes, err = fileSize(m, p); err != nil {
		return nil, err
	}
	if p.Params > 0 {
		p.BitsPerWeight = float64(p.FileBytes) * 8 / float64(p.Params)
		p.TensorBPW = float64(p.TensorBytes) * 8 / float64(p.Params)
	}
	return p, nil
}

func (p *Plan) choose(e *Entry, t *tensor.Tensor, mix, pure *ggml.Mix, def tensor.DType) error {
	o := &p.opts
	cols := int64(1)
	if len(t.Shape) > 0 {
		cols = t.Shape[len(t.Shape)-1]
	}
	for _, re := range o.Keep {
		if re.MatchString(e.Name) {
			// Advance the mix's per-layer counters as llama.cpp would have.
			if _, _, err := mix.TypeFor(e.Name, t.Shape, t.DType); err != nil {
				return err
			}
			e.To, e.Reason = t.DType, "kept: matches --keep "+re.String()
			return nil
		}
	}
	allowed, _, err := pure.TypeFor(e.Name, t.Shape, tensor.Invalid)
	if err != nil {
		return err
	}
	tokenEmbd := e.Name == "token_embd.weight" || e.Name == "per_layer_token_embd.weight"
	optioned := o.TokenEmbeddingType.Valid() && tokenEmbd || o.OutputType.Valid() && e.Name == "output.weight"
	if allowed != tensor.Invalid && !optioned && def.Quantized() {
		for _, ov := range o.Overrides {
			if !ov.Pattern.MatchString(e.Name) {
				continue
			}
			e.To, e.Reason = ov.Type, "--tensor-type "+ov.Pattern.String()+"="+ov.Type.String()
			if ov.Type.Quantized() && cols%int64(ov.Type.BlockSize()) != 0 {
				fb, err := ggml.FallbackType(ov.Type, cols)
				if err != nil {
					return fmt.Errorf("plan: tensor %q: %w", e.Name, err)
				}
				e.Fallback, e.Wanted, e.To = true, ov.Type.String(), fb
				e.Reason += fmt.Sprintf("; %d columns not a whole number of %v blocks, fell back to %v", cols, ov.Type, fb)
			}
			return nil
		}
	}
	// The type the rules want, asked of a copy of the mix (so its counters advance
	// once) with a row length every block size divides: differs from the real answer
	// only where the row length forced a fallback.
	probe := *mix
	wide := slices.Clone(t.Shape)
	if len(wide) > 0 {
		wide[len(wide)-1] = cols * 256
	}
	wanted, _, err := probe.TypeFor(e.Name, wide, t.DType)
	if err != nil {
		return err
	}
	got, why, err := mix.TypeFor(e.Name, t.Shape, t.DType)
	if err != nil {
		return err
	}
	e.To, e.Reason = got, why
	if wanted != got && wanted.Quantized() && cols%int64(wanted.BlockSize()) != 0 {
		e.Fallback, e.Wanted = true, wanted.String()
	}
	return nil
}

// fileSize is the exact size gguf.Encode writes for the planned model, computed by
// gguf.EncodedSize from the output's layout: tensors of the planned types whose data
// is never read.
func fileSize(m *refit.Model, p *Plan) (int64, error) {
	if _, err := alignment(m.Metadata); err != nil {
		return 0, err
	}
	planned := make([]*tensor.Tensor, len(p.Tensors))
	for i, e := range p.Tensors {
		var err error
		planned[i], err = tensor.New(e.Name, e.To, ggmlShape(e.Shape), tensor.NewLazy(e.Bytes, func() ([]byte, error) {
			return nil, errors.New("plan: a planned tensor has no data")
		}))
		if err != nil {
			return 0, err
		}
	}
	return gguf.EncodedSize(&refit.Model{Metadata: outputMetadata(m.Metadata, p.ft), Tensors: planned}, nil)
}

func alignment(md refit.Metadata) (int64, error) {
	v, ok := md.Get(gguf.AlignmentKey)
	if !ok {
		return gguf.DefaultAlignment, nil
	}
	a, ok := v.(uint32)
	if !ok || a == 0 || a&(a-1) != 0 {
		return 0, fmt.Errorf("plan: %s = %v is not a power-of-two uint32: %w", gguf.AlignmentKey, v, refit.ErrFormat)
	}
	return int64(a), nil
}

// Check reports problems that stop Apply: fallbacks without AllowFallback
// (ErrFallback, listing them), types this build cannot produce, very low-bit types
// planned without an importance matrix (ggml.ErrNeedsImatrix, as llama-quantize refuses
// them), and already quantized tensors without Requantize.
func (p *Plan) Check() error {
	var fb, unsup, requant, needIm []string
	for _, e := range p.Tensors {
		if !e.Changed() {
			continue
		}
		if e.Fallback {
			fb = append(fb, fmt.Sprintf("%s (%v -> %v)", e.Name, e.Wanted, e.To))
		}
		if e.To.Quantized() && !ggml.Supported(e.To) {
			unsup = append(unsup, fmt.Sprintf("%s (%v)", e.Name, e.To))
		}
		if e.To.Quantized() && !p.opts.MixOptions.Imatrix && ggml.TensorNeedsImatrix(e.Name, e.To, p.ft) {
			needIm = append(needIm, fmt.Sprintf("%s (%v)", e.Name, e.To))
		}
		if e.From.Quantized() && !p.opts.Requantize {
			requant = append(requant, fmt.Sprintf("%s (%v)", e.Name, e.From))
		}
	}
	var errs []error
	if len(fb) > 0 && !p.opts.AllowFallback {
		errs = append(errs, fmt.Errorf("%w: %s", ErrFallback, strings.Join(fb, ", ")))
	}
	if len(unsup) > 0 {
		errs = append(errs, fmt.Errorf("plan: types not implemented: %s: %w", strings.Join(unsup, ", "), refit.ErrUnsupported))
	}
	if len(needIm) > 0 {
		errs = append(errs, fmt.Errorf("plan: %s: %w", strings.Join(needIm, ", "), ggml.ErrNeedsImatrix))
	}
	if len(requant) > 0 {
		errs = append(errs, fmt.Errorf("plan: requantizing already quantized tensors needs Requantize: %s: %w", strings.Join(requant, ", "), refit.ErrUnsupported))
	}
	return errors.Join(errs...)
}

// outputMetadata is llama.cpp's: the input's keys without split keys, then
// general.quantization_version and general.file_type, in that order, last.
func outputMetadata(in refit.Metadata, ft ggml.FileType) refit.Metadata {
	md := in.Clone()
	for _, k := range []string{"general.quantization_version", "general.file_type", "split.no", "split.count", "split.tensors.count"} {
		md.Delete(k)
	}
	md.Set("general.quantization_version", uint32(2))
	md.Set("general.file_type", uint32(ft))
	return md
}
