package cli

import (
	"sync/atomic"

	"github.com/refit-ml/refit/quant/onnxq"
	"github.com/refit-ml/refit/runtime"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// countProgress shows a bar counting steps (batches, layers, epochs) with an optional
// message after it (the last loss), on a terminal only and not with --quiet.
type countProgress struct {
	p   *mpb.Progress
	bar *mpb.Bar
	msg atomic.Pointer[string]
}

func newCountProgress(e *env, label string, total int) *countProgress {
	c := &countProgress{}
	if !showProgress(e) || total <= 0 {
		return c
	}
	c.p = mpb.NewWithContext(e.ctx, mpb.WithOutput(e.stderr), mpb.WithWidth(40))
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

// done completes the bar (at whatever count it reached) and waits until it is drawn.
func (c *countProgress) done() {
	if c.bar == nil {
		return
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
