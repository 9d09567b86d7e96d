package llm

import (
	"context"
	"math"
	"sort"

	"github.com/refit-ml/refit/internal/blas"
	"github.com/refit-ml/refit/internal/parallel"
	"github.com/refit-ml/refit/tensor"
)

// Session is one sequence being run through a Model: its KV cache and scratch. It is
// not safe for concurrent use; run several Sessions for parallel sequences.
type Session struct {
	m      *Model
	maxLen int
	n      int         // tokens in the cache
	k, v   [][]float32 // per layer: maxLen x KVHeads*HeadDim (ValueDim)
	charge int64
	// ropeFreqs divides each rotary pair's angle (nil: none): the model's rope_freqs,
	// or its long or short LongRoPE factors chosen by the session length.
	ropeFreqs []float32

	// scratch holds a batch's activations, kept between calls (charged to the budget
	// until Close); in is the copy of a projection's input within it.
	scratch []float32
	in      []float32
}

// NewSession returns a session holding up to maxLen tokens. Its KV cache is charged
// to the model's budget; Close releases it. For a model with LongRoPE factors (phi3),
// maxLen also chooses them as llama.cpp's context size does: the long factors when it,
// rounded up to a multiple of 256 as llama.cpp pads its context, exceeds
// Config.RopeOrigCtx; the short ones otherwise.
func (m *Model) NewSession(maxLen int) (*Session, error) {
	c := &m.Config
	if maxLen <= 0 || maxLen > maxDim {
		return nil, formatf("session length %d", maxLen)
	}
	per := int64(c.KVHeads) * int64(c.HeadDim+c.ValueDim) * 4
	bytes := per * int64(maxLen) * int64(c.Layers)
	if err := m.opts.Budget.Charge(bytes, "KV cache"); err != nil {
		return nil, err
	}
	s := &Session{m: m, maxLen: maxLen, charge: bytes, ropeFreqs: m.ropeFreqs}
	if m.ropeLong != nil {
		s.ropeFreqs = m.ropeShort
		if (maxLen+255)/256*256 > c.RopeOrigCtx { // llama.cpp pads its context to 256
			s.ropeFreqs = m.ropeLong
		}
	}
	s.k = make([][]float32, c.Layers)
	s.v = make([][]float32, c.Layers)
	for i := range s.k {
		s.k[i] = make([]float32, maxLen*c.KVHeads*c.HeadDim)
		s.v[i] = make([]float32, maxLen*c.KVHeads*c.ValueDim)
	}
	return s, nil
}

// Close releases the session's budget charge.
func (s *Session) Close() {
	s.m.opts.Budget.Release(s.charge)
	s.charge = 0
	s.scratch, s.in = nil, nil
}

// reserve makes s.scratch hold at least n values, charging the growth to the budget.
func (s *Session) reserve(n int) error {
	if len(s.scratch) >= n {
		return nil
	}
	grow := int64(n-len(s.scratch)) * 4
	if err := s.m.opts.Budget.Charge(grow, "activations"); err != nil {
		return err
	}
	s.charge += grow
	s.scratch = make([]float32, n)
	return nil
}

// Len is the number of tokens in the cache.
func (s *Session) Len() int { return s.n }

// Reset empties the cache.
func (s *Session) Reset() { s.n = 0 }

// MaxBatch is the most tokens Forward runs through the model at once; longer inputs
// go through in consecutive batches of MaxBatch (llama.cpp's default micro-batch), so
// activation memory stays bounded whatever the context.
const MaxBatch = 512

