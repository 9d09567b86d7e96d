package cli

import (
	"fmt"
	"io"
	"sync/atomic"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/refit-ml/refit/quant/onnxq"
	"github.com/refit-ml/refit/runtime"
	"github.com/refit-ml/refit/tensor"
)

// countProgress shows a bar counting steps (batches, layers, epochs) with an optional
// message after it (the last loss), on a terminal only and not with --quiet.
type countProgress struct {
	p     *mpb.Progress
	bar   *mpb.Bar
	msg   atomic.Pointer[string]
	label string
	total int64
}

func newCountProgress(e *env, label string, total int) *countProgress {
	c := &countProgress{label: label, total: int64(total)}
	if !showProgress(e) || total <= 0 {
		return c
	}
	c.p = newBars(e)
	c.bar = c.p.AddBar(int64(total),
		mpb.PrependDecorators(decor.Name(label+" "), decor.CountersNoUnit("%d / %d")),
		mpb.AppendDecorators(decor.Percentage(), decor.Name(" "), decor.Elapsed(decor.ET_STYLE_GO),
			decor.Any(func(decor.Statistics) string {
				if m := c.msg.Load(); m != nil {
					return "  " + *m
				}
				return ""
			})))
	return c
}

// showProgress reports whether bars may be drawn: stderr is a terminal and --quiet
// was not given.
func showProgress(e *env) bool { return !e.quiet && isTerminal(e.stderr) }

// step counts one step done.
func (c *countProgress) step() {
	if c.bar != nil {
		c.bar.Increment()
	}
}

// message sets the text shown after the bar.
func (c *countProgress) message(s string) {
	if c.bar != nil {
		c.msg.Store(&s)
	}
}

// println prints a line to stderr, above the bar while c draws one (a plain write
// would tear it); c may be nil.
func (c *countProgress) println(e *env, msg string) {
	if c != nil && c.p != nil {
		fmt.Fprintln(c.p, msg)
		return
	}
	fmt.Fprintln(e.stderr, msg)
}

// done completes the bar (at whatever count it reached) and waits until it is drawn.
func (c *countProgress) done() {
	if c.bar == nil {
		return
	}
	if onBarDone != nil {
		onBarDone(c.label, c.bar.Current(), c.total)
	}
	c.bar.SetTotal(-1, true)
	c.p.Wait()
}

// countedFeed shows a bar of batches for each pass over feed (calibration can take
// several: ranges, then histograms).
func countedFeed(e *env, label string, batches int, feed onnxq.Feed) onnxq.Feed {
	if !showProgress(e) {
		return feed
	}
	return func(fn func(map[string]*runtime.Value) error) error {
		bar := newCountProgress(e, label, batches)
		defer bar.done()
		return feed(func(b map[string]*runtime.Value) error {
			defer bar.step()
			return fn(b)
		})
	}
}

// watchReads points the tensors of a model Refit re-reads to verify it at readers
// that count the bytes read into bar, so the verification of a large output shows
// progress. Data under section readers keeps its fast path: a range of a mapped file
// (tensor.Scanner) is still scanned in place.
func watchReads(ts []*tensor.Tensor, bar *progress) {
	if bar.bar == nil {
		return
	}
	for _, t := range ts {
		if t.Data == nil {
			continue
		}
		outer, off, ok := tensor.OuterRange(t.Data)
		if !ok {
			outer, off = t.Data, 0
		}
		var r io.ReaderAt = countingReaderAt{outer, bar.bar}
		if sc, ok := outer.(tensor.Scanner); ok {
			r = countingScanner{countingReaderAt{outer, bar.bar}, sc}
		}
		t.Data = io.NewSectionReader(r, off, t.Data.Size())
	}
}

type countingReaderAt struct {
	r   io.ReaderAt
	bar *mpb.Bar
}

func (c countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.bar.IncrBy(n)
	return n, err
}

// countingScanner counts the bytes a mapped file hands out in place.
type countingScanner struct {
	countingReaderAt
	sc tensor.Scanner
}

func (c countingScanner) Scan(off, n int64, fn func([]byte) error) error {
	return c.sc.Scan(off, n, func(b []byte) error {
		c.bar.IncrBy(len(b))
		return fn(b)
	})
}

// reader counts bytes read through r into the bar.
func (p *progress) reader(r io.Reader) io.Reader {
	if p.bar == nil {
		return r
	}
	pr, err := p.bar.ProxyReader(r)
	if err != nil {
		return r
	}
	return pr
}
