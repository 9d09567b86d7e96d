package arch

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/tensor"
)

// Arch is what Refit knows about one model architecture. Each architecture lives in
// its own file and registers itself in init.
type Arch struct {
	// Name is the GGUF general.architecture value, e.g. "llama".
	Name string
	// Classes are the config.json "architectures" values it handles, e.g. "LlamaForCausalLM".
	Classes []string
	// Tensors maps Hugging Face tensor names to GGUF names; {bid} stands for the block
	// number. Names are matched without their ".weight" / ".bias" suffix, which is kept.
	Tensors []TensorName
	// Experts maps per-expert tensors of mixture-of-experts layers to stacked GGUF
	// tensors; ExpertCount names the config.json key holding the number of experts.
	Experts     []ExpertName
	ExpertCount []string
	// Splits maps fused Hugging Face tensors to several GGUF tensors (see SplitName).
	Splits []SplitName
	// Packs maps groups of Hugging Face tensors to groups of GGUF tensors (PackName).
	Packs []PackName
	// Skip lists Hugging Face names (same patterns) that are dropped: buffers such as
	// rotary inv_freq, or attention masks stored as weights.
	Skip []string
	// Params writes the ARCH.* metadata keys from config.json.
	Params func(c *Config, md *refit.Metadata) error
	// Transform, if set, rewrites a tensor's values after renaming (permutations,
	// transposes, norm offsets); hf is the source name, t carries the GGUF name.
	Transform func(c *Config, hf string, t *tensor.Tensor) (*tensor.Tensor, error)
	// Extra, if set, returns tensors llama.cpp needs that the checkpoint computes at
	// run time instead of storing (Llama 3's rope_freqs).
	Extra func(c *Config) ([]*tensor.Tensor, error)
	// Reverse, if set, makes the architecture convertible from GGUF back to a
	// Hugging Face folder.
	Reverse *Reverse
}

// TensorName maps one Hugging Face tensor name pattern to its GGUF name pattern.
type TensorName struct {
	HF, GGUF string
}

const bid = "{bid}"

var (
	registryMu sync.RWMutex
	registry   = map[string]*Arch{} // by GGUF name
)

// Register makes an architecture known. It panics on an empty or duplicate name,
// or a class another architecture already claims: these are programmer errors.
func Register(a Arch) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if a.Name == "" || a.Params == nil {
		panic("arch: Register of an architecture without a name or Params")
	}
	if _, dup := registry[a.Name]; dup {
		panic("arch: Register called twice for " + a.Name)
	}
	for _, other := range registry {
		for _, c := range a.Classes {
			if slices.Contains(other.Classes, c) {
				panic("arch: class " + c + " registered by both " + other.Name + " and " + a.Name)
			}
		}
	}
	registry[a.Name] = &a
}

// Lookup returns the architecture with the given GGUF name.
func Lookup(name string) (*Arch, bool) {
	registryMu.RLock()
	defer registryMu.RUnlock()
	a, ok := registry[name]
	return a, ok
}

// ForClass returns the architecture that handles a config.json class name.
func ForClass(class string) (*Arch, bool) {
	registryMu.RLock()
	defer registryMu.RUnlock()
	for _, a := range registry {
		if slices.Contains(a.Classes, class) {
			return a, true
		}
	}
	return nil, false
}

// Names lists the registered architectures, sorted.
func Names() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	out := make([]string, 0, len(registry))
	for n := range registry {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// splitSuffix separates a ".weight" or ".bias" suffix.
func splitSuffix(name string) (base, suffix string) {
	for _, s := range []string{".weight", ".bias"} {
		if b, ok := strings.CutSuffix(name, s); ok {
			return b, s
		}
	}
	return name, ""
}

// matchPattern matches name against a pattern with at most one {bid}; it returns the
// block number (-1 when the pattern has none).
func matchPattern(pattern, name string) (int, bool) {
	pre, post, has := strings.Cut(pattern, bid)
	if !has {
		return -1, pattern == name
	}
	if !strings.HasPrefix(name, pre) || !strings.HasSuffix(name, post) || len(name) < len(pre)+len(post)+1 {
		return 0, false
	}
	digits := name[len(pre) : len(name)-len(post)]
	if len(digits) > 1 && digits[0] == '0' {
		return 0, false
	}
	n, err := strconv.ParseUint(digits, 10, 31)
	if err != nil {
		return 0, false
	}
	return int(n), true
}

// MapName returns the GGUF name of a Hugging Face tensor, skip=true for a tensor that
// is dropped, or an error wrapping refit.ErrUnsupported for a name the map lacks.
func (a *Arch) MapName(hf string) (gguf string, skip bool, err error) {
	base, suffix := splitSuffix(hf)
	for _, s := range a.Skip {
		if _, ok := matchPattern(s, hf); ok {
			return "", true, nil
		}
		if _, ok := matchPattern(s, base); ok {
			return "", true, nil
		}
	}
	for _, tn := range a.Tensors {
		// A pattern may name the suffix itself (DeepSeek's e_score_correction_bias).
		if b, ok := matchPattern(tn.HF, hf); ok {
			if b >= 0 {
				return strings.Replace(tn.GGUF, bid, strconv.Itoa(b), 1), false, nil
			}
			return tn.GGUF, false, nil
		}
		if b, ok := matchPattern(tn.HF, base); ok {
			out := tn.GGUF
			if b >= 0 {
				out = strings.Replace(out, bid, strconv.Itoa(b), 1)
			}
			return out + suffix, false, nil
		}
	}
	return "", false, refit.Unsupportedf("arch", "%s: no GGUF name for tensor %q", a.Name, hf)
}

// UnmapName returns the Hugging Face name of a GGUF tensor by the name map (stacked
// expert tensors excepted: see [Arch.ExpertNames]), or ok=false for a name it lacks.
func (a *Arch) UnmapName(gguf string) (hf string, ok bool) {
	base, suffix := splitSuffix(gguf)
	for _, tn := range a.Tensors {
		if b, ok := matchPattern(tn.GGUF, gguf); ok {
			if b >= 0 {
				return strings.Replace(tn.HF, bid, strconv.Itoa(b), 1), true
			}
			return tn.HF, true
		}
		if b, ok := matchPattern(tn.GGUF, base); ok {
			hf := tn.HF
			if b >= 0 {
				hf = strings.Replace(hf, bid, strconv.Itoa(b), 1)
			}
			return hf + suffix, true
		}
	}
	return "", false
}

// withPrefixes expands each pattern with every given prefix ("model.", "") so one table
// serves both a *ForCausalLM checkpoint and a bare base model.
func withPrefixes(prefixes []string, names []TensorName) []TensorName {
	var out []TensorName
	for _, n := range names {
		if strings.HasPrefix(n.HF, "lm_head") {
			out = append(out, n)
			continue
		}
		for _, p := range prefixes {
			out = append(out, TensorName{HF: p + n.HF, GGUF: n.GGUF})
		}
	}
	return out
}

func errorf(msg string, args ...any) error {
	return fmt.Errorf("arch: %s: %w", fmt.Sprintf(msg, args...), refit.ErrFormat)
}
