package arch

import (
	"strconv"
	"strings"
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

// MapExpert returns the stacked GGUF name and the expert number of a per-expert tensor.
func (a *Arch) MapExpert(hf string) (gguf string, expert int, ok bool) {
	base, suffix := splitSuffix(hf)
	for _, e := range a.Experts {
		if b, x, ok := matchExpert(e.HF, base); ok {
			return strings.Replace(e.GGUF, bid, strconv.Itoa(b), 1) + suffix, x, true
		}
	}
	return "", 0, false
}

// ExpertNames returns the per-expert Hugging Face names of a stacked GGUF expert
// tensor, experts 0..n-1, or ok=false when gguf is not one.
func (a *Arch) ExpertNames(gguf string, n int64) (names []string, ok bool) {
	base, suffix := splitSuffix(gguf)
	for _, e := range a.Experts {
		b, ok := matchPattern(e.GGUF, base)
		if !ok {
			continue
		}
		hf := strings.Replace(e.HF, bid, strconv.Itoa(b), 1)
		for x := range max(n, 0) {
			names = append(names, strings.Replace(hf, xid, strconv.FormatInt(x, 10), 1)+suffix)
		}
		return names, true
	}
	return nil, false
}
