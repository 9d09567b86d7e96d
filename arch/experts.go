package arch

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/refit-ml/refit/tensor"
)

// ExpertName maps a per-expert Hugging Face name pattern, with {bid} and {xid} (the
// expert number), to the GGUF name of the stacked tensor ggml wants: all experts of a
// block as one [n_expert, rows, cols] tensor.
type ExpertName struct {
	HF, GGUF string
}

const xid = "{xid}"

// matchExpert matches name against a pattern holding {bid} then {xid}.
func matchExpert(pattern, name string) (block, expert int, ok bool) {
	pre, rest, has := strings.Cut(pattern, xid)
	if !has {
		return 0, 0, false
	}
	// name = X + digits + rest, where X matches pre (which holds {bid}).
	if !strings.HasSuffix(name, rest) {
		return 0, 0, false
	}
	head := name[:len(name)-len(rest)]
	i := len(head)
	for i > 0 && head[i-1] >= '0' && head[i-1] <= '9' {
		i--
	}
	digits := head[i:]
	if digits == "" || (len(digits) > 1 && digits[0] == '0') {
		return 0, 0, false
	}
	x, err := strconv.ParseUint(digits, 10, 31)
	if err != nil {
		return 0, 0, false
	}
	b, ok := matchPattern(pre, head[:i])
	if !ok || b < 0 {
		return 0, 0, false
	}
	return b, int(x), true
}

// mapExpert returns the stacked GGUF name and the expert number of a per-expert tensor.
func (a *Arch) mapExpert(hf string) (gguf string, expert int, ok bool) {
	base, suffix := splitSuffix(hf)
	for _, e := range a.Experts {
		if b, x, ok := matchExpert(e.HF, base); ok {
			return strings.Replace(e.GGUF, bid, strconv.Itoa(b), 1) + suffix, x, true
		}
	}
	return "", 0, false
}

// expertStack collects one block's experts for one weight.
type expertStack struct {
	name    string
	members map[int]*tensor.Tensor
}

// stack returns the experts 0..n-1 as one lazily concatenated tensor.
func (s *expertStack) stack(n int) (*tensor.Tensor, error) {
	if len(s.members) != n {
		return nil, errorf("%s: found %d experts, config.json says %d", s.name, len(s.members), n)
	}
	first := s.members[0]
	if first == nil {
		return nil, errorf("%s: expert 0 is missing", s.name)
	}
	parts := make([]*tensor.Tensor, n)
	for i := range n {
		t := s.members[i]
		if t == nil {
			return nil, errorf("%s: expert %d is missing", s.name, i)
		}
		if t.DType != first.DType || !t.Shape.Equal(first.Shape) {
			return nil, errorf("%s: expert %d is %v %v, expert 0 is %v %v", s.name, i, t.DType, t.Shape, first.DType, first.Shape)
		}
		parts[i] = t
	}
	shape := append(tensor.Shape{int64(n)}, first.Shape...)
	size, err := tensor.ByteSize(first.DType, shape)
	if err != nil {
		return nil, fmt.Errorf("arch: %s: %w", s.name, err)
	}
	data := tensor.NewLazy(size, func() ([]byte, error) {
		out := make([]byte, 0, size)
		for _, p := range parts {
			b, err := p.Bytes()
			if err != nil {
				return nil, err
			}
			out = append(out, b...)
		}
		return out, nil
	})
	return &tensor.Tensor{Name: s.name, DType: first.DType, Shape: shape, Data: data}, nil
}