// Forward appends tokens to the sequence and writes the logits of tokens[first:]
// into logits (len (len(tokens)-first) * Vocab), the tokens processed as one batch
// (or batches of MaxBatch).
func (s *Session) Forward(ctx context.Context, tokens []int32, first int, logits []float32) error {
	c := &s.m.Config
	nt := len(tokens)
	if nt == 0 {
		return nil
	}
	if s.n+nt > s.maxLen {
		return formatf("%d tokens exceed the session length %d", s.n+nt, s.maxLen)
	}
	if first < 0 || first > nt || len(logits) != (nt-first)*c.Vocab {
		return formatf("logits for %d of %d tokens need %d values, have %d", nt-first, nt, (nt-first)*c.Vocab, len(logits))
	}
	for _, id := range tokens {
		if id < 0 || int(id) >= c.Vocab {
			return formatf("token id %d outside the vocabulary of %d", id, c.Vocab)
		}
	}
	for a := 0; a < nt; a += MaxBatch {
		b := min(a+MaxBatch, nt)
		f := min(max(first-a, 0), b-a) // first token of this batch with logits
		lo := max(a+f-first, 0) * c.Vocab
		if err := s.forward(ctx, tokens[a:b], f, logits[lo:lo+(b-a-f)*c.Vocab]); err != nil {
			return err
		}
	}
	return nil
}

// forward is Forward for a validated batch of at most MaxBatch tokens.
func (s *Session) forward(ctx context.Context, tokens []int32, first int, logits []float32) error {
	m, c := s.m, &s.m.Config
	nt := len(tokens)
	threads := m.opts.Threads
	qDim, kvDim, vDim := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim, c.KVHeads*c.ValueDim
	// big holds a fused QKV product or the gate product, big2 the up product (gate and
	// up stacked for phi3).
	wide, wide2 := max(c.FF, c.ExpertFF), max(c.FF, c.ExpertFF)
	for i := range m.layers {
		L := &m.layers[i]
		if L.upShexp != nil {
			wide, wide2 = max(wide, L.upShexp.Rows), max(wide2, L.upShexp.Rows)
		}
		if L.qkv != nil {
			wide = max(wide, L.qkv.Rows)
		}
		if L.gate == nil && L.router == nil && !L.plainFFN {
			wide2 = max(wide2, L.up.Rows)
		}
	}
	sizes := [...]int{nt * c.Embed, nt * c.Embed, nt * c.Embed, nt * c.Embed, nt * qDim, nt * kvDim, nt * vDim,
		nt * c.Heads * c.ValueDim, nt * wide, nt * wide2}
	total := 0
	for _, n := range sizes {
		total += n
	}
	if err := s.reserve(total); err != nil {
		return err
	}
	var bufs [len(sizes)][]float32
	free := s.scratch
	for i, n := range sizes {
		bufs[i], free = free[:n:n], free[n:]
	}
	x, h, tmp, in, q, kk, vv, att, big, big2 := bufs[0], bufs[1], bufs[2], bufs[3], bufs[4], bufs[5], bufs[6], bufs[7], bufs[8], bufs[9]
	s.in = in
	for t, id := range tokens {
		m.embed.row(x[t*c.Embed:(t+1)*c.Embed], int(id))
		if c.EmbedScale != 1 {
			for i := t * c.Embed; i < (t+1)*c.Embed; i++ {
				x[i] *= c.EmbedScale
			}
		}
	}
	for il := range m.layers {
		if err := ctx.Err(); err != nil {
			return err
		}
		L := &m.layers[il]
		s.preNorm(h, x, L.attnNorm, L.attnNormBias)
		if L.qkv != nil {
			fused := big[:nt*L.qkv.Rows]
			s.project(fused, L.qkv, h, nt)
			addBias(fused, L.qkvBias, nt)
			for t := 0; t < nt; t++ {
				row := fused[t*L.qkv.Rows:]
				copy(q[t*qDim:(t+1)*qDim], row[:qDim])
				copy(kk[t*kvDim:(t+1)*kvDim], row[qDim:qDim+kvDim])
				copy(vv[t*vDim:(t+1)*vDim], row[qDim+kvDim:qDim+kvDim+vDim])
			}
		} else {
			s.project(q, L.q, h, nt)
			s.project(kk, L.k, h, nt)
			s.project(vv, L.v, h, nt)
		}
		addBias(q, L.qBias, nt)
		addBias(kk, L.kBias, nt)
		addBias(vv, L.vBias, nt)
		if L.qNorm != nil { // per head, or per token over the projection (olmo2)
			s.norm(q, q, L.qNorm, len(L.qNorm))
			s.norm(kk, kk, L.kNorm, len(L.kNorm))
		}
		base, scale := c.rotary(il)
		parallel.For(threads, nt, 1, func(lo, hi int) {
			for t := lo; t < hi; t++ {
				pos := s.n + t
				s.rope(q[t*qDim:(t+1)*qDim], c.Heads, pos, base, scale)
				s.rope(kk[t*kvDim:(t+1)*kvDim], c.KVHeads, pos, base, scale)
			}
		})
		copy(s.k[il][s.n*kvDim:], kk)
		copy(s.v[il][s.n*vDim:], vv)
		s.attend(att, q, il, nt)
		o := tmp
		matmul(o, L.o, att, nt, threads)
		addBias(o, L.oBias, nt)
		if L.postAttnNorm != nil {
			s.norm(o, o, L.postAttnNorm, c.Embed)
		}
		scaleBy(o, c.ResidualScale)
		if c.ParallelNorm { // the feed-forward's norm reads the block input, before the attention joins it
			s.preNorm(h, x, L.ffnNorm, L.ffnNormBias)
		}
		for i := range x {
			x[i] += o[i]
		}
		if !c.Parallel && !c.ParallelNorm { // else h already holds the feed-forward's input
			s.preNorm(h, x, L.ffnNorm, L.ffnNormBias)
		}
		switch {
		case L.router != nil:
			s.moe(tmp, L, h, big, big2, nt)
		case L.plainFFN:
			u := big[:nt*L.up.Rows]
			s.project(u, L.up, h, nt)
			addBias(u, L.upBias, nt)
			parallel.For(threads, nt, 1, func(lo, hi int) {
				for i := lo * L.up.Rows; i < hi*L.up.Rows; i++ {
					u[i] = s.act(u[i])
				}
			})
			matmul(tmp, L.down, u, nt, threads)
			addBias(tmp, L.downBias, nt)
		default:
			s.ffn(tmp, L.gate, L.up, L.down, h, big, big2, nt)
		}
		if L.postFFNNorm != nil {
			s.norm(tmp, tmp, L.postFFNNorm, c.Embed)
		}
		scaleBy(tmp, c.ResidualScale)
		for i := range x {
			x[i] += tmp[i]
		}
	}
	s.n += nt
	if first == nt {
		return nil
	}
	rest := nt - first
	s.preNorm(h[:rest*c.Embed], x[first*c.Embed:], m.outputNorm, m.outputBias)
	matmul(logits, m.output, h[:rest*c.Embed], rest, threads)
	addBias(logits, m.headBias, rest)
	scaleBy(logits, c.LogitScale)
	if cap := c.FinalSoftcap; cap > 0 {
		for i, v := range logits {
			logits[i] = float32(math.Tanh(float64(v/cap))) * cap
		}
	}
	return nil
}

