package eval

import (
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/llm"
)

// DefaultContext is the chunk length when Options.Context is zero (llama.cpp's default).
const DefaultContext = 512

// Options configure Run. The zero value means defaults.
type Options struct {
	// Context is the chunk length in tokens (0: DefaultContext).
	Context int
	// Chunks limits the number of chunks (0: every whole chunk of the text).
	Chunks int
	// BOS is the id that replaces each chunk's first token, or -1 for none.
	BOS int32
	// Batch is the number of tokens run through the model at once (0: Context).
	Batch int
	// Progress, if set, is called after each chunk with the chunks done and the total.
	Progress func(done, total int)
	// Budget is charged for the logits kept per chunk (the models charge their own
	// sessions to theirs). nil means no limit.
	Budget *refit.Budget
}

// Result is what Run measured. The reference fields are zero without a reference.
type Result struct {
	Context int `json:"context"`
	Chunks  int `json:"chunks"`
	Tokens  int `json:"scored_tokens"`
	// Perplexity is exp(mean negative log-likelihood); PerplexityErr its standard
	// error as llama.cpp estimates it.
	Perplexity    float64 `json:"perplexity"`
	PerplexityErr float64 `json:"perplexity_err"`
	NLL           float64 `json:"mean_nll"`

	Reference *Comparison `json:"reference,omitempty"`
}

// Comparison holds the figures against a reference model.
type Comparison struct {
	Perplexity float64 `json:"perplexity"` // the reference model's
	// PerplexityRatio is exp(mean(nll - nll_ref)): PPL(model)/PPL(reference).
	PerplexityRatio float64 `json:"perplexity_ratio"`
	// KL divergence KL(reference || model) per scored token, in nats.
	KLMean   float64 `json:"kl_mean"`
	KLMedian float64 `json:"kl_median"`
	KL90     float64 `json:"kl_p90"`
	KL95     float64 `json:"kl_p95"`
	KL99     float64 `json:"kl_p99"`
	KLMax    float64 `json:"kl_max"`
	// Top1 is the fraction of scored positions where both models' most likely token agree.
	Top1 float64 `json:"top1_agreement"`
}

// ErrTooShort reports a text shorter than two chunks (llama.cpp refuses those too).
var ErrTooShort = fmt.Errorf("eval: text too short: %w", refit.ErrUnsupported)

// Run scores m on tokens; with ref non-nil it also compares m's predictions with
// ref's. Both models must share the vocabulary.
func Run(ctx context.Context, m, ref *llm.Model, tokens []int32, opts *Options) (*Result, error) {
	rs, err := RunMany(ctx, []*llm.Model{m}, ref, tokens, opts)
	if err != nil {
		return nil, err
	}
	return rs[0], nil
}

// RunMany scores several models on the same chunks, each compared with ref when ref
// is non-nil, running ref once per chunk rather than once per model. The results are
// those of Run for each model.
func RunMany(ctx context.Context, models []*llm.Model, ref *llm.Model, tokens []int32, opts *Options) ([]*Result, error) {
	o := Options{BOS: -1}
	if opts != nil {
		o = *opts
	}
	if o.Context == 0 {
		o.Context = DefaultContext
	}
	if o.Context < 4 {
		return nil, fmt.Errorf("eval: context of %d tokens: %w", o.Context, refit.ErrUnsupported)
	}
	if o.Batch <= 0 || o.Batch > o.Context {
		o.Batch = o.Context
	}
	if len(models) == 0 {
		return nil, nil
	}
	vocab := models[0].Config.Vocab
	for _, m := range append(slices.Clone(models), ref) {
		if m != nil && m.Config.Vocab != vocab {
			return nil, fmt.Errorf("eval: models with %d and %d tokens: %w", m.Config.Vocab, vocab, refit.ErrUnsupported)
		}
	}
	if len(tokens) < 2*o.Context {
		return nil, fmt.Errorf("%w: %d tokens, need at least %d for a context of %d", ErrTooShort, len(tokens), 2*o.Context, o.Context)
	}
	chunks := len(tokens) / o.Context
	if o.Chunks > 0 {
		chunks = min(chunks, o.Chunks)
	}
	first := o.Context / 2
	scored := o.Context - 1 - first
	var refRunner *runner
	if ref != nil {
		var err error
		if refRunner, err = newRunner(ref, o, first); err != nil {
			return nil, err
		}
		defer refRunner.close()
	}
	runners := make([]*runner, len(models))
	for i, m := range models {
		r, err := newRunner(m, o, first)
		if err != nil {
			return nil, err
		}
		defer r.close()
		runners[i] = r
	}

	sums := make([]tally, len(models))
	for c := 0; c < chunks; c++ {
		chunk := slices.Clone(tokens[c*o.Context : (c+1)*o.Context])
		if o.BOS >= 0 {
			chunk[0] = o.BOS
		}
		var refLogits []float32
		if refRunner != nil {
			var err error
			if refLogits, err = refRunner.run(ctx, chunk); err != nil {
				return nil, err
			}
		}
		for k, r := range runners {
			logits, err := r.run(ctx, chunk)
			if err != nil {
				return nil, err
			}
			sums[k].add(chunk[first+1:first+1+scored], logits, refLogits, vocab)
		}
		if o.Progress != nil {
			o.Progress(c+1, chunks)
		}
	}
	out := make([]*Result, len(models))
	for k := range sums {
		out[k] = sums[k].result(o.Context, chunks, ref != nil)
	}
	return out, nil
}

