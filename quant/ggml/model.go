package ggml

import (
	"errors"
	"fmt"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/tensor"
)

// ModelOptions configure QuantizeModel. The zero value (or nil) means llama-quantize's
// defaults without an importance matrix.
type ModelOptions struct {
	MixOptions
	// Imatrix maps tensor names to importance weights (one per column, or one vector per
	// expert for stacked expert tensors), as in llama.cpp's imatrix files. A non-empty
	// map sets MixOptions.Imatrix.
	Imatrix map[string][]float32
	// Info overrides what is read from GGUF metadata (general.architecture,
	// ARCH.block_count, ARCH.expert_count, ARCH.attention.head_count[_kv]) when Layers > 0.
	Info ModelInfo
	// Threads caps the goroutines quantizing one tensor; 0 means GOMAXPROCS.
	Threads int
}

// QuantizeModel returns m with every tensor converted to the type the file type's mix
// gives it, lazily; tensors that keep their type are shared. It sets general.file_type.
// It fails with ErrUnsupported if the mix needs a type this package cannot produce
// (the IQ1-IQ3 families). m is not modified.
func QuantizeModel(m *refit.Model, ft FileType, opts *ModelOptions) (*refit.Model, error) {
	var o ModelOptions
	if opts != nil {
		o = *opts
	}
	if len(o.Imatrix) > 0 {
		o.MixOptions.Imatrix = true
	}
	info := o.Info
	if info.Layers <= 0 {
		info = InfoFromMetadata(m.Metadata)
	}
	names := make([]string, len(m.Tensors))
	for i, t := range m.Tensors {
		names[i] = t.Name
	}
	mix, err := NewMix(ft, info, names, &o.MixOptions)
	if err != nil {
		return nil, err
	}
	out := make([]*tensor.Tensor, len(m.Tensors))
	for i, t := range m.Tensors {
		d, why, err := mix.TypeFor(t.Name, t.Shape, t.DType)
		if err != nil {
			return nil, err
		}
		switch {
		case d == t.DType || !t.DType.Float():
			out[i] = t
		case !d.Quantized():
			if out[i], err = tensor.Cast(t, d); err != nil {
				return nil, fmt.Errorf("ggml: %s: %w", t.Name, err)
			}
		default:
			if !Supported(d) {
				return nil, fmt.Errorf("ggml: %s needs %v (%s): %w", t.Name, d, why, tensor.ErrUnsupported)
			}
			if o.Imatrix[t.Name] == nil && TensorNeedsImatrix(t.Name, d, ft) {
				return nil, fmt.Errorf("ggml: %s as %v (%s): %w", t.Name, d, why, ErrNeedsImatrix)
			}
			if out[i], err = Quantize(t, d, o.Imatrix[t.Name], o.Threads); err != nil {
				return nil, err
			}
		}
	}
	q := m.Derive(out)
	q.Metadata.Set("general.file_type", uint32(ft))
	q.Metadata.Set("general.quantization_version", uint32(2))
	return q, nil
}

// InfoFromMetadata reads the model facts a mix needs from GGUF metadata keys.
func InfoFromMetadata(md refit.Metadata) ModelInfo {
	arch := md.String("general.architecture")
	num := func(key string) int {
		v, ok := md.Get(arch + "." + key)
		if !ok {
			return 0
		}
		if a, ok := v.([]any); ok { // per-layer arrays: the first layer, as llama.cpp's n_gqa(0)
			if len(a) == 0 {
				return 0
			}
			v = a[0]
		}
		switch x := v.(type) {
		case uint8:
			return int(x)
		case int8:
			return int(x)
		case uint16:
			return int(x)
		case int16:
			return int(x)
		case uint32:
			return int(x)
		case int32:
			return int(x)
		case uint64:
			return int(min(x, 1<<31))
		case int64:
			return int(max(min(x, 1<<31), -1<<31))
		}
		return 0
	}
	info := ModelInfo{Arch: arch, Layers: num("block_count"), Experts: num("expert_count")}
	heads, kv := num("attention.head_count"), num("attention.head_count_kv")
	if kv == 0 {
		kv = heads
	}
	if kv > 0 {
		info.GQA = heads / kv
	}
	info.Is70B = arch == "llama" && info.Layers == 80 && heads != kv
	return info
}

// ErrNeedsImatrix reports a very low-bit quantization asked for without the importance
// matrix it needs: llama.cpp refuses these, since the result would be garbage.
var ErrNeedsImatrix = errors.New("ggml: this quantization needs an importance matrix")

// TensorNeedsImatrix is llama-quant.cpp's tensor_requires_imatrix: the codebook types
// below 3.1 bits (and Q2_K in a Q2_K_S file) need an importance vector, except for the
// token embeddings and the output matrix.
func TensorNeedsImatrix(name string, d tensor.DType, ft FileType) bool {
	switch name {
	case "token_embd.weight", "per_layer_token_embd.weight", "output.weight":
		return false
	}
	switch d {
	case tensor.IQ3_XXS, tensor.IQ2_XXS, tensor.IQ2_XS, tensor.IQ2_S, tensor.IQ1_M, tensor.IQ1_S:
		return true
	case tensor.Q2_K:
		return ft == FileQ2_K_S
	}
	return false
}