// project sets dst = w · src for nt tokens, leaving src as it is (the product rounds
// its input in place, so it gets a copy).
func (s *Session) project(dst []float32, w *matrix, src []float32, nt int) {
	in := s.in
	if len(in) < nt*w.Cols {
		in = make([]float32, nt*w.Cols)
	}
	in = in[:nt*w.Cols]
	copy(in, src)
	matmul(dst[:nt*w.Rows], w, in, nt, s.m.opts.Threads)
}

// ffn sets dst = down(act(gate·h) * up·h). With gate nil, up holds gate and up stacked.
func (s *Session) ffn(dst []float32, gate, up, down *matrix, h, big, big2 []float32, nt int) {
	c := &s.m.Config
	ff := down.Cols
	g := big[:nt*ff]
	if gate == nil {
		both := big2[:nt*2*ff]
		s.project(both, up, h, nt)
		for t := 0; t < nt; t++ {
			row := both[t*2*ff:]
			for i := 0; i < ff; i++ {
				g[t*ff+i] = s.act(row[i]) * row[ff+i]
			}
		}
	} else {
		u := big2[:nt*ff]
		s.project(u, up, h, nt)
		s.project(g, gate, h, nt)
		parallel.For(s.m.opts.Threads, nt, 1, func(lo, hi int) {
			for i := lo * ff; i < hi*ff; i++ {
				g[i] = s.act(g[i]) * u[i]
			}
		})
	}
	matmul(dst[:nt*c.Embed], down, g, nt, s.m.opts.Threads)
}

