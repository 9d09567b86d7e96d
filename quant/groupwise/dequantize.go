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

// Dequantize returns a model in which every <prefix>.qweight/qzeros/scales/g_idx set
// is replaced by a float32 <prefix>.weight [N, K]. bits comes from cfg, or from the
// model's MetadataKey when cfg is nil.
func Dequantize(m *refit.Model, cfg *Config) (*refit.Model, error) {
	if cfg == nil {
		s := m.Metadata.String(MetadataKey)
		if s == "" {
			return nil, fmt.Errorf("groupwise: no quantize config given or in the metadata: %w", refit.ErrFormat)
		}
		cfg = &Config{}
		if err := json.Unmarshal([]byte(s), cfg); err != nil {
			return nil, fmt.Errorf("groupwise: quantize config: %v: %w", err, refit.ErrFormat)
		}
	}
	if cfg.Bits != 2 && cfg.Bits != 4 && cfg.Bits != 8 {
		return nil, fmt.Errorf("groupwise: bits %d: %w", cfg.Bits, refit.ErrUnsupported)
	}
	byName := map[string]*tensor.Tensor{}
	for _, t := range m.Tensors {
		byName[t.Name] = t
	}
	var out []*tensor.Tensor
	for _, t := range m.Tensors {
		prefix, ok := strings.CutSuffix(t.Name, ".qweight")
		if !ok {
			if isPart(t.Name, byName) {
				continue
			}
			out = append(out, t)
			continue
		}
		set, err := newPacked(prefix, byName, cfg.Bits)
		if err != nil {
			return nil, err
		}
		size, err := tensor.ByteSize(tensor.F32, tensor.Shape{int64(set.n), int64(set.k)})
		if err != nil {
			return nil, err
		}
		nt, err := tensor.New(prefix+".weight", tensor.F32, tensor.Shape{int64(set.n), int64(set.k)},
			tensor.NewLazy(size, set.dequantize))
		if err != nil {
			return nil, err
		}
		out = append(out, nt)
	}
	r := m.Derive(out)
	r.Metadata.Delete(MetadataKey)
	return r, nil
}

// isPart reports whether name is the qzeros/scales/g_idx of a present qweight.
func isPart(name string, byName map[string]*tensor.Tensor) bool {
	for _, s := range []string{".qzeros", ".scales", ".g_idx"} {
		if p, ok := strings.CutSuffix(name, s); ok && byName[p+".qweight"] != nil {
			return true
		}
	}
	return false
}

// packed is one validated qweight set.
type packed struct {
	bits, n, k, groups      int
	qweight, qzeros, scales *tensor.Tensor
	gidx                    *tensor.Tensor
}

func newPacked(prefix string, byName map[string]*tensor.Tensor, bits int) (*packed, error) {
	bad := func(msg string, args ...any) error {
		return fmt.Errorf("groupwise: %s: %s: %w", prefix, fmt.Sprintf(msg, args...), refit.ErrFormat)
	}
	p := &packed{bits: bits, qweight: byName[prefix+".qweight"], qzeros: byName[prefix+".qzeros"],
		scales: byName[prefix+".scales"], gidx: byName[prefix+".g_idx"]}
	if p.qzeros == nil || p.scales == nil {
		return nil, bad("qweight without qzeros and scales")
	}
	pack := int64(32 / bits)
	qw, qz, sc := p.qweight.Shape, p.qzeros.Shape, p.scales.Shape
	if len(qw) != 2 || len(qz) != 2 || len(sc) != 2 || p.qweight.DType != tensor.I32 || p.qzeros.DType != tensor.I32 ||
		!(p.scales.DType == tensor.F16 || p.scales.DType == tensor.F32 || p.scales.DType == tensor.BF16) {
		return nil, bad("want int32 qweight, qzeros and float scales, all 2-D; have %v%v, %v%v, %v%v",
			p.qweight.DType, qw, p.qzeros.DType, qz, p.scales.DType, sc)
	}
	if qw[0] <= 0 || qw[1] <= 0 || qw[0] > 1<<24 || qw[1] > 1<<24 || sc[0] <= 0 || sc[0] > 1<<24 {
		return nil, bad("shape %v out of range", qw)
	}
	k, n, groups := qw[0]*pack, qw[1], sc[0]
	if sc[1] != n || qz[0] != groups || qz[1]*pack != n {
		return nil, bad("scales %v and qzeros %v do not match qweight %v", sc, qz, qw)
	}
	if k%groups != 0 && p.gidx == nil {
		return nil, bad("K=%d does not divide into %d groups", k, groups)
	}
	if p.gidx != nil && (p.gidx.DType != tensor.I32 || len(p.gidx.Shape) != 1 || p.gidx.Shape[0] != k) {
		return nil, bad("g_idx %v%v, want int32 [%d]", p.gidx.DType, p.gidx.Shape, k)
	}
	p.n, p.k, p.groups = int(n), int(k), int(groups)
	return p, nil
}

func (p *packed) dequantize() ([]byte, error) {
	qw, err := int32s(p.qweight)
	if err != nil {
		return nil, err
	}
	qz, err := int32s(p.qzeros)
	if err != nil {
		return nil, err
	}
	sc, err := p.scales.Float32s()
	if err != nil {
		return nil, err
	}
	g := make([]int32, p.k)
	if p.gidx != nil {
		if g, err = int32s(p.gidx); err != nil {
			return nil, err
		}
	} else {
		for i := range g {
			g[i] = int32(i / (p.k / p.groups))
		}
	}
	pack := 32 / p.bits
	mask := uint32(1)<<p.bits - 1
	out := make([]byte, 4*p.n*p.k)
	for k := range p.k {
		grp := int(g[k])
		if grp < 0 || grp >= p.groups {
			return nil, fmt.Errorf("groupwise: g_idx[%d] = %d out of [0, %d): %w", k, grp, p.groups, refit.ErrFormat)
		}
		for n := range p.n {
			q := (uint32(qw[(k/pack)*p.n+n]) >> (p.bits * (k % pack))) & mask
			z := (uint32(qz[grp*(p.n/pack)+n/pack])>>(p.bits*(n%pack)))&mask + 1
			v := sc[grp*p.n+n] * (float32(q) - float32(z))
			binary.LittleEndian.PutUint32(out[4*(n*p.k+k):], math.Float32bits(v))
		}
	}
	return out, nil
}

func int32s(t *tensor.Tensor) ([]int32, error) {
	b, err := t.Bytes()
	if err != nil {
		return nil, err
	}
	v := make([]int32, len(b)/4)
	for i := range v {
		v[i] = int32(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v, nil
}