// tally accumulates one model's figures over the scored positions.
type tally struct {
	nll, nll2, refNLL, diff float64
	kls                     []float64
	top1, count             int
}

// add scores the positions whose next tokens are next, from logits (and refLogits
// when non-nil), vocab values per position.
func (t *tally) add(next []int32, logits, refLogits []float32, vocab int) {
	for i, tok := range next {
		lp := logits[i*vocab : (i+1)*vocab]
		v := -logSoftmaxAt(lp, tok)
		t.nll += v
		t.nll2 += v * v
		if refLogits != nil {
			rp := refLogits[i*vocab : (i+1)*vocab]
			rv := -logSoftmaxAt(rp, tok)
			t.refNLL += rv
			t.diff += v - rv
			kl, same := klDivergence(rp, lp)
			t.kls = append(t.kls, kl)
			if same {
				t.top1++
			}
		}
		t.count++
	}
}

func (t *tally) result(context, chunks int, withRef bool) *Result {
	r := &Result{Context: context, Chunks: chunks, Tokens: t.count}
	n := float64(t.count)
	r.NLL = t.nll / n
	r.Perplexity = math.Exp(r.NLL)
	if v := t.nll2/n - r.NLL*r.NLL; v > 0 && t.count > 1 {
		r.PerplexityErr = math.Sqrt(v/(n-1)) * r.Perplexity
	}
	if withRef {
		kls := t.kls
		slices.Sort(kls)
		var sum float64
		for _, k := range kls {
			sum += k
		}
		r.Reference = &Comparison{
			Perplexity:      math.Exp(t.refNLL / n),
			PerplexityRatio: math.Exp(t.diff / n),
			KLMean:          sum / n,
			KLMedian:        Percentile(kls, 0.5),
			KL90:            Percentile(kls, 0.9),
			KL95:            Percentile(kls, 0.95),
			KL99:            Percentile(kls, 0.99),
			KLMax:           kls[len(kls)-1],
			Top1:            float64(t.top1) / n,
		}
	}
	return r
}

// Percentile interpolates linearly between the sorted values, as llama.cpp and numpy do.
func Percentile(sorted []float64, fraction float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	if fraction <= 0 {
		return sorted[0]
	}
	if fraction >= 1 {
		return sorted[len(sorted)-1]
	}
	p := fraction * float64(len(sorted)-1)
	i := int(p)
	p -= float64(i)
	return (1-p)*sorted[i] + p*sorted[min(i+1, len(sorted)-1)]
}

// logSoftmaxAt returns log p(tok) under the distribution softmax(logits), summing in
// float64 as llama.cpp's perplexity tool does.
func logSoftmaxAt(logits []float32, tok int32) float64 {
	mx := float32(math.Inf(-1))
	for _, v := range logits {
		mx = max(mx, v)
	}
	var sum float64
	for _, v := range logits {
		sum += math.Exp(float64(v - mx))
	}
	return float64(logits[tok]-mx) - math.Log(sum)
}

// klDivergence returns KL(softmax(ref) || softmax(q)) and whether both argmaxes agree.
func klDivergence(ref, q []float32) (float64, bool) {
	rmax, qmax := float32(math.Inf(-1)), float32(math.Inf(-1))
	ri, qi := 0, 0
	for i := range ref {
		if ref[i] > rmax {
			rmax, ri = ref[i], i
		}
		if q[i] > qmax {
			qmax, qi = q[i], i
		}
	}
	var rs, qs float64
	for i := range ref {
		rs += math.Exp(float64(ref[i] - rmax))
		qs += math.Exp(float64(q[i] - qmax))
	}
	rlog, qlog := math.Log(rs), math.Log(qs)
	var kl float64
	for i := range ref {
		lr := float64(ref[i]-rmax) - rlog
		lq := float64(q[i]-qmax) - qlog
		kl += math.Exp(lr) * (lr - lq)
	}
	return max(kl, 0), ri == qi
}

// runner runs chunks through one model and keeps the scored half's logits.
type runner struct {
	s      *llm.Session
	o      Options
	first  int
	logits []float32
}

func newRunner(m *llm.Model, o Options, first int) (*runner, error) {
	n := int64(o.Context-first) * int64(m.Config.Vocab)
	if err := o.Budget.Charge(4*n, "logits"); err != nil {
		return nil, err
	}
	s, err := m.NewSession(o.Context)
	if err != nil {
		o.Budget.Release(4 * n)
		return nil, err
	}
	return &runner{s: s, o: o, first: first, logits: make([]float32, n)}, nil
}

func (r *runner) close() {
	r.s.Close()
	r.o.Budget.Release(4 * int64(len(r.logits)))
}

// run evaluates one chunk from an empty cache and returns the logits of positions
// first .. Context-1, Vocab values each.
func (r *runner) run(ctx context.Context, chunk []int32) ([]float32, error) {
	r.s.Reset()
	vocab := len(r.logits) / (len(chunk) - r.first)
	for b := 0; b < len(chunk); b += r.o.Batch {
		e := min(b+r.o.Batch, len(chunk))
		from := max(r.first, b) - b // first token of this batch with logits kept
		if from > e-b {
			from = e - b
		}
		var out []float32
		if e > r.first {
			out = r.logits[(b+from-r.first)*vocab : (e-r.first)*vocab]
		}
		if err := r.s.Forward(ctx, chunk[b:e], from, out); err != nil {
			return nil, err
		}
	}
	return r.logits, nil
}
