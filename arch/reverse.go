package arch

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/tensor"
)

// Reverse is what the GGUF -> Hugging Face direction needs beyond the name map.
type Reverse struct {
	// Class and ModelType are config.json's "architectures" entry and "model_type".
	Class, ModelType string
	// Config, if set, edits the config.json the generic builder made from the common
	// ARCH.* keys (hidden_size, num_hidden_layers, rope_theta ...): family keys are
	// added, keys the family spells differently are renamed. has reports whether the
	// GGUF file holds a tensor (optional biases and norms decide some keys).
	Config func(md refit.Metadata, arch string, cfg map[string]any, has func(gguf string) bool) error
	// Untransform, if set, undoes Transform on one GGUF tensor; hf is its Hugging Face
	// name by the name map and t carries it. The returned tensor's name is the one
	// written, so a family whose layout variants share GGUF names can rename.
	Untransform func(md refit.Metadata, arch, hf string, t *tensor.Tensor) (*tensor.Tensor, error)
	// Folded lists GGUF tensors that are config.json values on the Hugging Face side
	// (Phi-3's rotary factors); Fold writes them into cfg.
	Folded []string
	Fold   func(md refit.Metadata, arch string, ts map[string]*tensor.Tensor, cfg map[string]any) error
	// Tied means the family always ties lm_head to the embeddings (Gemma): the
	// checkpoint has no lm_head even when config.json says nothing.
	Tied bool
}

// MetaInt reads an integer metadata value of any GGUF integer type (the first element
// of a per-layer array).
func MetaInt(md refit.Metadata, key string) (int64, bool) {
	v, ok := md.Get(key)
	if !ok {
		return 0, false
	}
	switch a := v.(type) {
	case []uint32:
		if len(a) == 0 {
			return 0, false
		}
		v = a[0]
	case []int32:
		if len(a) == 0 {
			return 0, false
		}
		v = a[0]
	}
	switch x := v.(type) {
	case uint8:
		return int64(x), true
	case int8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case int16:
		return int64(x), true
	case uint32:
		return int64(x), true
	case int32:
		return int64(x), true
	case uint64:
		return int64(min(x, 1<<62)), true
	case int64:
		return x, true
	}
	return 0, false
}

// MetaFloat reads a float metadata value as the shortest JSON number that gives the
// same float back.
func MetaFloat(md refit.Metadata, key string) (json.Number, bool) {
	v, ok := md.Get(key)
	if !ok {
		return "", false
	}
	switch x := v.(type) {
	case float32:
		return json.Number(strconv.FormatFloat(float64(x), 'g', -1, 32)), true
	case float64:
		return json.Number(strconv.FormatFloat(x, 'g', -1, 64)), true
	}
	return "", false
}

// metaCopy copies ARCH.key to cfg[hf] when present (integers and floats).
func metaCopy(md refit.Metadata, arch string, cfg map[string]any, pairs ...string) {
	for i := 0; i+1 < len(pairs); i += 2 {
		key := arch + "." + pairs[i]
		if v, ok := MetaInt(md, key); ok {
			cfg[pairs[i+1]] = v
		} else if f, ok := MetaFloat(md, key); ok {
			cfg[pairs[i+1]] = f
		}
	}
}

// rename moves cfg[from] to cfg[to] when present.
func rename(cfg map[string]any, pairs ...string) {
	for i := 0; i+1 < len(pairs); i += 2 {
		if v, ok := cfg[pairs[i]]; ok {
			delete(cfg, pairs[i])
			cfg[pairs[i+1]] = v
		}
	}
}

// llamaUntransform undoes llamaTransform's rotary permutation of Q and K rows.
func llamaUntransform(md refit.Metadata, arch, hf string, t *tensor.Tensor) (*tensor.Tensor, error) {
	var key string
	switch {
	case strings.HasSuffix(hf, ".q_proj.weight"), strings.HasSuffix(hf, ".q_proj.bias"):
		key = "attention.head_count"
	case strings.HasSuffix(hf, ".k_proj.weight"), strings.HasSuffix(hf, ".k_proj.bias"):
		key = "attention.head_count_kv"
		if _, ok := MetaInt(md, arch+"."+key); !ok {
			key = "attention.head_count"
		}
	default:
		return t, nil
	}
	heads, ok := MetaInt(md, arch+"."+key)
	if !ok || heads <= 0 || heads > 1<<20 {
		return nil, errorf("%s: %s.%s is missing or not a head count", hf, arch, key)
	}
	return UnpermuteTensor(t, int(heads))
}

// subOne undoes addOne on Gemma's norm weights. It is exact for the weights of
// trained models (|w| <= 1 in F32 gives w+1 in [0, 2], where subtracting 1 is exact
// by Sterbenz's lemma), so GGUF -> HF -> GGUF gives the same bytes.
func subOne(t *tensor.Tensor) (*tensor.Tensor, error) {
	if !t.DType.Float() {
		return nil, errorf("norm tensor %q has type %v, not a float type", t.Name, t.DType)
	}
	size, err := tensor.ByteSize(tensor.F32, t.Shape)
	if err != nil {
		return nil, err
	}
	src := t
	data := tensor.NewLazy(size, func() ([]byte, error) {
		v, err := src.Float32s()
		if err != nil {
			return nil, err
		}
		for i := range v {
			v[i]--
		}
		return tensor.EncodeFloat32(nil, v), nil
	})
	return &tensor.Tensor{Name: t.Name, DType: tensor.F32, Shape: t.Shape.Clone(), Data: data}, nil
}
