package arch

import (
	"strconv"
	"strings"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/tensor"
)

// PackName maps several Hugging Face tensors of one block to several GGUF tensors
// computed from all of them together (gpt-oss's MXFP4 blocks and scales, interleaved
// gate and up rows, become ffn_gate_exps and ffn_up_exps). Patterns hold {bid}.
type PackName struct {
	HF, GGUF []string
	// Pack returns the GGUF tensors, named names, from the Hugging Face tensors in
	// HF's order; Unpack is its inverse.
	Pack   func(c *Config, in []*tensor.Tensor, names []string) ([]*tensor.Tensor, error)
	Unpack func(md refit.Metadata, arch string, in []*tensor.Tensor, names []string) ([]*tensor.Tensor, error)
}

// PackSlot is where a tensor goes in a pack: Key names the pack instance (pack index
// and block), Slot its position among N inputs.
type PackSlot struct {
	Key     string
	Slot, N int
	pack    *PackName
	block   int
}

// PackSlotHF finds the pack a Hugging Face tensor is an input of.
func (a *Arch) PackSlotHF(name string) (PackSlot, bool) { return a.packSlot(name, true) }

// PackSlotGGUF finds the pack a GGUF tensor is an output of.
func (a *Arch) PackSlotGGUF(name string) (PackSlot, bool) { return a.packSlot(name, false) }

func (a *Arch) packSlot(name string, hf bool) (PackSlot, bool) {
	for i := range a.Packs {
		p := &a.Packs[i]
		pats := p.GGUF
		if hf {
			pats = p.HF
		}
		for j, pat := range pats {
			if b, ok := matchPattern(pat, name); ok && b >= 0 {
				return PackSlot{Key: strconv.Itoa(i) + "/" + strconv.Itoa(b), Slot: j, N: len(pats), pack: p, block: b}, true
			}
		}
	}
	return PackSlot{}, false
}

func names(pats []string, block int) []string {
	out := make([]string, len(pats))
	for i, p := range pats {
		out[i] = strings.Replace(p, bid, strconv.Itoa(block), 1)
	}
	return out
}

// Pack computes the GGUF tensors of a complete set of Hugging Face inputs.
func (s PackSlot) Pack(c *Config, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	return s.pack.Pack(c, in, names(s.pack.GGUF, s.block))
}

// Unpack computes the Hugging Face tensors of a complete set of GGUF outputs.
func (s PackSlot) Unpack(md refit.Metadata, arch string, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	return s.pack.Unpack(md, arch, in, names(s.pack.HF, s.block))
}