func (s *Session) act(v float32) float32 {
	if s.m.Config.GELU {
		return geluTanh(v)
	}
	return v / (1 + float32(math.Exp(float64(-v))))
}

// geluTanh is GELU in its tanh approximation as ggml's CPU backend computes it: the
// input rounded to float16 and the result read from a float16 table (so rounded to
// float16 too), x itself from 10 up and 0 from -10 down.
func geluTanh(x float32) float32 {
	const c = 0.7978845608028654 // sqrt(2/pi)
	switch {
	case x >= 10:
		return x
	case x <= -10:
		return 0
	}
	h := tensor.F16ToF32(tensor.F32ToF16(x))
	y := 0.5 * h * (1 + float32(math.Tanh(float64(c*h*(1+0.044715*h*h)))))
	return tensor.F16ToF32(tensor.F32ToF16(y))
}

// moe runs the mixture-of-experts feed-forward: softmax over the router's logits, the
// top ExpertsUsed experts weighted by their probabilities (renormalized over the
// chosen ones when Config.ExpertNorm), plus the shared expert when the layer has one.
func (s *Session) moe(dst []float32, L *layer, h, big, big2 []float32, nt int) {
	c := &s.m.Config
	probs := make([]float32, nt*c.Experts)
	s.project(probs, L.router, h, nt)
	clear(dst[:nt*c.Embed])
	one := make([]float32, c.Embed)
	out := make([]float32, c.Embed)
	idx := make([]int, c.Experts)
	for t := 0; t < nt; t++ {
		p := probs[t*c.Experts : (t+1)*c.Experts]
		softmax(p)
		for i := range idx {
			idx[i] = i
		}
		sort.SliceStable(idx, func(a, b int) bool { return p[idx[a]] > p[idx[b]] })
		sum := float32(1)
		if c.ExpertNorm {
			sum = 0
			for _, e := range idx[:c.ExpertsUsed] {
				sum += p[e]
			}
		}
		for _, e := range idx[:c.ExpertsUsed] {
			copy(one, h[t*c.Embed:(t+1)*c.Embed])
			s.ffn(out, L.gateExps[e], L.upExps[e], L.downExps[e], one, big, big2, 1)
			w := p[e] / sum
			for i, v := range out {
				dst[t*c.Embed+i] += w * v
			}
		}
	}
	if L.upShexp == nil {
		return
	}
	shared := make([]float32, nt*c.Embed)
	s.ffn(shared, L.gateShexp, L.upShexp, L.downShexp, h, big, big2, nt)
	for t := 0; t < nt; t++ {
		row := h[t*c.Embed : (t+1)*c.Embed]
		g := 1 / (1 + float32(math.Exp(float64(-dot(L.shexpGate, row)))))
		for i, v := range shared[t*c.Embed : (t+1)*c.Embed] {
			dst[t*c.Embed+i] += g * v
		}
	}
}

// attnTile is how many new tokens one SGEMM-based attention step covers per head.
const attnTile = 128

