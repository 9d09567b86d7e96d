package arch

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"

	"github.com/refit-ml/refit"
)

// MaxConfigSize caps config.json and the tokenizer's JSON side files.
const MaxConfigSize = 64 << 20

// Config is a parsed config.json: Hugging Face hyperparameters by name.
// Lookups take several candidate names, since models spell the same quantity
// differently (hidden_size, n_embd, dim).
type Config struct {
	values map[string]any
}

// ParseConfig parses a config.json document.
func ParseConfig(b []byte) (*Config, error) {
	if len(b) > MaxConfigSize {
		return nil, refit.Errorf("arch", -1, "config.json is %d bytes, more than %d", len(b), MaxConfigSize)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v map[string]any
	if err := dec.Decode(&v); err != nil {
		return nil, &refit.FormatError{Format: "arch", Offset: -1, Msg: "config.json", Err: err}
	}
	if v == nil {
		return nil, refit.Errorf("arch", -1, "config.json is not a JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, refit.Errorf("arch", dec.InputOffset(), "config.json has data after its object")
	}
	return &Config{values: v}, nil
}

// Has reports whether any of the keys is present and not null.
func (c *Config) Has(keys ...string) bool {
	_, _, ok := c.lookup(keys)
	return ok
}

func (c *Config) lookup(keys []string) (string, any, bool) {
	for _, k := range keys {
		if v, ok := c.values[k]; ok && v != nil {
			return k, v, true
		}
	}
	return "", nil, false
}

// Int returns the first present key as a non-negative integer that fits in uint32.
func (c *Config) Int(keys ...string) (uint32, error) {
	k, v, ok := c.lookup(keys)
	if !ok {
		return 0, refit.Errorf("arch", -1, "config.json has none of %q", keys)
	}
	n, ok := v.(json.Number)
	if !ok {
		return 0, refit.Errorf("arch", -1, "config.json %s is %T, not a number", k, v)
	}
	i, err := n.Int64()
	if err != nil || i < 0 || i > math.MaxUint32 {
		return 0, refit.Errorf("arch", -1, "config.json %s = %s is not a count", k, n)
	}
	return uint32(i), nil
}

// IntOr is Int with a default for absent keys.
func (c *Config) IntOr(def uint32, keys ...string) (uint32, error) {
	if !c.Has(keys...) {
		return def, nil
	}
	return c.Int(keys...)
}

// Float returns the first present key as a float32.
func (c *Config) Float(keys ...string) (float32, error) {
	k, v, ok := c.lookup(keys)
	if !ok {
		return 0, refit.Errorf("arch", -1, "config.json has none of %q", keys)
	}
	n, ok := v.(json.Number)
	if !ok {
		return 0, refit.Errorf("arch", -1, "config.json %s is %T, not a number", k, v)
	}
	f, err := n.Float64()
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, refit.Errorf("arch", -1, "config.json %s = %s is not a finite number", k, n)
	}
	return float32(f), nil
}

// String returns the first present key as a string ("" if absent or not a string).
func (c *Config) String(keys ...string) string {
	_, v, _ := c.lookup(keys)
	s, _ := v.(string)
	return s
}

// Bool returns the first present key as a bool, or def.
func (c *Config) Bool(def bool, keys ...string) bool {
	_, v, ok := c.lookup(keys)
	if b, isBool := v.(bool); ok && isBool {
		return b
	}
	return def
}

// Architectures returns config.json's "architectures" list.
func (c *Config) Architectures() []string {
	list, _ := c.values["architectures"].([]any)
	var out []string
	for _, v := range list {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// Object returns a nested object such as rope_scaling, or nil.
func (c *Config) Object(key string) *Config {
	m, ok := c.values[key].(map[string]any)
	if !ok {
		return nil
	}
	return &Config{values: m}
}

// params collects metadata for one architecture, keeping the first error, so a
// Params function reads top to bottom.
type params struct {
	c    *Config
	md   *refit.Metadata
	arch string
	err  error
}

func (p *params) fail(err error) {
	if p.err == nil && err != nil {
		p.err = err
	}
}

// u32 sets ARCH.key from the first present config key.
func (p *params) u32(key string, from ...string) uint32 {
	v, err := p.c.Int(from...)
	p.fail(err)
	p.md.Set(p.arch+"."+key, v)
	return v
}

// optU32 sets ARCH.key when a config key is present.
func (p *params) optU32(key string, from ...string) {
	if p.c.Has(from...) {
		p.u32(key, from...)
	}
}

// f32 sets ARCH.key from the first present config key.
func (p *params) f32(key string, from ...string) {
	v, err := p.c.Float(from...)
	p.fail(err)
	p.md.Set(p.arch+"."+key, v)
}

// optF32 sets ARCH.key when a config key is present.
func (p *params) optF32(key string, from ...string) {
	if p.c.Has(from...) {
		p.f32(key, from...)
	}
}

// set stores a computed value under ARCH.key.
func (p *params) set(key string, v any) { p.md.Set(p.arch+"."+key, v) }

// headDim returns head_dim, or hidden_size / num_attention_heads.
func (p *params) headDim() uint32 {
	if p.c.Has("head_dim") {
		v, err := p.c.Int("head_dim")
		p.fail(err)
		return v
	}
	hidden, err1 := p.c.Int("hidden_size", "n_embd")
	heads, err2 := p.c.Int("num_attention_heads", "n_head")
	p.fail(err1)
	p.fail(err2)
	if heads == 0 {
		p.fail(refit.Errorf("arch", -1, "config.json: num_attention_heads is 0"))
		return 0
	}
	if hidden%heads != 0 {
		p.fail(refit.Errorf("arch", -1, "config.json: hidden_size %d is not a multiple of num_attention_heads %d", hidden, heads))
	}
	return hidden / heads
}

func (p *params) errorf(msg string, args ...any) {
	p.fail(fmt.Errorf("arch: %s: %w", fmt.Sprintf(msg, args...), refit.ErrFormat))
}

// Floats returns a list of numbers under key, at most max long.
func (c *Config) Floats(key string, max int) ([]float32, error) {
	list, ok := c.values[key].([]any)
	if !ok {
		return nil, refit.Errorf("arch", -1, "config.json %s is not a list", key)
	}
	if len(list) > max {
		return nil, refit.Errorf("arch", -1, "config.json %s has %d entries, more than %d", key, len(list), max)
	}
	out := make([]float32, len(list))
	for i, v := range list {
		n, ok := v.(json.Number)
		if !ok {
			return nil, refit.Errorf("arch", -1, "config.json %s[%d] is %T, not a number", key, i, v)
		}
		f, err := n.Float64()
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, refit.Errorf("arch", -1, "config.json %s[%d] = %s is not a finite number", key, i, n)
		}
		out[i] = float32(f)
	}
	return out, nil
}

// Strings returns a list of strings under key (nil when absent), at most max long.
func (c *Config) Strings(key string, max int) ([]string, error) {
	v, ok := c.values[key]
	if !ok || v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok || len(list) > max {
		return nil, refit.Errorf("arch", -1, "config.json %s is not a list of at most %d strings", key, max)
	}
	out := make([]string, len(list))
	for i, x := range list {
		if out[i], ok = x.(string); !ok {
			return nil, refit.Errorf("arch", -1, "config.json %s[%d] is %T, not a string", key, i, x)
		}
	}
	return out, nil
}
