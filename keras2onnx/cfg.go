package keras2onnx

import (
	"fmt"
	"math"

	"github.com/refit-ml/refit"
)

// cfg is a layer's config object with typed accessors. Accessors record the first
// malformed value in err (so converters read top to bottom and check once).
type cfg struct {
	layer string
	m     map[string]any
	err   error
}

func (c *cfg) fail(key string, v any, want string) {
	if c.err == nil {
		c.err = fmt.Errorf("%w: layer %q: config %q = %v, want %s", refit.ErrFormat, c.layer, key, v, want)
	}
}

func (c *cfg) has(key string) bool {
	v, ok := c.m[key]
	return ok && v != nil
}

func (c *cfg) str(key, def string) string {
	v, ok := c.m[key]
	if !ok || v == nil {
		return def
	}
	s, ok := v.(string)
	if !ok {
		c.fail(key, v, "a string")
		return def
	}
	return s
}

func (c *cfg) boolean(key string, def bool) bool {
	v, ok := c.m[key]
	if !ok || v == nil {
		return def
	}
	b, ok := v.(bool)
	if !ok {
		c.fail(key, v, "a boolean")
		return def
	}
	return b
}

func (c *cfg) float(key string, def float64) float64 {
	v, ok := c.m[key]
	if !ok || v == nil {
		return def
	}
	f, ok := v.(float64)
	if !ok || math.IsNaN(f) {
		c.fail(key, v, "a number")
		return def
	}
	return f
}

// maxConfigInt bounds integers read from configs (sizes, strides, axes).
const maxConfigInt = 1 << 40

func toInt(v any) (int64, bool) {
	f, ok := v.(float64)
	if !ok || f != math.Trunc(f) || math.Abs(f) > maxConfigInt {
		return 0, false
	}
	return int64(f), true
}

func (c *cfg) int(key string, def int64) int64 {
	v, ok := c.m[key]
	if !ok || v == nil {
		return def
	}
	i, ok := toInt(v)
	if !ok {
		c.fail(key, v, "an integer")
		return def
	}
	return i
}

// ints reads an n-tuple, accepting a single integer repeated n times (Keras allows both);
// n < 0 accepts any length. A missing key gives def.
func (c *cfg) ints(key string, n int, def []int64) []int64 {
	v, ok := c.m[key]
	if !ok || v == nil {
		return def
	}
	if i, ok := toInt(v); ok && n >= 0 {
		out := make([]int64, n)
		for k := range out {
			out[k] = i
		}
		return out
	}
	l, ok := v.([]any)
	if !ok || (n >= 0 && len(l) != n) || len(l) > 64 {
		c.fail(key, v, fmt.Sprintf("%d integers", n))
		return def
	}
	out := make([]int64, len(l))
	for k, e := range l {
		i, ok := toInt(e)
		if !ok {
			c.fail(key, v, "integers")
			return def
		}
		out[k] = i
	}
	return out
}

// shape reads a shape list where null means unknown (-1).
func (c *cfg) shape(key string) ([]int64, bool) {
	v, ok := c.m[key]
	if !ok || v == nil {
		return nil, false
	}
	l, ok := v.([]any)
	if !ok || len(l) > 16 {
		c.fail(key, v, "a shape")
		return nil, false
	}
	out := make([]int64, len(l))
	for k, e := range l {
		if e == nil {
			out[k] = -1
			continue
		}
		i, ok := toInt(e)
		if !ok || i < 0 {
			c.fail(key, v, "a shape")
			return nil, false
		}
		out[k] = i
	}
	return out, true
}

// pairs reads a padding/cropping spec for n spatial dims: an int, n ints (symmetric)
// or n [begin, end] pairs. It returns begins then ends.
func (c *cfg) pairs(key string, n int) (begin, end []int64) {
	begin, end = make([]int64, n), make([]int64, n)
	v, ok := c.m[key]
	if !ok || v == nil {
		return begin, end
	}
	if i, ok := toInt(v); ok {
		for k := range n {
			begin[k], end[k] = i, i
		}
		return begin, end
	}
	l, ok := v.([]any)
	if !ok || len(l) != n {
		c.fail(key, v, fmt.Sprintf("%d paddings", n))
		return begin, end
	}
	for k, e := range l {
		if i, ok := toInt(e); ok {
			begin[k], end[k] = i, i
			continue
		}
		p, ok := e.([]any)
		if !ok || len(p) != 2 {
			c.fail(key, v, "[begin, end] pairs")
			return begin, end
		}
		b, ok1 := toInt(p[0])
		e, ok2 := toInt(p[1])
		if !ok1 || !ok2 {
			c.fail(key, v, "[begin, end] pairs")
			return begin, end
		}
		begin[k], end[k] = b, e
	}
	for k := range n {
		if begin[k] < 0 || end[k] < 0 {
			c.fail(key, v, "non-negative sizes")
		}
	}
	return begin, end
}

// activation reads an activation: a name, or a Keras 3 serialized function
// ({"class_name": "function", "config": "relu"}).
func (c *cfg) activation(key string) string {
	v, ok := c.m[key]
	if !ok || v == nil {
		return "linear"
	}
	switch v := v.(type) {
	case string:
		return v
	case map[string]any:
		if s, ok := v["config"].(string); ok {
			return s
		}
		if m, ok := v["config"].(map[string]any); ok {
			if s, ok := m["name"].(string); ok {
				return s
			}
		}
		if s, ok := v["class_name"].(string); ok {
			return s
		}
	}
	c.fail(key, v, "an activation name")
	return "linear"
}

// dtype reads a dtype: a name or a Keras 3 DTypePolicy object.
func (c *cfg) dtype(key string) string {
	switch v := c.m[key].(type) {
	case string:
		return v
	case map[string]any:
		if m, ok := v["config"].(map[string]any); ok {
			if s, ok := m["name"].(string); ok {
				return s
			}
		}
	}
	return "float32"
}
