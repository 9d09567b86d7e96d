package cli

import (
	"io"

	"github.com/vbauerster/cupwriter"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// progress shows a byte-count bar on a terminal and nothing otherwise.
type progress struct {
	p     *mpb.Progress
	bar   *mpb.Bar
	label string
	total int64
}

func newProgress(e *env, label string, total int64) *progress {
	if !showProgress(e) || total <= 0 {
		return &progress{}
	}
	p := newBars(e)
	bar := p.AddBar(total,
		mpb.PrependDecorators(decor.Name(label+" "), decor.CountersKibiByte("% .1f / % .1f")),
		mpb.AppendDecorators(decor.AverageSpeed(decor.SizeB1024(0), "% .1f"), decor.Name(" "), decor.Percentage()))
	return &progress{p: p, bar: bar, label: label, total: total}
}

// newBars starts a container of bars on e's terminal.
func newBars(e *env) *mpb.Progress {
	return mpb.NewWithContext(e.ctx, mpb.WithWidth(40),
		mpb.WithConsoleWriter(sizedConsole{cupwriter.New(e.stderr, false)}))
}

// sizedConsole is a terminal that reports no size (a pseudo-terminal nobody sized, as
// under script(1) or some CI runners) taken as 80 x 24: at width 0 mpb draws nothing.
type sizedConsole struct{ mpb.ConsoleWriter }

func (c sizedConsole) GetTermSize() (int, int, error) {
	w, h, err := c.ConsoleWriter.GetTermSize()
	if err == nil && (w <= 0 || h <= 0) {
		return 80, 24, nil
	}
	return w, h, err
}

// writer counts bytes written through w into the bar.
func (p *progress) writer(w io.Writer) io.Writer {
	if p.bar == nil {
		return w
	}
	pw, err := p.bar.ProxyWriter(w)
	if err != nil {
		return w
	}
	return pw
}

func (p *progress) done() {
	if p.bar == nil {
		return
	}
	if onBarDone != nil {
		onBarDone(p.label, p.bar.Current(), p.total)
	}
	p.bar.SetTotal(-1, true)
	p.p.Wait()
}

// onBarDone, when set (by tests), sees each drawn bar as it completes: the count it
// reached and the total it started with (done shows any count as complete).
var onBarDone func(label string, count, total int64)