// attend computes attention output att[t][head] for the nt new tokens against the cache.
func (s *Session) attend(att, q []float32, il, nt int) {
	if nt >= gemmTokens {
		s.attendGemm(att, q, il, nt)
		return
	}
	c := &s.m.Config
	qDim, kvDim, vDim := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim, c.KVHeads*c.ValueDim
	group := c.Heads / c.KVHeads
	window := 0
	if c.SlidingLayer(il) {
		window = c.SlidingWindow
	}
	K, V := s.k[il], s.v[il]
	parallel.For(s.m.opts.Threads, nt*c.Heads, 4, func(lo, hi int) {
		scores := make([]float32, s.n+nt)
		for th := lo; th < hi; th++ {
			t, hd := th/c.Heads, th%c.Heads
			g := hd / group
			pos := s.n + t
			start := 0
			if window > 0 {
				start = max(0, pos-window+1)
			}
			qh := q[t*qDim+hd*c.HeadDim : t*qDim+(hd+1)*c.HeadDim]
			sc := scores[:pos+1-start]
			for j := start; j <= pos; j++ {
				v := dot(qh, K[j*kvDim+g*c.HeadDim:j*kvDim+(g+1)*c.HeadDim]) * c.AttnScale
				if cap := c.AttnSoftcap; cap > 0 {
					v = float32(math.Tanh(float64(v/cap))) * cap
				}
				sc[j-start] = v
			}
			softmax(sc)
			out := att[t*c.Heads*c.ValueDim+hd*c.ValueDim : t*c.Heads*c.ValueDim+(hd+1)*c.ValueDim]
			clear(out)
			for j := start; j <= pos; j++ {
				w := sc[j-start]
				vj := V[j*vDim+g*c.ValueDim : j*vDim+(g+1)*c.ValueDim]
				for i, v := range vj {
					out[i] += w * v
				}
			}
		}
	})
}

// attendGemm is attend for a batch: per head and tile of new tokens, the scores are
// one SGEMM (Q times the cached keys), masked and soft-maxed per row, and the output a
// second SGEMM (probabilities times the cached values).
func (s *Session) attendGemm(att, q []float32, il, nt int) {
	c := &s.m.Config
	qDim, kvDim, vDim := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim, c.KVHeads*c.ValueDim
	aDim := c.Heads * c.ValueDim
	group := c.Heads / c.KVHeads
	window := 0
	if c.SlidingLayer(il) {
		window = c.SlidingWindow
	}
	K, V := s.k[il], s.v[il]
	tiles := (nt + attnTile - 1) / attnTile
	parallel.ForChunks(s.m.opts.Threads, c.Heads*tiles, 1, func(lo, hi int) {
		bp := getBuf(attnTile * (s.n + nt))
		defer putBuf(bp)
		scores := *bp
		for w := lo; w < hi; w++ {
			hd, t0 := w/tiles, (w%tiles)*attnTile
			t1 := min(t0+attnTile, nt)
			g := hd / group
			n := s.n + t1 // keys the last token of the tile sees
			rows := t1 - t0
			sc := scores[:rows*n]
			blas.Sgemm(1, false, true, rows, n, c.HeadDim, c.AttnScale, q[t0*qDim+hd*c.HeadDim:], qDim,
				K[g*c.HeadDim:], kvDim, 0, sc, n)
			for t := t0; t < t1; t++ {
				pos := s.n + t
				start := 0
				if window > 0 {
					start = max(0, pos-window+1)
				}
				row := sc[(t-t0)*n : (t-t0+1)*n]
				live := row[start : pos+1]
				if cap := c.AttnSoftcap; cap > 0 {
					for j, v := range live {
						live[j] = float32(math.Tanh(float64(v/cap))) * cap
					}
				}
				softmax(live)
				clear(row[:start])
				clear(row[pos+1:])
			}
			blas.Sgemm(1, false, false, rows, c.ValueDim, n, 1, sc, n, V[g*c.ValueDim:], vDim, 0,
				att[t0*aDim+hd*c.ValueDim:], aDim)
		}
	})
}

