package groupwise

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/tensor"
)

// Options configures Quantize. The zero value is 4 bits, groups of 128, asymmetric.
type Options struct {
	Bits      int  // 4 or 8; 0 means 4
	GroupSize int  // a divisor of every quantized K; 0 means 128
	Symmetric bool // zero point fixed at 2^(bits-1)
	// Select chooses the weights to quantize; nil means every 2-D float tensor
	// named *.weight except embeddings, lm_head and norms.
	Select func(t *tensor.Tensor) bool
}

// Config is quantize_config.json.
type Config struct {
	Bits             int    `json:"bits"`
	GroupSize        int    `json:"group_size"`
	DescAct          bool   `json:"desc_act"`
	Sym              bool   `json:"sym"`
	TrueSequential   bool   `json:"true_sequential"`
	QuantMethod      string `json:"quant_method"`
	CheckpointFormat string `json:"checkpoint_format"`
}

// MetadataKey is the Model.Metadata key holding the Config as JSON.
const MetadataKey = "quantize_config"

func defaultSelect(t *tensor.Tensor) bool {
	n := strings.ToLower(t.Name)
	return strings.HasSuffix(n, ".weight") && len(t.Shape) == 2 && t.DType.Float() &&
		!strings.Contains(n, "embed") && !strings.Contains(n, "lm_head") && !strings.Contains(n, "norm")
}

// Quantize returns a model in which every selected weight is replaced by qweight,
// qzeros, scales and g_idx; the Config is also stored in the metadata under
// MetadataKey. Weights whose shape does not fit the packing are an error.
func Quantize(m *refit.Model, opts *Options) (*refit.Model, *Config, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Bits == 0 {
		o.Bits = 4
	}
	if o.GroupSize == 0 {
		o.GroupSize = 128
	}
	if o.Bits != 4 && o.Bits != 8 {
		return nil, nil, fmt.Errorf("groupwise: bits %d: want 4 or 8: %w", o.Bits, refit.ErrUnsupported)
	}
	if o.GroupSize < 1 {
		return nil, nil, fmt.Errorf("groupwise: group size %d must be positive", o.GroupSize)
	}
	if o.Select == nil {
		o.Select = defaultSelect
	}
	pack := 32 / o.Bits
	var out []*tensor.Tensor
	for _, t := range m.Tensors {
		if !o.Select(t) {
			out = append(out, t)
			continue
		}
		if len(t.Shape) != 2 || !t.DType.Float() {
			return nil, nil, fmt.Errorf("groupwise: %s %v %v: want a 2-D float weight", t.Name, t.DType, t.Shape)
		}
		n, k := int(t.Shape[0]), int(t.Shape[1])
		if k%o.GroupSize != 0 || k%pack != 0 || n%pack != 0 {
			return nil, nil, fmt.Errorf("groupwise: %s [%d, %d]: K must divide into groups of %d and N, K into %d-value words", t.Name, n, k, o.GroupSize, pack)
		}
		prefix := strings.TrimSuffix(t.Name, ".weight")
		groups := k / o.GroupSize
		src := t
		q := func() (*quantized, error) { return quantizeWeight(src, o.Bits, o.GroupSize, o.Symmetric) }
		mk := func(suffix string, d tensor.DType, shape tensor.Shape, fn func(*quantized) []byte) (*tensor.Tensor, error) {
			size, err := tensor.ByteSize(d, shape)
			if err != nil {
				return nil, err
			}
			return tensor.New(prefix+suffix, d, shape, tensor.NewLazy(size, func() ([]byte, error) {
				r, err := q()
				if err != nil {
					return nil, err
				}
				return fn(r), nil
			}))
		}
		parts := []struct {
			suffix string
			d      tensor.DType
			shape  tensor.Shape
			fn     func(*quantized) []byte
		}{
			{".qweight", tensor.I32, tensor.Shape{int64(k / pack), int64(n)}, func(r *quantized) []byte { return int32Bytes(r.packQWeight()) }},
			{".qzeros", tensor.I32, tensor.Shape{int64(groups), int64(n / pack)}, func(r *quantized) []byte { return int32Bytes(r.packQZeros()) }},
			{".scales", tensor.F16, tensor.Shape{int64(groups), int64(n)}, func(r *quantized) []byte {
				b := make([]byte, 2*len(r.scales))
				for i, s := range r.scales {
					binary.LittleEndian.PutUint16(b[2*i:], tensor.F32ToF16(s))
				}
				return b
			}},
			{".g_idx", tensor.I32, tensor.Shape{int64(k)}, func(r *quantized) []byte {
				g := make([]int32, k)
				for i := range g {
					g[i] = int32(i / o.GroupSize)
				}
				return int32Bytes(g)
			}},
		}
		for _, p := range parts {
			nt, err := mk(p.suffix, p.d, p.shape, p.fn)
			if err != nil {
				return nil, nil, err
			}
			out = append(out, nt)
		}
	}
	cfg := &Config{Bits: o.Bits, GroupSize: o.GroupSize, Sym: o.Symmetric, TrueSequential: true,
		QuantMethod: "gptq", CheckpointFormat: "gptq"}
	r := m.Derive(out)
	b, _ := json.Marshal(cfg)
	r.Metadata.Set(MetadataKey, string(b))
	if err := r.CheckNames(); err != nil {
		return nil, nil, fmt.Errorf("groupwise: %w", err)
	}
	return r, cfg, nil
}

// quantized is one weight's codes [K, N] (transposed, as stored), zero points and
// scales [groups, N].
type quantized struct {
	n, k, g, bits int
	q             []uint8
	zeros         []uint8
	scales        []float32
}

func quantizeWeight(t *tensor.Tensor, bits, g int, sym bool) (*quantized, error) {
	w, err := t.Float32s()
	if err != nil {
		return nil, err
	}
	n, k := int(t.Shape[0]), int(t.Shape[1])
	groups := k / g
	r := &quantized{n: n, k: k, g: g, bits: bits, q: make([]uint8, k*n), zeros: make([]uint8, groups*n), scales: make([]float32, groups*n)}
	for row := range n {
		for grp := range groups {
			vals := w[row*k+grp*g : row*k+(grp+1)*g]
			s, z := groupParams(vals, bits, sym)
			// Round the scale to float16 first: readers use the stored value.
			s = tensor.F16ToF32(tensor.F32ToF16(s))
			if s == 0 {
				s = tensor.F16ToF32(tensor.F32ToF16(1e-7))
			}
			r.scales[grp*n+row], r.zeros[grp*n+row] = s, z
			maxq := float64(int(1)<<bits - 1)
			for i, v := range vals {
				qv := math.RoundToEven(float64(v/s)) + float64(z)
				r.q[(grp*g+i)*n+row] = uint8(min(max(qv, 0), maxq))
			}
		}
	}
	return r, nil
}

// groupParams returns scale and zero point for one group; the range holds zero, and
// asymmetric zero points are >= 1 so that the stored zero-1 is never negative.
func groupParams(vals []float32, bits int, sym bool) (float32, uint8) {
	maxq := float64(int(1)<<bits - 1)
	lo, hi := 0.0, 0.0
	for _, v := range vals {
		lo, hi = math.Min(lo, float64(v)), math.Max(hi, float64(v))
	}
	if sym {
		half := float64(int(1) << (bits - 1))
		return float32(math.Max(-lo, hi) / (half - 1)), uint8(half)
	}
	s := (hi - lo) / maxq
	if s == 0 {
		return 0, 1
	}
	z := math.RoundToEven(-lo / s)
	if z < 1 {
		s, z = hi/(maxq-1), 1
	}
	return float32(s), uint8(min(z, maxq))
}

func (r *quantized) packQWeight() []int32 {
	pack := 32 / r.bits
	out := make([]int32, r.k/pack*r.n)
	for k := range r.k {
		for n := range r.n {
			out[(k/pack)*r.n+n] |= int32(uint32(r.q[k*r.n+n]) << (r.bits * (k % pack)))
		}
	}
	return out
}

func (r *quantized) packQZeros() []int32 {
	pack := 32 / r.bits
	groups := r.k / r.g
	mask := uint32(1)<<r.bits - 1
	out := make([]int32, groups*r.n/pack)
	for grp := range groups {
		for n := range r.n {
			z := (uint32(r.zeros[grp*r.n+n]) - 1) & mask
			out[grp*(r.n/pack)+n/pack] |= int32(z << (r.bits * (n % pack)))
		}
	}
	return out
}

func int32Bytes(v []int32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(x))
	}
	return b
}