// rope rotates the heads of one token's q or k at position pos, with rotary base
// and position multiplier posScale.
func (s *Session) rope(x []float32, heads, pos int, base, posScale float32) {
	c := &s.m.Config
	n := c.RopeDims
	thetaScale := float32(math.Pow(float64(base), -2/float64(n)))
	for hd := 0; hd < heads; hd++ {
		v := x[hd*c.HeadDim : (hd+1)*c.HeadDim]
		theta := float32(pos) * posScale
		for i := 0; i < n/2; i++ {
			th := theta
			if s.ropeFreqs != nil {
				th /= s.ropeFreqs[i]
			}
			cos, sin := float32(math.Cos(float64(th)))*c.RopeAttnFactor, float32(math.Sin(float64(th)))*c.RopeAttnFactor
			a, b := 2*i, 2*i+1
			if c.RopeNeox {
				a, b = i, i+n/2
			}
			x0, x1 := v[a], v[b]
			v[a] = x0*cos - x1*sin
			v[b] = x0*sin + x1*cos
			theta *= thetaScale
		}
	}
}

// preNorm sets dst to src normalized with weight w (a LayerNorm, with bias b unless
// nil, when the model uses them), or copies it when there is no norm (olmo2's block inputs).
func (s *Session) preNorm(dst, src, w, b []float32) {
	c := &s.m.Config
	switch {
	case w == nil:
		copy(dst, src)
	case c.LayerNorm:
		n := c.Embed
		rows := min(len(dst), len(src)) / n
		parallel.For(s.m.opts.Threads, rows, 16, func(lo, hi int) {
			for r := lo; r < hi; r++ {
				layerNorm(dst[r*n:(r+1)*n], src[r*n:(r+1)*n], w, b, c.NormEps)
			}
		})
	default:
		s.norm(dst, src, w, c.Embed)
	}
}

// layerNorm sets dst = (src - mean) / sqrt(variance + eps) * w + b as ggml computes
// it: sums in float64, the mean and scale in float32.
func layerNorm(dst, src, w, b []float32, eps float32) {
	var sum float64
	for _, v := range src {
		sum += float64(v)
	}
	mean := float32(sum) / float32(len(src))
	var sq float64
	for i, v := range src {
		d := v - mean
		dst[i] = d
		sq += float64(d * d)
	}
	scale := 1 / float32(math.Sqrt(float64(float32(sq/float64(len(src)))+eps)))
	if b == nil {
		for i := range dst {
			dst[i] = dst[i] * scale * w[i]
		}
		return
	}
	for i := range dst {
		dst[i] = dst[i]*scale*w[i] + b[i]
	}
}

// norm is rmsNorm with the model's epsilon, rows spread over the threads.
func (s *Session) norm(dst, src, w []float32, n int) {
	rows := min(len(dst), len(src)) / n
	eps := s.m.Config.NormEps
	parallel.For(s.m.opts.Threads, rows, 16, func(lo, hi int) {
		rmsNorm(dst[lo*n:hi*n], src[lo*n:hi*n], w, n, eps)
	})
}

// rmsNorm sets dst = src / rms(src) * w over rows of n values; dst may be src.
func rmsNorm(dst, src, w []float32, n int, eps float32) {
	for r := 0; r+n <= len(src) && r+n <= len(dst); r += n {
		x := src[r : r+n]
		var sum float64
		for _, v := range x {
			sum += float64(v) * float64(v)
		}
		scale := float32(1 / math.Sqrt(float64(float32(sum/float64(n))+eps)))
		y := dst[r : r+n]
		for i, v := range x {
			y[i] = v * scale * w[i%len(w)]
		}
	}
}

// scaleBy multiplies x by f (no work when f is 1).
func scaleBy(x []float32, f float32) {
	if f == 1 {
		return
	}
	for i := range x {
		x[i] *= f
	}
}

func addBias(x, b []float32, nt int) {
	if b == nil {
		return
	}
	for t := 0; t < nt; t++ {
		row := x[t*len(b) : (t+1)*len(b)]
		for i := range row {
			row[i] += b[i]
		}
	}
}

// softmax normalizes x in place.
func softmax(x []float32) {
	mx := float32(math.Inf(-1))
	for _, v := range x {
		mx = max(mx, v)
	}
	var sum float64
	for i, v := range x {
		e := float32(math.Exp(float64(v - mx)))
		x[i] = e
		sum += float64(e)
	}
	inv := float32(1 / sum)
	for i := range x {
		x[i] *= inv
	}
}
